"""Between mitigation and resolution: the monitoring period, its override, and the bookkeeping of a relapse.

Both sides of each boundary; the refusal's message and kind are pinned word for word (the CLI
prints the message, callers match on the kind).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from warroom.enums import Phase, Role, Severity
from warroom.models import (
    Alert,
    ChecksReport,
    IncidentState,
    PhaseEvent,
    PostMitigation,
    Resolve,
    StatusUpdate,
    Step,
)
from warroom.policy import authority
from warroom.policy.authority import Rejected
from warroom.policy.checklist import is_synthetic, monitoring_left, post_mitigation_checklist, resolve_blockers
from warroom.policy.timers import monitoring_key, pending_deadlines
from warroom.runbook import load_runbook
from workflows import _changes as changes
from workflows import _ledger as ledger

RUNBOOK = load_runbook()
AT = datetime(2026, 11, 28, 14, 0, tzinfo=UTC)
MITIGATED_AT = AT + timedelta(minutes=20)
SECOND = timedelta(seconds=1)
PERIOD = timedelta(minutes=10)


def incident(**changes: Any) -> IncidentState:
    """A declared P2 in Resolve, mitigation applied at 14:15 and verified at 14:20 by Prometheus against
    the pre-deploy baseline; alice commands; carol confirmed the checklist's two human items."""
    checks = PostMitigation(
        verified_by="metrics",
        baseline="pre-deploy baseline 0.1% (+0.1%)",
        confirmed={"synthetic_monitors_green": "carol", "no_customer_reports": "carol"},
    )
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
        checks=checks,
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


# --- The post-mitigation checklist -----------------------------------------------------------------

OPEN = incident(checks=PostMitigation(verified_by="alerts"))
"""Mitigated (by alerts only) with nothing confirmed by a person yet."""


def checklist(state: IncidentState) -> list[tuple[str, bool, str]]:
    return [(i.label, i.done, i.detail) for i in post_mitigation_checklist(state, RUNBOOK)]


def test_the_checklist_is_the_seeds_four_items_and_says_how_each_was_checked() -> None:
    assert checklist(incident(alerts_received=3)) == [
        (
            "5m of clean metrics (errors at baseline)",
            True,
            "verified by the error ratio against the pre-deploy baseline 0.1% (+0.1%), no alert firing",
        ),
        ("Synthetic monitors green", True, "confirmed by carol"),
        ("No new customer reports", True, "confirmed by carol"),
        ("All debugging paths confirmed closed", True, "no step pending"),
    ]


def test_what_people_confirm_is_open_until_someone_does() -> None:
    assert [(label, done) for label, done, _ in checklist(OPEN)] == [
        ("5m of clean metrics (errors at baseline)", True),
        ("Synthetic monitors green", False),
        ("No new customer reports", False),
        ("All debugging paths confirmed closed", True),
    ]
    assert resolve_blockers(OPEN, RUNBOOK, MITIGATED_AT + PERIOD) == [
        "Synthetic monitors green: no synthetic monitor reports to this incident: a person confirms "
        "(warroom update order-api-1 --confirm synthetic-monitors-green)",
        "No new customer reports: a person confirms (warroom update order-api-1 --confirm no-customer-reports)",
    ]


def test_how_errors_at_baseline_were_verified_is_told_as_it_was() -> None:
    def errors(**checks: Any) -> str:
        return checklist(incident(checks=PostMitigation(**checks)))[0][2]

    assert errors(verified_by="alerts") == "verified by alerts only (no metrics source answered)"
    assert errors(verified_by="alice") == "confirmed by alice (no metrics source, no alert source)"
    assert errors(verified_by="metrics", baseline="declare threshold 1.0%") == (
        "verified by the error ratio against the declare threshold 1.0%"
    )
    not_yet = incident(mitigated_at=None, checks=PostMitigation(cannot_verify=True))
    assert checklist(not_yet)[0][1:] == (
        False,
        "no metrics source and no alert source: the IC confirms "
        "(warroom update order-api-1 --confirm errors-at-baseline)",
    )
    assert checklist(incident(mitigated_at=None))[0][1:] == (False, "the clean-metrics window is still running")


SYNTHETIC = {"source": "synthetic"}


def test_alerts_labelled_as_synthetic_monitors_decide_whether_they_are_green() -> None:
    probe = Alert(fingerprint="probe-checkout", summary="checkout probe failing", labels={**SYNTHETIC, "team": "x"})
    other = Alert(fingerprint="fp-5xx", summary="5xx", labels={"source": "prometheus"})
    assert is_synthetic(probe, RUNBOOK) and not is_synthetic(other, RUNBOOK)
    state = OPEN.model_copy(deep=True)
    changes.on_alert(state, RUNBOOK, other, MITIGATED_AT)
    changes.on_alert(state, RUNBOOK, probe, MITIGATED_AT)
    assert state.checks.synthetic == ["probe-checkout"]
    assert checklist(state)[1] == ("Synthetic monitors green", False, "firing: probe-checkout")
    changes.on_alert(state, RUNBOOK, probe.model_copy(update={"firing": False}), MITIGATED_AT + SECOND)
    assert checklist(state)[1] == ("Synthetic monitors green", True, "1 synthetic monitor alert(s), none firing")


def test_a_persons_word_does_not_outvote_a_synthetic_monitor_still_firing() -> None:
    state = incident(firing_alerts=["probe-checkout"])
    state.checks.synthetic = ["probe-checkout"]
    assert checklist(state)[1][1] is False


def test_a_pending_step_is_a_debugging_path_still_open() -> None:
    def step(step_id: str, action: Any, status: Any = "pending") -> Step:
        return Step(
            step_id=step_id,
            action=action,
            target="deployment/order-api",
            proposed_by="bob",
            proposed_at=AT,
            status=status,
        )

    state = incident(steps=[step("s1", "rollback", "denied"), step("s2", "custom"), step("s3", "customer_email")])
    assert checklist(state)[3] == (
        "All debugging paths confirmed closed",
        False,
        "pending: s2 (custom deployment/order-api); the IC decides each: "
        "warroom approve|deny order-api-1 STEP --reason '...'",
    )
    state.steps[1].status = "approved"
    assert checklist(state)[3][1] is True, "decided; the customer e-mail is no debugging path"


def test_the_refusal_lists_everything_still_open() -> None:
    kind, message = refused(OPEN, Resolve(by="alice", summary="fixed"), MITIGATED_AT + PERIOD - SECOND)
    assert kind == "NotReadyToResolve"
    assert message.splitlines() == [
        "not ready to resolve:",
        "□ monitoring: 9m59s of 10m since mitigation (until 14:30:00 UTC)",
        "□ Synthetic monitors green: no synthetic monitor reports to this incident: a person confirms "
        "(warroom update order-api-1 --confirm synthetic-monitors-green)",
        "□ No new customer reports: a person confirms (warroom update order-api-1 --confirm no-customer-reports)",
        "resolve anyway with a reason: warroom resolve order-api-1 --override 'REASON' ...",
    ]
    authority.may_resolve_when_ready(
        OPEN, Resolve(by="alice", summary="fixed", override="no monitors; support saw nothing"), RUNBOOK, MITIGATED_AT
    )


def test_a_confirmation_is_recorded_by_name() -> None:
    state = OPEN.model_copy(deep=True)
    update = StatusUpdate(by="carol", confirm=["no_customer_reports", "synthetic_monitors_green"])
    assert ledger.confirm(state, update) == ["no new customer reports", "synthetic monitors green"]
    assert state.checks.confirmed == {"no_customer_reports": "carol", "synthetic_monitors_green": "carol"}
    assert ledger.confirmation_only(update) and not ledger.confirmation_only(
        update.model_copy(update={"error_rate": 1})
    )


def test_people_confirm_the_checklist_once_mitigation_is_verified() -> None:
    update = StatusUpdate(by="carol", confirm=["no_customer_reports"])
    authority.may_confirm(OPEN, update)
    with pytest.raises(Rejected) as caught:
        authority.may_confirm(OPEN.model_copy(update={"mitigated_at": None}), update)
    assert (caught.value.kind, str(caught.value)) == (
        "NotMitigated",
        "the post-mitigation checklist starts once mitigation is verified (after the clean-metrics window)",
    )


def test_after_resolution_nothing_is_confirmed() -> None:
    with pytest.raises(Rejected) as caught:
        authority.may_confirm(
            incident(resolved_at=MITIGATED_AT + PERIOD), StatusUpdate(by="carol", confirm=["no_customer_reports"])
        )
    assert (caught.value.kind, str(caught.value)) == (
        "AlreadyResolved",
        "already resolved: the post-mitigation checklist is closed",
    )
    authority.may_confirm(incident(resolved_at=MITIGATED_AT + PERIOD), StatusUpdate(by="carol", error_rate=0))


def test_errors_at_baseline_are_the_ics_to_confirm_and_only_when_warroom_asked() -> None:
    asked = OPEN.model_copy(update={"mitigated_at": None, "checks": PostMitigation(cannot_verify=True)})
    authority.may_confirm(asked, StatusUpdate(by="alice", confirm=["errors_at_baseline"]))
    with pytest.raises(Rejected) as caught:
        authority.may_confirm(asked, StatusUpdate(by="carol", confirm=["errors_at_baseline"]))
    assert caught.value.kind == "NotIncidentCommander"
    for not_asked in (OPEN.model_copy(update={"mitigated_at": None}), OPEN):
        with pytest.raises(Rejected) as caught:
            authority.may_confirm(not_asked, StatusUpdate(by="alice", confirm=["errors_at_baseline"]))
        assert caught.value.kind == "NothingToConfirm"
