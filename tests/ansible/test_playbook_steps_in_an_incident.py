"""Playbook steps inside a running incident (dev server, real ansible-runner): the preview is the
playbook's `--check --diff`, the approval names it, the apply makes the change; `cancel-step`
stops a playbook that is running, and its processes with it."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from activities.ansible import AnsibleSettings, PlaybookRunner
from tests.ansible.support import EXTRA_PLAYBOOKS, processes_mentioning
from tests.helpers import Harness, assert_eventually, incident_input, running_worker, state_of
from warroom.catalog import StepCatalog
from warroom.enums import Phase, Role, Severity, Update
from warroom.models import AssignRole, CancelStep, ProposeStep, Step, StepDecision, UpdateResult
from warroom.runbook import load_runbook

pytestmark = pytest.mark.e2e

# Sleeps only for real: its preview (--check) is quick, so the cancellation meets the apply.
SLEEP_WHEN_APPLIED = """---
- name: Sleep when applied
  hosts: "{{ warroom_target }}"
  gather_facts: false
  tasks:
    - name: Long step
      ansible.builtin.command:
        argv: ["{{ ansible_playbook_python }}", "-c", "import sys, time; time.sleep(float(sys.argv[1]))", "{{ seconds }}", "{{ marker }}"]
      when: not ansible_check_mode
"""

ENTRIES = [
    {
        "name": "write-marker",
        "kind": "playbook",
        "playbook": "write_marker",
        "description": "write a harmless marker file",
        "params": [{"name": "text", "type": "enum", "choices": ["hello", "drill"]}],
    },
    {
        "name": "long-sleep",
        "kind": "playbook",
        "playbook": "sleep_when_applied",
        "description": "sleep for a while",
        "params": [{"name": "seconds", "type": "int", "min": 1, "max": 600}, {"name": "marker", "type": "name"}],
        "approval": {"default": "auto"},
        "timeout": "10m",
    },
]


@pytest.fixture
async def harness(dev_env: WorkflowEnvironment, settings: AnsibleSettings, tmp_path: Path) -> AsyncIterator[Harness]:
    playbooks = tmp_path / "playbooks"
    playbooks.mkdir()
    shutil.copy(EXTRA_PLAYBOOKS / "write_marker.yml", playbooks)
    (playbooks / "sleep_when_applied.yml").write_text(SLEEP_WHEN_APPLIED)
    runner = PlaybookRunner(settings.model_copy(update={"extra_playbook_dir": playbooks}))
    async with running_worker(dev_env.client, tmp_path / "worker", ansible=runner) as harness:
        yield harness


async def commanding(harness: Harness) -> WorkflowHandle:
    runbook = load_runbook()
    runbook = runbook.model_copy(update={"steps": StepCatalog.model_validate({"entries": ENTRIES})})
    inp = incident_input(declared=True, declared_by="alice", severity=Severity.P2, commander="alice", runbook=runbook)
    handle = await harness.start(inp)
    await handle.execute_update(Update.ASSIGN_ROLE, AssignRole(role=Role.OPERATIONS_LEAD, person="bob", by="alice"))

    async def in_command() -> None:
        assert (await state_of(handle)).phase == Phase.COMMAND

    await assert_eventually(in_command, timeout=30)
    return handle


async def step_where(handle: WorkflowHandle, step_id: str, check: Any, timeout: float = 60) -> Step:
    async def found() -> Step:
        step = next(s for s in (await state_of(handle)).steps if s.step_id == step_id)
        assert check(step), step
        return step

    return await assert_eventually(found, timeout=timeout, interval=0.25)


async def propose(handle: WorkflowHandle, step: str, **params: Any) -> str:
    result = await handle.execute_update(
        Update.PROPOSE_STEP, ProposeStep(by="bob", step=step, params=params), result_type=UpdateResult
    )
    assert result.step_id
    return result.step_id


async def test_a_playbook_step_is_previewed_with_check_diff_then_applied(harness: Harness) -> None:
    handle = await commanding(harness)
    step_id = await propose(handle, "write-marker", text="hello")
    previewed = await step_where(handle, step_id, lambda s: s.preview is not None or s.status == "failed")
    assert previewed.preview is not None, previewed.result
    assert "TASK [Write the marker file]" in previewed.preview.diff and "+hello" in previewed.preview.diff
    assert previewed.preview.would_change and "--check" in previewed.preview.request
    await handle.execute_update(
        Update.APPROVE,
        StepDecision(step_id=step_id, by="alice", reason="harmless", preview=previewed.preview_digest),
        result_type=UpdateResult,
    )
    done = await step_where(handle, step_id, lambda s: s.status in ("done", "failed"))
    assert done.status == "done", done.result
    assert done.result and done.output is not None
    state = await state_of(handle)
    [applied] = [e for e in state.timeline if e.kind == "step_done" and e.data.get("step_id") == step_id]
    assert applied.data["outcome"] == "applied"


async def test_cancel_step_stops_a_running_playbook_and_its_processes(harness: Harness) -> None:
    handle = await commanding(harness)
    marker = f"warroom-cancel-{uuid.uuid4().hex[:8]}"
    step_id = await propose(handle, "long-sleep", seconds=300, marker=marker)
    await step_where(handle, step_id, lambda s: s.status == "running")
    await assert_eventually(lambda: processes_mentioning(marker) or pytest.fail("not yet"), timeout=60)
    await handle.execute_update(
        Update.CANCEL_STEP, CancelStep(step_id=step_id, by="bob", reason="wrong host"), result_type=UpdateResult
    )
    cancelled = await step_where(handle, step_id, lambda s: s.status == "cancelled")
    assert cancelled.finished_at is not None

    def gone() -> None:
        assert processes_mentioning(marker) == []

    await assert_eventually(gone, timeout=30, interval=0.5)
    kinds = [e.kind for e in (await state_of(handle)).timeline if e.data.get("step_id") == step_id]
    assert "step_cancel" in kinds and "step_cancelled" in kinds and "step_done" not in kinds
