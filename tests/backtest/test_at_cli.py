"""`warroom audit ID --at TIME` on the dev server: an incident acknowledged, a step proposed, a
mitigation applied; each moment before and after shows that moment's state, and the incident,
closed with no worker running, still answers from its history."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from temporalio.testing import WorkflowEnvironment

from tests.helpers import assert_eventually, incident_input, running_worker, state_of
from warroom.enums import Phase, Role, Severity, Update
from warroom.models import Acknowledge, AssignRole, IncidentState, MarkMitigated
from warroom.step_models import ProposeStep

REPO = Path(__file__).resolve().parents[2]


async def warroom(env: WorkflowEnvironment, *args: str) -> tuple[int, str, str]:
    """The console script as people run it, with no worker of its own."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "warroom.cli",
        *args,
        cwd=REPO,
        env={
            **os.environ,
            "WARROOM_TEMPORAL_ADDRESS": env.client.service_client.config.target_host,
            "WARROOM_USER": "alice",
            "COLUMNS": "200",
            "PYTHONIOENCODING": "utf-8",
        },
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def at(env: WorkflowEnvironment, incident_id: str, moment: datetime) -> dict[str, Any]:
    code, out, err = await warroom(env, "audit", incident_id, "--at", moment.isoformat(), "--format", "json")
    assert code == 0, out + err
    answer: dict[str, Any] = json.loads(out)
    assert answer["rebuilt_from"] == "history" and answer["as_of"] == moment.isoformat()
    return answer


def now() -> datetime:
    return datetime.now(UTC)


async def test_each_moment_shows_its_state_and_a_closed_incident_answers_with_no_worker(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    moments: dict[str, datetime] = {}
    async with running_worker(dev_env.client, tmp_path) as harness:
        inp = incident_input(declared=True, declared_by="alice", severity=Severity.P2)
        handle = await harness.start(inp)

        async def commanding() -> None:
            assert (await state_of(handle)).phase == Phase.COMMAND

        await assert_eventually(commanding)
        moments["before ack"] = now()
        await handle.execute_update(Update.ACKNOWLEDGE, Acknowledge(by="alice", take_command=True))
        await handle.execute_update(Update.ASSIGN_ROLE, AssignRole(role=Role.OPERATIONS_LEAD, person="bob", by="alice"))
        moments["after ack"] = now()
        await asyncio.sleep(0.2)
        await handle.execute_update(Update.PROPOSE_STEP, ProposeStep(by="bob", action="custom", target="flush CDN"))
        moments["after proposal"] = now()
        await asyncio.sleep(0.2)
        await handle.execute_update(Update.MARK_MITIGATED, MarkMitigated(by="alice", action="restarted the pods"))
        moments["after mitigation"] = now()
        live = await state_of(handle)
    closed = now()
    # The worker has stopped and the incident is closed (terminated): only its history is left.

    before_ack = IncidentState.model_validate((await at(dev_env, inp.incident_id, moments["before ack"]))["state"])
    assert before_ack.roles == {} and before_ack.acknowledged_at is None and before_ack.steps == []
    assert "ack_repage" in {d.kind for d in before_ack.deadlines}

    acked = IncidentState.model_validate((await at(dev_env, inp.incident_id, moments["after ack"]))["state"])
    assert acked.roles == {Role.INCIDENT_COMMANDER: "alice", Role.OPERATIONS_LEAD: "bob"}
    assert acked.acknowledged_by == "alice" and "ack_repage" not in {d.kind for d in acked.deadlines}
    assert acked.steps == [] and acked.mitigation_applied_at is None

    proposed = IncidentState.model_validate((await at(dev_env, inp.incident_id, moments["after proposal"]))["state"])
    assert [(s.step_id, s.proposed_by, s.status) for s in proposed.steps] == [("s1", "bob", "pending")]
    assert proposed.mitigation_applied_at is None

    mitigated = IncidentState.model_validate((await at(dev_env, inp.incident_id, moments["after mitigation"]))["state"])
    assert mitigated.mitigation_action == "restarted the pods" and mitigated.mitigation_applied_at is not None
    assert [s.step_id for s in mitigated.steps] == ["s1"]

    final = IncidentState.model_validate((await at(dev_env, inp.incident_id, closed))["state"])
    assert final.roles == live.roles and final.mitigation_action == live.mitigation_action
    assert final.version >= live.version >= mitigated.version, "after the close: the last state it held"

    code, out, err = await warroom(dev_env, "audit", inp.incident_id, "--at", moments["after ack"].isoformat())
    assert code == 0, out + err
    assert f"as of {moments['after ack']:%H:%M:%S} UTC (rebuilt from history)" in out
    assert "incident_commander" in out and "alice" in out and "operations_lead" in out, out
    assert "next deadlines" in out

    started = moments["before ack"] - timedelta(hours=1)
    code, out, err = await warroom(dev_env, "audit", inp.incident_id, "--at", started.isoformat())
    assert code == 2 and "before the incident started" in err, out + err
