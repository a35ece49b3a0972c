"""The PIR draft is built from the recorded incident: timeline, MTTx against targets, action items."""

from __future__ import annotations

from datetime import timedelta

from tests.helpers import utc
from warroom.enums import Role, Severity
from warroom.models import ActionItem, ImpactSignals, IncidentState, PirState, TimelineEntry
from warroom.pir_draft import pir_draft
from warroom.policy.mttx import mttx
from warroom.runbook import load_runbook

RUNBOOK = load_runbook()
T0 = utc(2026, 11, 27, 14, 7)


def incident(**changes: object) -> IncidentState:
    base = IncidentState(
        incident_id="order-api-1",
        service="order-api",
        summary="Order API 503s",
        severity=Severity.P1,
        channel="#incident-2026-11-27-order-api-1407",
        roles={Role.INCIDENT_COMMANDER: "alice"},
        signals=ImpactSignals(error_ratio=0.08),
        impact_started_at=T0 - timedelta(minutes=2),
        opened_at=T0,
        declared_at=T0 + timedelta(minutes=3),
        mitigated_at=T0 + timedelta(minutes=21),
        resolved_at=T0 + timedelta(hours=5),
        mitigation_action="rolled back to v2.14.2",
        timeline=[
            TimelineEntry(at=T0, kind="opened", message="incident opened"),
            TimelineEntry(
                at=T0 + timedelta(minutes=12), kind="status_update", actor="bob", message="update: error rate 8%"
            ),
            TimelineEntry(at=T0 + timedelta(minutes=13), kind="notification_failed", message="noise"),
        ],
        pir=PirState(owner="bob", due=T0 + timedelta(days=7)),
    )
    return base.model_copy(update=changes)


def test_mttx_compares_each_stage_with_the_runbook_target() -> None:
    rows = {r.stage: r for r in mttx(incident(), RUNBOOK)}
    assert rows["detection"].measured == timedelta(minutes=2) and rows["detection"].met is True
    assert rows["triage"].measured == timedelta(minutes=3) and rows["triage"].met is True
    assert rows["mitigation"].measured == timedelta(minutes=21) and rows["mitigation"].met is True
    assert rows["resolution"].measured == timedelta(hours=5) and rows["resolution"].met is False  # P1 target 4h


def test_p2_has_no_mitigation_target_in_the_seed() -> None:
    rows = {r.stage: r for r in mttx(incident(severity=Severity.P2), RUNBOOK)}
    assert rows["mitigation"].target is None and rows["mitigation"].met is None


def test_the_draft_has_the_review_sections_and_asks_for_action_items() -> None:
    text = pir_draft(incident(), RUNBOOK)
    for heading in (
        "## Summary",
        "## Impact",
        "## MTTx against the runbook's targets",
        "## Timeline (UTC)",
        "## Contributing factors",
        "## Action items",
    ):
        assert heading in text
    assert "| resolution | incident opened → resolved | 5h | 4h | **no** |" in text
    assert "update: error rate 8%" in text and "noise" not in text
    assert "changes nothing" in text


def test_the_draft_lists_action_items_with_owner_due_date_and_state() -> None:
    items = [
        ActionItem(
            title="canary stage in the deploy pipeline",
            owner="bob",
            due=T0 + timedelta(days=20),
            done_at=T0 + timedelta(days=10),
            done_by="bob",
        )
    ]
    text = pir_draft(incident(pir=PirState(owner="bob", due=T0 + timedelta(days=7), action_items=items)), RUNBOOK)
    assert "| 1 | canary stage in the deploy pipeline | bob | 2026-12-17 | 2026-12-07 |" in text


def test_the_draft_tells_what_the_phases_did_and_reads_signals_as_a_reviewer_would() -> None:
    phases = [
        TimelineEntry(at=T0 + timedelta(minutes=5), kind="diagnosis", message="bad deploy → roll back"),
        TimelineEntry(at=T0 + timedelta(minutes=6), kind="rollback_proposed", message="roll back deployment/order-api"),
        TimelineEntry(at=T0 + timedelta(minutes=8), kind="rolled_back", message="rolled back to revision 3"),
        TimelineEntry(at=T0 + timedelta(minutes=9), kind="rollout_status", message="rollout complete"),
        TimelineEntry(at=T0 + timedelta(minutes=9), kind="phase_completed", message="command phase: done"),
        TimelineEntry(at=T0 + timedelta(minutes=10), kind="internal_update", message="IC checklist prompt"),
    ]
    signals = ImpactSignals(error_ratio=0.013888888888888886, burn_rate=13.9, burn_sustained=timedelta(minutes=7))
    text = pir_draft(incident(timeline=phases, signals=signals), RUNBOOK)
    for message in (
        "bad deploy → roll back",
        "roll back deployment/order-api",
        "rolled back to revision 3",
        "rollout complete",
    ):
        assert message in text
    assert "command phase: done" not in text and "IC checklist prompt" not in text
    assert "Signals: error ratio = 1.39 %; burn rate = 13.9x; burn sustained = 7m." in text
    assert "0.0138" not in text


def test_a_live_incident_is_measured_so_far_and_a_stage_past_its_target_shows_it() -> None:
    live = incident(declared_at=None, mitigated_at=None, resolved_at=None)
    rows = {r.stage: r for r in mttx(live, RUNBOOK, now=T0 + timedelta(minutes=12))}
    assert rows["detection"].measured == timedelta(minutes=2) and not rows["detection"].running
    assert rows["triage"].running and rows["triage"].measured == timedelta(minutes=12)
    assert rows["triage"].met is False  # 12 min undeclared: past the 10-min target already
    assert rows["mitigation"].running and rows["mitigation"].met is None  # 12 of 30 min: not over yet
    early = {r.stage: r for r in mttx(live, RUNBOOK, now=T0 + timedelta(minutes=10))}
    assert early["triage"].met is None  # exactly at the target is not over it
    assert {r.stage: r.measured for r in mttx(live, RUNBOOK)}["triage"] is None  # no `now`: only ended stages
