"""The incident's bookkeeping without a worker: alerts counted and tracked, dismissal, what phases report.

These are the pure functions the Incident workflow calls with `workflow.now()`; the lifecycle
tests cover the same paths through Temporal.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from warroom.enums import Phase, Role, Severity
from warroom.models import (
    Alert,
    ImpactSignals,
    IncidentInput,
    IncidentState,
    PhaseEvent,
    ProposedByWarroom,
    Resolve,
    SetFlags,
)
from warroom.runbook import load_runbook
from workflows import _changes as changes
from workflows import _ledger as ledger

AT = datetime(2026, 11, 28, 14, 23, 1, tzinfo=UTC)
RUNBOOK = load_runbook()


def opened(**fields: object) -> IncidentState:
    inp = IncidentInput.model_validate(
        {"incident_id": "order-api-1", "service": "order-api", "summary": "checkout 5xx", "runbook": RUNBOOK} | fields
    )
    return ledger.opened(inp, "incident-order-api-1", AT)


def alert(fingerprint: str = "f1", firing: bool = True) -> Alert:
    return Alert(fingerprint=fingerprint, summary=f"alert {fingerprint}", firing=firing)


def kinds(state: IncidentState) -> list[str]:
    return [e.kind for e in state.timeline]


def test_an_incident_declared_by_a_person_opens_declared_with_its_channel_to_be_numbered() -> None:
    state = opened(declared=True, declared_by="alice", severity=Severity.P2, commander="alice")
    assert kinds(state) == ["opened", "declared"]
    assert (state.severity, state.declared_at, state.commander) == (Severity.P2, AT, "alice")
    assert state.channel == "", "named next, from the day's channel sequence"
    assert state.timeline[1].message == "declared P2 (set by hand): declared by a person"
    ledger.name_channel(state, AT, 7)
    assert state.channel == "#incident-2026-11-28-007"


def test_an_incident_started_before_the_channel_sequence_names_its_channel_at_declaration() -> None:
    inp = IncidentInput.model_validate(
        {"incident_id": "order-api-1", "service": "order-api", "summary": "x", "runbook": RUNBOOK, "declared": True}
    )
    state = ledger.opened(inp, "incident-order-api-1", AT, revisions=())
    assert state.channel == "#incident-2026-11-28-order-api-1423"


def test_without_a_number_the_channel_is_named_by_service_and_minute_and_the_timeline_says_why() -> None:
    state = opened(declared=True, declared_by="alice")
    ledger.name_channel(state, AT, None, "ChannelSequenceClosed")
    assert state.channel == "#incident-2026-11-28-order-api-1423"
    assert state.timeline[-1].kind == "channel_unnumbered"
    assert state.timeline[-1].message == (
        "channel named #incident-2026-11-28-order-api-1423: no channel number (ChannelSequenceClosed)"
    )


def test_the_channel_number_has_three_digits_and_more_when_the_day_needs_them() -> None:
    assert ledger.channel_name(AT, 1) == "#incident-2026-11-28-001"
    assert ledger.channel_name(AT, 999) == "#incident-2026-11-28-999"
    assert ledger.channel_name(AT, 1000) == "#incident-2026-11-28-1000"


def test_an_alert_below_the_declare_criteria_leaves_the_incident_in_detection() -> None:
    state = opened(alert=alert())
    assert kinds(state) == ["opened", "alert_firing"]
    assert state.declared_at is None and state.firing_alerts == ["f1"]


def test_a_repeated_alert_is_counted_but_changes_nothing() -> None:
    state = opened()
    assert ledger.take_alert(state, alert(), AT) is False
    assert ledger.take_alert(state, alert(), AT + timedelta(seconds=30)) is True
    assert (state.alerts_received, state.alerts_repeated) == (2, 1)
    assert kinds(state) == ["opened", "alert_firing"]
    assert state.last_firing_alert_at == AT + timedelta(seconds=30)
    assert state.impact_started_at == AT


def test_a_resolved_alert_is_recorded_only_when_it_was_firing() -> None:
    state = opened()
    assert ledger.take_alert(state, alert("f2", firing=False), AT) is True
    ledger.take_alert(state, alert("f1"), AT)
    assert ledger.take_alert(state, alert("f1", firing=False), AT) is False
    assert kinds(state) == ["opened", "alert_firing", "alert_resolved"]
    assert state.firing_alerts == []


def test_an_alert_storm_is_counted_and_tracked_up_to_the_limit() -> None:
    state = opened()
    for n in range(ledger.MAX_TRACKED_ALERTS + 5):
        ledger.take_alert(state, alert(f"f{n}"), AT)
    assert len(state.firing_alerts) == ledger.MAX_TRACKED_ALERTS
    assert state.alerts_received == ledger.MAX_TRACKED_ALERTS + 5
    assert len(state.recent_alerts) == 20 and state.recent_alerts[-1].fingerprint == "f104"


def flap(state: IncidentState, times: int, start: datetime = AT, every: timedelta = timedelta(minutes=1)) -> None:
    """f1 fires and resolves in turn, `times` changes, one a minute; f2 fires once, in the middle."""
    for n in range(times):
        ledger.take_alert(state, alert("f1", firing=n % 2 == 0), start + n * every, collapse=lambda: True)
        if n == times // 2:
            ledger.take_alert(state, alert("f2"), start + n * every, collapse=lambda: True)


def test_a_flapping_alert_lists_its_first_changes_then_counts_the_rest_in_one_entry() -> None:
    state = opened()
    flap(state, 20)
    assert kinds(state) == ["opened", *["alert_firing", "alert_resolved"] * 2, "alert_flapping", "alert_firing"]
    flapping = state.timeline[5]
    assert flapping.at == AT + timedelta(minutes=4), "where the flapping began"
    assert flapping.message == "alert flapping: alert f1 (20 changes since 14:23 UTC, now resolved)"
    assert (
        flapping.data["changes"] == "20" and flapping.data["last_change_at"] == (AT + timedelta(minutes=19)).isoformat()
    )
    assert state.firing_alerts == ["f2"], "tracking is exact whatever the timeline lists"
    assert state.alerts_received == 21


def test_a_new_window_lists_changes_again_and_old_windows_are_forgotten() -> None:
    state = opened()
    flap(state, 10)  # 14:23 to 14:32
    flap(state, 10, start=AT + ledger.FLAP_WINDOW)  # 14:53: a new window
    assert kinds(state).count("alert_flapping") == 2
    assert [e.data["changes"] for e in state.timeline if e.kind == "alert_flapping"] == ["10", "10"]
    assert len(state.timeline) == 1 + 2 * (ledger.FLAP_LISTED + 1) + 1  # f2 fired once (the second, a repeat)
    ledger.take_alert(state, alert("f3"), AT + 3 * ledger.FLAP_WINDOW)
    assert set(state.flapping) == {"f3"}, "a fingerprint's window ends with it: the state stays bounded"


def test_a_day_of_flapping_is_a_bounded_timeline() -> None:
    state = opened()
    flap(state, 24 * 60)
    per_window = ledger.FLAP_LISTED + 1
    assert len(state.timeline) <= 1 + per_window * (24 * 60 // 30) + 1


def test_an_incident_recorded_before_lists_every_change() -> None:
    state = opened()
    for n in range(20):
        ledger.take_alert(state, alert("f1", firing=n % 2 == 0), AT + n * timedelta(minutes=1))
    assert kinds(state) == ["opened", *["alert_firing", "alert_resolved"] * 10]


def test_every_alert_resolving_before_anyone_declared_dismisses_the_incident() -> None:
    state = opened(alert=alert())
    changes.on_alert(state, RUNBOOK, alert(firing=False), AT)
    assert state.dismissed and kinds(state)[-1] == "dismissed"


def test_an_acknowledged_incident_is_not_dismissed() -> None:
    state = opened(alert=alert())
    state.acknowledged_at = AT
    changes.on_alert(state, RUNBOOK, alert(firing=False), AT)
    assert not state.dismissed


def test_every_change_bumps_the_version_the_phases_are_forwarded_on() -> None:
    state = opened()
    before = state.version
    changes.on_alert(state, RUNBOOK, alert(), AT)
    assert state.version > before


def test_a_phase_reports_mitigation_once() -> None:
    state = opened(declared=True, declared_by="alice", severity=Severity.P2)
    event = PhaseEvent(kind="mitigated", message="5m of clean metrics", mitigated=True)
    assert ledger.apply_phase_event(state, event, AT) is True
    assert ledger.apply_phase_event(state, event, AT + timedelta(minutes=1)) is False
    assert state.mitigated_at == AT
    assert kinds(state)[-2:] == ["mitigated", "mitigated"]


def test_warroom_proposes_a_step_once_and_an_automatic_approval_never_overrides_the_ic() -> None:
    state = opened(declared=True, declared_by="alice", severity=Severity.P2)
    proposal = ProposedByWarroom(step_id="rb1", action="rollback", target="shop/order-api")
    ledger.apply_phase_event(state, PhaseEvent(kind="step_proposed", message="rollback", propose=proposal), AT)
    ledger.apply_phase_event(state, PhaseEvent(kind="step_proposed", message="rollback", propose=proposal), AT)
    assert [s.step_id for s in state.steps] == ["rb1"]
    state.steps[0].status = "denied"
    auto = PhaseEvent(kind="step_auto_approved", message="no veto", step_id="rb1", step_status="approved")
    ledger.apply_phase_event(state, auto, AT)
    assert state.steps[0].status == "denied"


def test_flags_report_only_what_changed() -> None:
    state = opened()
    assert changes.set_flags(state, SetFlags(by="alice", data_loss=True, security=False, vendor_ticket="ZD-1")) == [
        "data_loss=yes",
        "vendor ticket ZD-1",
    ]
    assert changes.set_flags(state, SetFlags(by="alice", data_loss=True)) == []


def test_a_new_vendor_ticket_is_posted_once_the_channel_is_open() -> None:
    state = opened(declared=True, declared_by="alice", severity=Severity.P2)
    changes.set_flags(state, SetFlags(by="alice", vendor_ticket="ZD-1"))
    assert not changes.vendor_ticket_to_post(state, None)  # no channel yet: the timeline holds it
    ledger.record(state, AT, "channel_opened", "incident channel opened")
    assert changes.vendor_ticket_to_post(state, None)
    assert not changes.vendor_ticket_to_post(state, "ZD-1")  # the same reference again: said already
    changes.set_flags(state, SetFlags(by="alice", third_party_vendor=True))
    assert not changes.vendor_ticket_to_post(state, state.vendor_ticket) and state.vendor_ticket == "ZD-1"


def test_a_p1_resolution_drafts_the_customer_email_for_the_comms_lead() -> None:
    state = opened(declared=True, declared_by="alice", severity=Severity.P1, commander="alice")
    ledger.resolve(state, RUNBOOK, Resolve(by="alice", summary="rolled back"), AT)
    assert state.pir.owner == "alice" and state.roles[Role.PIR_OWNER] == "alice"
    assert state.pir.due is not None and state.pir.due > AT
    (email,) = state.steps
    assert (email.action, email.approver_role) == ("customer_email", Role.COMMUNICATIONS_LEAD)


def test_phases_are_not_woken_by_the_timeline_or_the_alert_counts() -> None:
    state = opened(alert=alert())
    view = ledger.phase_view(state)
    ledger.take_alert(state, alert(), AT + timedelta(seconds=5))
    assert ledger.phase_view(state) == view
    state.phase = Phase.COMMAND
    assert ledger.phase_view(state) != view
    assert ledger.snapshot(state).timeline == [] and state.timeline


def rule(verdict: str, deployed_at: str) -> PhaseEvent:
    return PhaseEvent(
        kind="rollback_rule",
        message=f"rollback rule {verdict}: deploy 18m ago",
        data={"deployed_at": deployed_at, "images": "order-api:v2.14.3"},
    )


def test_the_rollback_rule_that_holds_names_the_trigger() -> None:
    state = opened(declared=True, declared_by="alice", severity=Severity.P1)
    deployed = AT - timedelta(minutes=18)
    ledger.apply_phase_event(state, rule("holds", deployed.isoformat()), AT)
    assert state.trigger == "Deploy of order-api:v2.14.3 at 14:05 UTC"
    assert state.deployed_at == deployed


def test_a_rule_that_does_not_hold_or_found_no_deploy_names_nothing() -> None:
    state = opened(declared=True, declared_by="alice", severity=Severity.P1)
    ledger.apply_phase_event(state, rule("does not hold", (AT - timedelta(hours=3)).isoformat()), AT)
    ledger.apply_phase_event(state, rule("holds", "unknown"), AT)
    assert state.trigger is None


def test_the_last_action_is_the_latest_action_taken_with_its_time() -> None:
    state = opened(declared=True, declared_by="alice", severity=Severity.P1)
    ledger.record(state, AT, "diagnosis", "bad deploy → roll back")  # a finding, not an action
    assert state.last_action is None
    ledger.apply_phase_event(state, PhaseEvent(kind="rolled_back", message="rolled back to revision 3"), AT)
    assert state.last_action == "rolled back to revision 3 at 14:23 UTC"
    ledger.record(state, AT + timedelta(minutes=4), "step_denied", "step s2 (restart) denied by alice: no")
    assert state.last_action == "step s2 (restart) denied by alice: no at 14:27 UTC"


def test_the_peak_error_ratio_is_kept_while_readings_drain() -> None:
    state = opened()
    for ratio in (0.02, 0.08, 0.01):
        ledger.take_alert(state, alert().model_copy(update={"signals": ImpactSignals(error_ratio=ratio)}), AT)
    assert (state.signals.error_ratio, state.peak_error_ratio) == (0.01, 0.08)
