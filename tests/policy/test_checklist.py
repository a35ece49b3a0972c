"""Between mitigation and resolution: the monitoring period, its override, and the bookkeeping of a relapse.

Both sides of each boundary; the refusal's message and kind are pinned word for word (the CLI
prints the message, callers match on the kind).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from warroom.enums import Phase, Role, Severity
from warroom.models import ChecksReport, IncidentState, PhaseEvent, Resolve
from warroom.policy import authority
from warroom.policy.authority import Rejected
from warroom.policy.checklist import monitoring_left, resolve_blockers
from warroom.policy.timers import monitoring_key, pending_deadlines
from warroom.runbook import load_runbook
from workflows import _ledger as ledger

RUNBOOK = load_runbook()
AT = datetime(2026, 11, 28, 14, 0, tzinfo=UTC)
MITIGATED_AT = AT + timedelta(minutes=20)
SECOND = timedelta(seconds=1)
PERIOD = timedelta(minutes=10)


def incident(**changes: Any) -> IncidentState:
    """A declared P2 in Resolve, mitigation applied at 14:15 and verified at 14:20; alice commands."""
    state = IncidentState(
        incident_id="order-api-1",
        service="order-api",
        summary="checkout 5xx",
        opened_at=AT,
        declared_at=AT,
        severity=Severity.P2,
        phase=Phase.RESOLVE,
        roles={Role.INCIDENT_COMMANDER: "alice"},
        mitigation_applied_at=AT + timedelta(minutes=15),
        mitigation_action="rolled back",
        mitigated_at=MITIGATED_AT,
    )
    return state.model_copy(update=changes)


def refused(state: IncidentState, req: Resolve, now: datetime) -> tuple[str, str]:
    with pytest.raises(Rejected) as caught:
        authority.may_resolve_when_ready(state, req, RUNBOOK, now)
    return caught.value.kind, str(caught.value)


def test_the_default_monitoring_period_is_the_ic_scripts_10_minutes() -> None:
    assert RUNBOOK.resolve.monitoring_period == PERIOD


def test_monitoring_counts_from_verified_mitigation() -> None:
    assert monitoring_left(incident(mitigated_at=None), RUNBOOK, MITIGATED_AT) is None
    assert monitoring_left(incident(), RUNBOOK, MITIGATED_AT) == PERIOD
    assert monitoring_left(incident(), RUNBOOK, MITIGATED_AT + PERIOD - SECOND) == SECOND
    assert monitoring_left(incident(), RUNBOOK, MITIGATED_AT + PERIOD) == timedelta(0)


def test_resolving_one_second_before_the_monitoring_period_has_run_is_refused() -> None:
    assert refused(incident(), Resolve(by="alice", summary="fixed"), MITIGATED_AT + PERIOD - SECOND) == (
        "NotReadyToResolve",
        "not ready to resolve:\n"
        "□ monitoring: 9m59s of 10m since mitigation (until 14:30:00 UTC)\n"
        "resolve anyway with a reason: warroom resolve order-api-1 --override 'REASON' ...",
    )


def test_once_the_monitoring_period_has_run_the_ic_resolves() -> None:
    authority.may_resolve_when_ready(incident(), Resolve(by="alice", summary="fixed"), RUNBOOK, MITIGATED_AT + PERIOD)
    assert resolve_blockers(incident(), RUNBOOK, MITIGATED_AT + PERIOD) == []


def test_an_override_with_a_reason_resolves_before_the_monitoring_period_has_run() -> None:
    req = Resolve(by="alice", summary="fixed", override="root cause fixed and verified by the vendor")
    authority.may_resolve_when_ready(incident(), req, RUNBOOK, MITIGATED_AT + SECOND)


def test_an_override_is_a_reason_not_an_empty_word() -> None:
    with pytest.raises(ValueError, match="at least 1 character"):
        Resolve(by="alice", summary="fixed", override="  ")


def test_before_mitigation_is_verified_this_rule_leaves_the_refusal_to_may_resolve() -> None:
    authority.may_resolve_when_ready(incident(mitigated_at=None), Resolve(by="alice", summary="x"), RUNBOOK, AT)


def test_an_early_resolution_by_override_is_recorded_with_what_it_skipped() -> None:
    state = incident()
    req = Resolve(by="alice", summary="fixed", override="vendor confirmed the fix")
    ledger.resolve(state, RUNBOOK, req, MITIGATED_AT + timedelta(minutes=4))
    [entry] = state.timeline
    assert (entry.kind, entry.actor) == ("resolve_override", "alice")
    assert entry.message == (
        "resolved with monitoring: 4m of 10m since mitigation (until 14:30:00 UTC) open, "
        "by override: vendor confirmed the fix"
    )


def test_an_override_that_skipped_nothing_is_not_recorded_as_one() -> None:
    state = incident()
    ledger.resolve(state, RUNBOOK, Resolve(by="alice", summary="fixed", override="just in case"), MITIGATED_AT + PERIOD)
    assert [e.kind for e in state.timeline] == []


def test_a_relapse_reopens_mitigation_and_voids_what_was_checked() -> None:
    state = incident()
    state.checks.verified_by, state.checks.confirmed = "metrics", {"no_customer_reports": "carol"}
    state.checks.synthetic = ["probe-1"]
    event = PhaseEvent(kind="mitigation_reopened", message="relapse", checks=ChecksReport(reopen_mitigation=True))
    ledger.apply_phase_event(state, event, MITIGATED_AT + timedelta(minutes=3))
    assert (state.mitigated_at, state.mitigation_applied_at) == (None, None)
    assert ledger.mitigation_status(state) == "Investigating"
    assert (state.checks.relapses, state.checks.verified_by, state.checks.confirmed) == (1, None, {})
    assert state.checks.synthetic == ["probe-1"], "which alerts come from synthetic monitors stays known"


def test_a_relapse_reported_after_resolution_reopens_nothing() -> None:
    state = incident(resolved_at=MITIGATED_AT + PERIOD)
    event = PhaseEvent(kind="mitigation_reopened", message="relapse", checks=ChecksReport(reopen_mitigation=True))
    ledger.apply_phase_event(state, event, MITIGATED_AT + PERIOD + SECOND)
    assert state.mitigated_at == MITIGATED_AT and state.checks.relapses == 0


def test_each_mitigation_gets_its_own_monitoring_deadline() -> None:
    first = incident()
    [deadline] = [d for d in pending_deadlines(first, RUNBOOK) if d.kind == "monitoring_done"]
    assert (deadline.key, deadline.at) == ("monitoring_done", MITIGATED_AT + PERIOD)
    again = incident(mitigated_at=MITIGATED_AT + timedelta(hours=1), fired=["monitoring_done"])
    again.checks.relapses = 1
    assert monitoring_key(again) == "monitoring_done#2"
    [deadline] = [d for d in pending_deadlines(again, RUNBOOK) if d.kind == "monitoring_done"]
    assert deadline.at == MITIGATED_AT + timedelta(hours=1) + PERIOD
