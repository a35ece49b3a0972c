"""The audit trail is the history, event for event, and `verify` catches non-determinism."""

from __future__ import annotations

from pathlib import Path

from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter

from tests.broken_workflows import DeclarePhaseThatForgotTheChannel
from warroom.audit import SKIPPED, audit_rows, to_markdown, verify
from workflows.registry import WORKFLOWS

HISTORIES = Path(__file__).with_name("histories")
INCIDENT = "incident-order-api-recorded"


def recorded() -> list[WorkflowHistory]:
    names = [INCIDENT] + [f"{INCIDENT}--{p}" for p in ("declare", "command", "resolve", "retrospective")]
    return [WorkflowHistory.from_json(n, (HISTORIES / f"{n}.json").read_text()) for n in names]


async def test_every_history_event_but_task_bookkeeping_is_one_audit_row() -> None:
    histories = recorded()
    rows = await audit_rows(histories, pydantic_data_converter)
    expected = sum(1 for h in histories for e in h.events if e.event_type not in SKIPPED)
    assert len(rows) == expected
    assert [r.at for r in rows] == sorted(r.at for r in rows)


async def test_decisions_carry_who_why_and_the_caller_identity() -> None:
    rows = await audit_rows(recorded(), pydantic_data_converter)
    approvals = [
        r for r in rows if r.event == "workflow_execution_update_accepted" and r.summary.startswith("approve:")
    ]
    assert len(approvals) == 1
    assert approvals[0].actor == "alice" and "reason=deploy 20 min ago" in approvals[0].summary
    denial = [r for r in rows if r.summary.startswith("deny:")][0]
    assert denial.actor == "alice" and "not a DB issue" in denial.summary
    fired = [r for r in rows if r.summary.startswith("phase_event → ") and "escalate" in r.summary]
    assert fired, "the 30-minute escalation is in the trail"
    posted = [r for r in rows if r.event == "activity_task_completed" and "status_initial" not in r.summary]
    assert any("INVESTIGATING" in r.summary or "PAGE" in r.summary for r in posted)


async def test_markdown_has_a_row_per_event() -> None:
    rows = await audit_rows(recorded(), pydantic_data_converter)
    assert to_markdown(INCIDENT, rows).count("\n| 20") == len(rows)


async def test_the_committed_histories_verify_under_current_code() -> None:
    results = await verify(recorded())
    assert [r.ok for r in results] == [True] * 5, [r.problem for r in results if not r.ok]


async def test_verify_reports_a_non_deterministic_change() -> None:
    broken = [w for w in WORKFLOWS if w.__name__ != "DeclarePhase"] + [DeclarePhaseThatForgotTheChannel]
    declare_history = [h for h in recorded() if h.workflow_id.endswith("--declare")]
    results = await verify(declare_history, workflows=broken)
    assert not results[0].ok
    assert "nondetermin" in results[0].problem.lower() or "mismatch" in results[0].problem.lower(), results[0].problem
    assert any(e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED for e in declare_history[0].events)


async def test_catalog_steps_are_audited_with_their_parameters_and_the_preview_approved() -> None:
    name = "incident-order-api-step-catalog"
    rows = await audit_rows(
        [WorkflowHistory.from_json(name, (HISTORIES / f"{name}.json").read_text())], pydantic_data_converter
    )
    proposals = [r.summary for r in rows if r.summary.startswith("propose_step:")]
    assert any("step=page" in p and "params={'who': 'dba-on-call'}" in p for p in proposals), proposals
    [approval] = [r for r in rows if r.summary.startswith("approve:") and "step_id=s2" in r.summary]
    assert approval.actor == "alice" and "preview=" in approval.summary and "reason=need the DBA" in approval.summary
    cancel = [r for r in rows if r.summary.startswith("cancel_step:")]
    assert cancel and cancel[0].actor == "bob" and "the network is fine" in cancel[0].summary
