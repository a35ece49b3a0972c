"""Playbook steps inside a running incident (dev server, real ansible-runner): the preview is the
playbook's `--check --diff`, the approval names it, the apply makes the change; `cancel-step`
stops a playbook that is running, and its processes with it."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from activities.ansible import AnsibleSettings, PlaybookRunner
from tests.ansible.support import EXTRA_PLAYBOOKS, processes_mentioning
from tests.helpers import Harness, assert_eventually, running_worker, state_of
from tests.steps_support import approve, commanding, finished, propose, step_where, with_entries
from warroom.enums import Update
from warroom.models import CancelStep, UpdateResult

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


async def test_a_playbook_step_is_previewed_with_check_diff_then_applied(harness: Harness) -> None:
    handle = await commanding(harness, with_entries(*ENTRIES))
    step_id = await propose(handle, "write-marker", text="hello")
    previewed = await step_where(handle, step_id, lambda s: s.preview is not None or s.status == "failed", timeout=60)
    assert previewed.preview is not None, previewed.result
    assert "TASK [Write the marker file]" in previewed.preview.diff and "+hello" in previewed.preview.diff
    assert previewed.preview.would_change and "--check" in previewed.preview.request
    await approve(handle, step_id, previewed.preview_digest, "harmless")
    done = await finished(handle, step_id)
    assert done.status == "done", done.result
    assert done.result and done.output is not None
    state = await state_of(handle)
    [applied] = [e for e in state.timeline if e.kind == "step_done" and e.data.get("step_id") == step_id]
    assert applied.data["outcome"] == "applied"


async def test_cancel_step_stops_a_running_playbook_and_its_processes(harness: Harness) -> None:
    handle = await commanding(harness, with_entries(*ENTRIES))
    marker = f"warroom-cancel-{uuid.uuid4().hex[:8]}"
    step_id = await propose(handle, "long-sleep", seconds=300, marker=marker)
    await step_where(handle, step_id, lambda s: s.status == "running", timeout=60)

    def sleeping() -> None:
        assert processes_mentioning(marker), "the playbook's long task has not started"

    await assert_eventually(sleeping, timeout=60, interval=0.2)
    await handle.execute_update(
        Update.CANCEL_STEP, CancelStep(step_id=step_id, by="bob", reason="wrong host"), result_type=UpdateResult
    )
    cancelled = await step_where(handle, step_id, lambda s: s.status == "cancelled", timeout=60)
    assert cancelled.finished_at is not None

    def gone() -> None:
        assert processes_mentioning(marker) == []

    await assert_eventually(gone, timeout=30, interval=0.5)
    kinds = [e.kind for e in (await state_of(handle)).timeline if e.data.get("step_id") == step_id]
    assert "step_cancel" in kinds and "step_cancelled" in kinds and "step_done" not in kinds
