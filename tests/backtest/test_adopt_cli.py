"""`warroom runbook preview` and `warroom runbook adopt`, run as people run them (subprocesses)
against the dev server, with this process running the worker."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest_asyncio
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from tests.helpers import assert_eventually, incident_input, running_worker, state_of
from warroom.enums import Phase, Severity, Update
from warroom.models import Acknowledge
from warroom.runbook import DEFAULT_RUNBOOK

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Scene:
    handle: WorkflowHandle[Any, Any]
    incident_id: str
    env: dict[str, str]
    new: Path

    async def cli(self, *args: str) -> tuple[int, str, str]:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "warroom.cli",
            *args,
            cwd=REPO,
            env=self.env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
        assert proc.returncode is not None
        return proc.returncode, out.decode(), err.decode()


def p2_escalating_after(tmp_path: Path, value: str, name: str = "runbook.new.yaml") -> Path:
    """The shipped runbook with one change: P2 escalates to the team lead after `value`, not 60m."""
    text = DEFAULT_RUNBOOK.read_text(encoding="utf-8")
    p2 = text.index("\n  P2:\n")
    changed = text[:p2] + text[p2:].replace("escalate_after: 60m", f"escalate_after: {value}", 1)
    assert changed != text
    path = tmp_path / name
    path.write_text(changed, encoding="utf-8")
    return path


@pytest_asyncio.fixture(loop_scope="session")
async def scene(dev_env: WorkflowEnvironment, tmp_path: Path) -> AsyncIterator[Scene]:
    async with running_worker(dev_env.client, tmp_path) as harness:
        handle = await harness.start(incident_input(declared=True, declared_by="alice", severity=Severity.P2))
        await handle.execute_update(Update.ACKNOWLEDGE, Acknowledge(by="alice", take_command=True))

        async def in_command() -> None:
            assert (await state_of(handle)).phase == Phase.COMMAND

        await assert_eventually(in_command)
        env = {
            **os.environ,
            "WARROOM_TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
            "WARROOM_TASK_QUEUE": harness.queue,
            "WARROOM_DATA_DIR": str(tmp_path),
            "COLUMNS": "200",
            "PYTHONIOENCODING": "utf-8",
        }
        env.pop("WARROOM_USER", None)
        yield Scene(handle, handle.id.removeprefix("incident-"), env, p2_escalating_after(tmp_path, "30m"))


async def test_preview_lists_the_moved_escalation_then_the_ic_adopts_and_nothing_is_left_to_move(
    scene: Scene,
) -> None:
    code, out, err = await scene.cli(
        "runbook", "preview", str(scene.new), "--incident", scene.incident_id, "--format", "json"
    )
    assert code == 0, err
    [incident] = json.loads(out)["incidents"]
    assert incident["incident_id"] == scene.incident_id and incident["moved"] == 1
    [escalation] = [d for d in incident["deadlines"] if d["moved"]]
    assert (escalation["kind"], escalation["difference_seconds"]) == ("escalate", -1800.0)
    code, out, err = await scene.cli("runbook", "preview", str(scene.new), "--incident", scene.incident_id)
    assert code == 0, err
    assert "1 deadline(s) move" in out and "escalate:engineering-team-lead" in out and "-30m" in out, out

    code, out, err = await scene.cli(
        "runbook", "adopt", scene.incident_id, str(scene.new), "--reason", "P2 escalates at 30m", "--as", "bob"
    )
    assert code == 1 and "only the Incident Commander (alice) may move the incident to another runbook" in err, err
    code, out, err = await scene.cli(
        "runbook", "adopt", scene.incident_id, str(scene.new), "--reason", "P2 escalates at 30m", "--as", "alice"
    )
    assert code == 0, err
    assert "runbook adopted by alice: P2 escalates at 30m; 1 deadline moved" in out

    code, out, err = await scene.cli(
        "runbook", "preview", str(scene.new), "--incident", scene.incident_id, "--format", "json"
    )
    assert code == 0 and json.loads(out)["incidents"][0]["moved"] == 0, out + err
    state = await state_of(scene.handle)
    assert [e.actor for e in state.timeline if e.kind == "runbook_adopted"] == ["alice"]


async def test_preview_without_incident_lists_the_open_ones(scene: Scene) -> None:
    async def listed() -> None:
        code, out, err = await scene.cli("runbook", "preview", str(scene.new), "--format", "json")
        assert code == 0, err
        ids = [i["incident_id"] for i in json.loads(out)["incidents"]]
        assert scene.incident_id in ids, ids

    await assert_eventually(listed, timeout=60)


async def test_an_invalid_runbook_exits_2_naming_the_field(scene: Scene, tmp_path: Path) -> None:
    bad = p2_escalating_after(tmp_path, "soon", "bad.yaml")
    for args in (["preview", str(bad)], ["adopt", scene.incident_id, str(bad), "--reason", "r", "--as", "alice"]):
        code, out, err = await scene.cli("runbook", *args)
        assert code == 2, out + err
        assert "severity_matrix.P2.escalate_after" in err and "'soon' is not a duration" in err, err
    assert "runbook_adopted" not in [e.kind for e in (await state_of(scene.handle)).timeline]
