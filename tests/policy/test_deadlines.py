"""Deadlines as a pure function of the state, at the seed's boundaries: the status page's initial
post within 5 min of declaring, its resolved notice within 1 h of resolution, and the matrix's
escalations counted from the incident's opening ("30 minutes without mitigation")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from warroom.enums import Phase, Role, Severity
from warroom.models import Deadline, IncidentState
from warroom.policy.revisions import ESCALATION_FROM_OPENING, REVISIONS, STATUS_PAGE_DEADLINES
from warroom.policy.timers import LIVE_KINDS, RETRO_KINDS, due_now, pending_deadlines
from warroom.runbook import load_runbook

RUNBOOK = load_runbook()
OPENED = datetime(2026, 11, 28, 14, 0, tzinfo=UTC)
DECLARED = OPENED + timedelta(minutes=7)


def incident(
    severity: Severity = Severity.P1, revisions: tuple[str, ...] = REVISIONS, **fields: object
) -> IncidentState:
    base: dict[str, object] = dict(
        incident_id="order-api-1",
        service="order-api",
        summary="checkout 5xx",
        severity=severity,
        phase=Phase.COMMAND,
        opened_at=OPENED,
        declared_at=DECLARED,
        acknowledged_at=OPENED,
        roles={Role.INCIDENT_COMMANDER: "alice"},
        revisions=list(revisions),
    )
    return IncidentState.model_validate(base | fields)


def of_kind(state: IncidentState, kind: str) -> list[Deadline]:
    return [d for d in pending_deadlines(state, RUNBOOK) if d.kind == kind]


# --- comms.initial_status_page_within ----------------------------------------------------------


def test_an_initial_status_page_not_posted_is_due_5_minutes_after_declaring() -> None:
    [deadline] = of_kind(incident(), "status_initial_overdue")
    assert deadline.at == DECLARED + timedelta(minutes=5)
    assert deadline.audience == ["alice"]
    assert deadline.reason == "the initial status page was not posted within 5m of declaring P1"
    assert deadline.kind in LIVE_KINDS
    planned = pending_deadlines(incident(), RUNBOOK)
    assert not [
        d
        for d in due_now(planned, DECLARED + timedelta(minutes=5) - timedelta(seconds=1), LIVE_KINDS)
        if d.kind == "status_initial_overdue"
    ]
    assert [d.kind for d in due_now(planned, DECLARED + timedelta(minutes=5), LIVE_KINDS)] == ["status_initial_overdue"]


def test_the_comms_lead_is_the_one_prompted_when_there_is_one() -> None:
    roles = {Role.INCIDENT_COMMANDER: "alice", Role.COMMUNICATIONS_LEAD: "carol"}
    assert of_kind(incident(roles=roles), "status_initial_overdue")[0].audience == ["carol"]


def test_an_initial_status_page_posted_leaves_nothing_due() -> None:
    assert of_kind(incident(last_external_update_at=DECLARED + timedelta(seconds=3)), "status_initial_overdue") == []


def test_a_p3_has_no_initial_status_page_to_post() -> None:
    assert of_kind(incident(Severity.P3), "status_initial_overdue") == []


def test_the_window_is_the_runbook_s() -> None:
    comms = RUNBOOK.comms.model_copy(update={"initial_status_page_within": timedelta(minutes=2)})
    runbook = RUNBOOK.model_copy(update={"comms": comms})
    [deadline] = [d for d in pending_deadlines(incident(), runbook) if d.kind == "status_initial_overdue"]
    assert deadline.at == DECLARED + timedelta(minutes=2)


def test_incidents_started_before_the_status_page_deadlines_have_none() -> None:
    before = tuple(r for r in REVISIONS if r != STATUS_PAGE_DEADLINES)
    assert of_kind(incident(revisions=before), "status_initial_overdue") == []
    resolved = incident(Severity.P2, before, resolved_at=DECLARED + timedelta(hours=1), phase=Phase.RETROSPECTIVE)
    assert of_kind(resolved, "resolved_notice_overdue") == []


# --- comms.resolved_notice_within --------------------------------------------------------------

RESOLVED = DECLARED + timedelta(hours=2)


def resolved(severity: Severity = Severity.P2, **fields: object) -> IncidentState:
    return incident(severity, resolved_at=RESOLVED, mitigated_at=RESOLVED - timedelta(minutes=20), **fields)


def test_a_resolved_notice_not_posted_is_due_1_hour_after_resolution() -> None:
    [deadline] = of_kind(resolved(last_external_update_at=RESOLVED - timedelta(minutes=30)), "resolved_notice_overdue")
    assert deadline.at == RESOLVED + timedelta(hours=1)
    assert deadline.reason == "the resolved notice was not posted to the status page within 1h of resolution"
    assert deadline.kind in RETRO_KINDS


def test_a_public_post_at_or_after_resolution_is_the_notice() -> None:
    assert of_kind(resolved(last_external_update_at=RESOLVED), "resolved_notice_overdue") == []
    assert of_kind(resolved(last_external_update_at=RESOLVED + timedelta(seconds=2)), "resolved_notice_overdue") == []


def test_a_p3_owes_a_resolved_notice_only_where_something_was_said_publicly() -> None:
    assert of_kind(resolved(Severity.P3), "resolved_notice_overdue") == []
    said = resolved(Severity.P3, last_external_update_at=RESOLVED - timedelta(minutes=40))
    assert [d.at for d in of_kind(said, "resolved_notice_overdue")] == [RESOLVED + timedelta(hours=1)]


# --- the escalation clock ----------------------------------------------------------------------


def test_the_matrix_escalation_counts_from_the_opening_not_the_declaration() -> None:
    """P1 opened 14:00, declared 14:07: "30 minutes without mitigation" is 14:30, the VP's 60 is 15:00."""
    planned = {d.kind: d.at for d in pending_deadlines(incident(), RUNBOOK)}
    assert planned["escalate"] == OPENED + timedelta(minutes=30)
    assert planned["vp_notice"] == OPENED + timedelta(minutes=60)
    due = due_now(
        pending_deadlines(incident(), RUNBOOK), OPENED + timedelta(minutes=30) - timedelta(seconds=1), LIVE_KINDS
    )
    assert "escalate" not in [d.kind for d in due]
    due = due_now(pending_deadlines(incident(), RUNBOOK), OPENED + timedelta(minutes=30), LIVE_KINDS)
    assert "escalate" in [d.kind for d in due]


def test_p3_s_4_hours_without_resolution_count_from_the_opening_too() -> None:
    [deadline] = of_kind(incident(Severity.P3), "escalate")
    assert deadline.at == OPENED + timedelta(hours=4)


def test_a_declaration_later_than_the_threshold_escalates_at_once() -> None:
    late = incident(declared_at=OPENED + timedelta(minutes=45))
    due = due_now(pending_deadlines(late, RUNBOOK), OPENED + timedelta(minutes=45), LIVE_KINDS)
    assert [d.kind for d in due if d.kind == "escalate"] == ["escalate"]


def test_incidents_started_before_keep_the_clock_from_the_declaration() -> None:
    before = tuple(r for r in REVISIONS if r != ESCALATION_FROM_OPENING)
    planned = {d.kind: d.at for d in pending_deadlines(incident(revisions=before), RUNBOOK)}
    assert planned["escalate"] == DECLARED + timedelta(minutes=30)
    assert planned["vp_notice"] == DECLARED + timedelta(minutes=60)
