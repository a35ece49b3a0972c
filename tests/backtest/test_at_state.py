"""`state_at` rebuilds what the incident knew at a moment by replaying its committed history."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory

from warroom.audit_at import NotRebuilt, moment, snapshot_at, started_at, state_at
from warroom.enums import Phase, Role, Severity
from warroom.errors import BadInput

HISTORIES = Path(__file__).parents[1] / "histories"
INCIDENT = "incident-order-api-recorded"


def recorded() -> list[WorkflowHistory]:
    names = [INCIDENT] + [f"{INCIDENT}--{p}" for p in ("declare", "command", "resolve", "retrospective")]
    return [WorkflowHistory.from_json(n, (HISTORIES / f"{n}.json").read_text()) for n in names]


async def test_each_moment_shows_the_roles_steps_and_deadlines_of_that_moment() -> None:
    histories = recorded()
    start = started_at(histories)

    opened = await state_at(histories, start)
    assert (opened.phase, opened.severity) == (Phase.DECLARE, Severity.P1)
    assert opened.roles == {Role.INCIDENT_COMMANDER: "alice"} and opened.steps == []
    assert "ack_repage" in {d.kind for d in opened.deadlines}

    staffed = await state_at(histories, start + timedelta(minutes=10))
    assert staffed.phase == Phase.COMMAND and staffed.roles[Role.OPERATIONS_LEAD] == "bob"
    assert staffed.steps == [] and "ack_repage" not in {d.kind for d in staffed.deadlines}
    assert all(d.at >= start for d in staffed.deadlines)

    decided = await state_at(histories, start + timedelta(minutes=20))
    assert [(s.step_id, s.status) for s in decided.steps] == [("s1", "approved"), ("s2", "denied")]
    assert "escalate" in {d.kind for d in decided.deadlines}, "the 30-minute escalation is still ahead"
    assert len(decided.timeline) > len(staffed.timeline) > len(opened.timeline)
    assert all(entry.at <= start + timedelta(minutes=20) for entry in decided.timeline)


async def test_after_the_close_is_the_final_state_with_nothing_pending() -> None:
    histories = recorded()
    final = await snapshot_at(histories, started_at(histories) + timedelta(days=3))
    assert final.state.phase == Phase.CLOSED and final.state.closed_at is not None
    assert final.state.deadlines == [] and final.state.roles[Role.PIR_OWNER] == "bob"
    assert final.runbook.severity_matrix[Severity.P1].escalate_after > timedelta(0)


async def test_before_the_start_is_a_clear_error() -> None:
    histories = recorded()
    with pytest.raises(BadInput, match="before the incident started"):
        await state_at(histories, started_at(histories) - timedelta(seconds=1))


def test_at_reads_a_clock_time_on_the_start_day_a_time_after_the_start_or_an_iso_time() -> None:
    start = datetime(2026, 11, 28, 14, 7, 44, tzinfo=UTC)
    assert moment("14:32", start) == datetime(2026, 11, 28, 14, 32, tzinfo=UTC)
    assert moment("14:32:10", start) == datetime(2026, 11, 28, 14, 32, 10, tzinfo=UTC)
    assert moment("20m", start) == start + timedelta(minutes=20)
    assert moment("2026-11-28T15:00:00Z", start) == datetime(2026, 11, 28, 15, tzinfo=UTC)
    assert moment("2026-11-28T15:00:00", start) == datetime(2026, 11, 28, 15, tzinfo=UTC)
    for bad in ("25:00", "soon", "14h32x"):
        with pytest.raises(BadInput, match="--at"):
            moment(bad, start)


async def test_a_history_the_current_code_does_not_replay_is_not_rebuilt() -> None:
    histories = recorded()
    incident = histories[0]
    tampered = [
        e for e in incident.events if e.event_type != EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED
    ]
    assert len(tampered) < len(incident.events)
    with pytest.raises(NotRebuilt, match="does not replay under the current code"):
        await state_at(
            [WorkflowHistory(incident.workflow_id, tampered), *histories[1:]],
            started_at(histories) + timedelta(hours=3),
        )


def test_at_prints_a_state_so_it_refuses_markdown_and_verify_before_connecting() -> None:
    env = {**os.environ, "WARROOM_TEMPORAL_ADDRESS": "127.0.0.1:9", "PYTHONIOENCODING": "utf-8"}
    for extra in (["--format", "md"], ["--verify"]):
        ran = subprocess.run(
            [sys.executable, "-m", "warroom.cli", "audit", "order-api-1", "--at", "14:32", *extra],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert ran.returncode == 2 and "does not combine with --format md or --verify" in ran.stderr, ran.stderr
