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
