"""A long incident: a P1 mitigated but past its resolution target pages the IC; an incident open
4 hours (and every 4 hours after) posts the on-call handoff brief. Both sides of each boundary."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from warroom.enums import Phase, Role, Severity
from warroom.models import IncidentState, Step
from warroom.policy.handoff import handoff_facts
from warroom.policy.timers import LATE_KINDS, due_now, pending_deadlines
from warroom.runbook import load_runbook

RUNBOOK = load_runbook()
OPENED = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)
FOUR_HOURS = timedelta(hours=4)


def incident(**changes: Any) -> IncidentState:
    """A P1 opened and declared at 10:00, mitigated at 10:40; alice commands."""
    state = IncidentState(
        incident_id="order-api-1",
        service="order-api",
        summary="Order API returning 503s",
        opened_at=OPENED,
        declared_at=OPENED,
        severity=Severity.P1,
        phase=Phase.RESOLVE,
        roles={Role.INCIDENT_COMMANDER: "alice", Role.OPERATIONS_LEAD: "bob"},
        mitigation_applied_at=OPENED + timedelta(minutes=35),
        mitigation_action="rolled back to v2.14.2",
        mitigated_at=OPENED + timedelta(minutes=40),
    )
    return state.model_copy(update=changes)


def due(state: IncidentState, at: datetime, kind: str) -> list[str]:
    return [d.key for d in due_now(pending_deadlines(state, RUNBOOK), at, LATE_KINDS) if d.kind == kind]


def test_the_resolution_targets_and_the_handoff_span_are_the_seeds() -> None:
    assert RUNBOOK.mttr_targets.resolution == {Severity.P1: FOUR_HOURS}
    assert RUNBOOK.resolve.handoff_brief_every == FOUR_HOURS


def test_a_p1_mitigated_but_not_resolved_at_4_hours_pages_the_ic() -> None:
    state = incident()
    assert due(state, OPENED + FOUR_HOURS - SECOND, "resolution_overdue") == []
    assert due(state, OPENED + FOUR_HOURS, "resolution_overdue") == ["resolution_overdue"]
    [deadline] = [d for d in pending_deadlines(state, RUNBOOK) if d.kind == "resolution_overdue"]
    assert deadline.audience == ["alice"]
    assert deadline.reason == "P1 mitigated but not resolved within the 4h resolution target"


def test_no_resolution_page_before_mitigation_after_resolution_or_without_a_target() -> None:
    late = OPENED + FOUR_HOURS + SECOND
    assert due(incident(mitigated_at=None), late, "resolution_overdue") == [], "the escalations cover it"
    assert due(incident(resolved_at=late - SECOND), late, "resolution_overdue") == []
    assert due(incident(severity=Severity.P2), late, "resolution_overdue") == [], "the matrix sets none for P2"
    assert due(incident(fired=["resolution_overdue"]), late, "resolution_overdue") == [], "once"


def test_a_mitigation_that_comes_after_the_target_pages_at_once() -> None:
    state = incident(mitigated_at=OPENED + timedelta(hours=5))
    assert due(state, OPENED + timedelta(hours=5), "resolution_overdue") == ["resolution_overdue"]


def test_the_handoff_brief_comes_at_4_hours_open_and_every_4_hours_after() -> None:
    state = incident(mitigated_at=None, severity=Severity.P3)
    assert due(state, OPENED + FOUR_HOURS - SECOND, "handoff_brief") == []
    [first] = due(state, OPENED + FOUR_HOURS, "handoff_brief")
    state.fired.append(first)
    assert due(state, OPENED + 2 * FOUR_HOURS - SECOND, "handoff_brief") == []
    [second] = due(state, OPENED + 2 * FOUR_HOURS, "handoff_brief")
    assert first != second
    assert due(incident(resolved_at=OPENED + FOUR_HOURS), OPENED + FOUR_HOURS, "handoff_brief") == []
    assert due(incident(declared_at=None, severity=None), OPENED + FOUR_HOURS, "handoff_brief") == []


def test_the_brief_summarizes_the_current_state() -> None:
    step = Step(
        step_id="s2", action="custom", target="redis", proposed_by="bob", proposed_at=OPENED + timedelta(minutes=50)
    )
    state = incident(
        firing_alerts=["fp-latency"],
        escalated_to=["engineering-team-lead"],
        last_internal_update_at=OPENED + timedelta(hours=3, minutes=50),
        impact_started_at=OPENED - timedelta(minutes=6),
        steps=[step],
    )
    facts = handoff_facts(state, RUNBOOK, OPENED + FOUR_HOURS)
    assert facts["status"] == "mitigated at 10:40 UTC (rolled back to v2.14.2)"
    assert (facts["started"], facts["last_update"]) == ("09:54 UTC", "13:50 UTC")
    assert (facts["firing"], facts["pending"], facts["escalated"]) == (
        ["fp-latency"],
        ["s2 (custom redis)"],
        ["engineering-team-lead"],
    )
    assert facts["still_open"] == [
        "Synthetic monitors green: no synthetic monitor reports to this incident: a person confirms "
        "(warroom update order-api-1 --confirm synthetic-monitors-green)",
        "No new customer reports: a person confirms (warroom update order-api-1 --confirm no-customer-reports)",
        "All debugging paths confirmed closed: pending: s2 (custom redis); the IC decides each: "
        "warroom approve|deny order-api-1 STEP --reason '...'",
    ]
    assert facts["coming"][0].startswith("internal update at ")
    relapsed = incident(mitigated_at=None, mitigation_applied_at=None)
    relapsed.checks.relapses = 2
    assert handoff_facts(relapsed, RUNBOOK, OPENED + FOUR_HOURS)["status"] == (
        "investigating, 2 relapse(s) after mitigation"
    )
