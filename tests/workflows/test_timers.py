"""Every runbook threshold under time skipping: 15 s before it nothing; 15 s after it, exactly one.

The margins are 15 s, not 1: the time-skipping server's clock also runs at real speed while the
test checks the sink, and on a loaded machine a check took more than a second (a 1-s margin failed)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.helpers import (
    MINUTE,
    SECOND,
    Scene,
    assert_eventually,
    incident_input,
    mitigate,
    running_worker,
    state_of,
)
from warroom.enums import Phase, Severity, Update
from warroom.models import Acknowledge, Alert, ImpactSignals, MarkMitigated, SetSeverity, StatusUpdate


@pytest.fixture
async def scene_factory(skipping_env: WorkflowEnvironment, tmp_path: Path) -> AsyncIterator:
    async with running_worker(skipping_env.client, tmp_path) as harness:
        sink = harness.sink

        async def make(acknowledged: bool = True, **fields) -> Scene:
            handle = await harness.start(incident_input(**fields))
            if acknowledged:
                await handle.execute_update(Update.ACKNOWLEDGE, Acknowledge(by="alice", take_command=True))
            scene = Scene(skipping_env, sink, handle)
            if fields.get("declared"):
                await scene.phase_is(Phase.COMMAND)
            return scene

        yield make


MARGIN = 15 * SECOND
"""How far before and after a threshold the tests look."""


def declared(severity: Severity, **signals: bool) -> dict:
    return dict(declared=True, declared_by="alice", severity=severity, signals=ImpactSignals(**signals))


async def test_unacknowledged_page_is_repaged_at_5_minutes_and_escalated_at_15(scene_factory) -> None:
    quiet = Alert(fingerprint="fp-1", summary="error ratio 0.5%", signals=ImpactSignals(user_error_ratio=0.005))
    scene = await scene_factory(acknowledged=False, alert=quiet, on_call="oncall-bob")
    await scene.phase_is(Phase.DETECTION)
    await scene.advance(5 * MINUTE - MARGIN)
    await scene.expect_count("repage", 0)
    await scene.advance(2 * MARGIN)
    await scene.expect_count("repage", 1)
    assert scene.sink.sent[-1][2] == ["oncall-bob"]
    await scene.advance(10 * MINUTE - 2 * MARGIN)  # 15 min - 15 s
    await scene.expect_count("escalation", 0)
    await scene.advance(2 * MARGIN)
    await scene.expect_count("escalation", 1)
    assert (await state_of(scene.handle)).escalated_to == ["engineering-team-lead"]


@pytest.mark.parametrize(
    ("severity", "threshold"), [(Severity.P1, 30 * MINUTE), (Severity.P2, 60 * MINUTE), (Severity.P3, 4 * 60 * MINUTE)]
)
async def test_matrix_escalates_to_the_team_lead_at_its_threshold(scene_factory, severity, threshold) -> None:
    scene = await scene_factory(**declared(severity))
    await scene.advance(threshold - MARGIN)
    await scene.expect_count("escalation", 0)
    await scene.advance(2 * MARGIN)
    await scene.expect_count("escalation", 1)
    state = await state_of(scene.handle)
    assert "engineering-team-lead" in state.escalated_to
    assert [e for e in state.timeline if e.kind == "escalate"][0].data["audience"] == "engineering-team-lead"


async def test_p1_notifies_the_vp_at_60_minutes_without_mitigation(scene_factory) -> None:
    scene = await scene_factory(**declared(Severity.P1))
    await scene.advance(60 * MINUTE - MARGIN)
    await scene.expect_count("vp_notice", 0)
    await scene.advance(2 * MARGIN)
    await scene.expect_count("vp_notice", 1)
    assert "vp-engineering" in (await state_of(scene.handle)).escalated_to


async def test_p2_never_notifies_the_vp(scene_factory) -> None:
    scene = await scene_factory(**declared(Severity.P2))
    await scene.advance(61 * MINUTE)
    await scene.expect_count("escalation", 1)
    assert scene.sink.count("vp_notice") == 0


async def test_upgrade_from_p2_to_p1_replans_the_escalation(scene_factory) -> None:
    scene = await scene_factory(**declared(Severity.P2))
    await scene.advance(20 * MINUTE)
    await scene.handle.execute_update(
        Update.SET_SEVERITY, SetSeverity(severity=Severity.P1, by="alice", reason="outage spreads")
    )
    await scene.advance(10 * MINUTE - MARGIN)  # P1 escalates 30 min after declaring
    await scene.expect_count("escalation", 0)
    await scene.advance(2 * MARGIN)
    await scene.expect_count("escalation", 1)
    await scene.advance(30 * MINUTE)
    await scene.expect_count("vp_notice", 1)
    await scene.expect_count("escalation", 1)


async def test_mitigation_stops_the_escalation(scene_factory) -> None:
    scene = await scene_factory(**declared(Severity.P1))
    await scene.advance(10 * MINUTE)
    # No metrics source and no alert source: the IC's confirmation verifies it (tests/workflows/test_resolve.py).
    await mitigate(scene.env, scene.handle, action="feature flag off")
    await scene.advance(60 * MINUTE)
    assert scene.sink.count("escalation") == 0 and scene.sink.count("vp_notice") == 0


async def _mitigated(scene: Scene) -> None:
    assert (await state_of(scene.handle)).mitigated_at is not None


async def test_ic_is_prompted_every_15_minutes_and_an_update_moves_the_prompt(scene_factory) -> None:
    scene = await scene_factory(**declared(Severity.P3))
    await scene.advance(15 * MINUTE - MARGIN)
    await scene.expect_count("ic_checklist", 0)
    await scene.advance(2 * MARGIN)
    await scene.expect_count("ic_checklist", 1)
    await scene.advance(MINUTE)  # minute 16¼: the IC posts
    await scene.handle.execute_update(
        Update.POST_UPDATE,
        StatusUpdate(
            by="alice", error_rate=8, hypothesis="pool leak", next_action="roll back", owner="bob", eta="14:40"
        ),
    )
    await scene.expect_count("internal_update", 1)
    await scene.advance(15 * MINUTE - MARGIN)  # minute 31¼ - 15 s: not yet (was 30 before the update)
    await scene.expect_count("ic_checklist", 1)
    await scene.advance(2 * MARGIN)
    await scene.expect_count("ic_checklist", 2)


async def test_status_page_silence_posts_still_investigating_at_30_minutes(scene_factory) -> None:
    scene = await scene_factory(**declared(Severity.P2))
    await scene.expect_count("status_initial", 1)
    await scene.advance(25 * MINUTE + SECOND)
    await scene.expect_count("external_update_due", 1)
    await scene.advance(5 * MINUTE - SECOND - MARGIN)  # 30 min - 15 s
    await scene.expect_count("still_investigating", 0)
    await scene.advance(2 * MARGIN)
    await scene.expect_count("still_investigating", 1)
    await scene.advance(30 * MINUTE + SECOND)
    await scene.expect_count("still_investigating", 2)


async def test_p3_has_no_status_page_cadence(scene_factory) -> None:
    scene = await scene_factory(**declared(Severity.P3))
    await scene.advance(31 * MINUTE)
    await scene.expect_count("ic_checklist", 2)
    assert scene.sink.count("still_investigating") == 0 and scene.sink.count("status_initial") == 0


async def test_clean_window_needs_5_minutes_and_a_relapse_restarts_it(scene_factory) -> None:
    alert = Alert(fingerprint="fp-err", summary="errors > 1%", signals=ImpactSignals(user_error_ratio=0.05))
    scene = await scene_factory(**declared(Severity.P2), alert=alert)
    await scene.handle.signal("alert", alert.model_copy(update={"firing": False}))
    await scene.handle.execute_update(Update.MARK_MITIGATED, MarkMitigated(by="alice", action="rolled back"))
    await scene.advance(3 * MINUTE)
    await scene.handle.signal("alert", alert)  # relapse at minute 3
    await scene.handle.signal("alert", alert.model_copy(update={"firing": False}))
    await scene.advance(5 * MINUTE - MARGIN)  # minute 8 - 15 s: the relapse started the window again
    state = await state_of(scene.handle)
    assert state.mitigated_at is None
    await scene.advance(2 * MARGIN)
    await assert_eventually(lambda: _mitigated(scene))
    state = await state_of(scene.handle)
    assert state.mitigated_at - state.mitigation_applied_at >= 8 * MINUTE - SECOND
    relapse = [e for e in state.timeline if e.kind == "relapse"]
    assert len(relapse) == 1 and "engineering-team-lead" in state.escalated_to
    assert [m for m in scene.sink.sent if m[1] == "escalation" and "relapse" in m[3]]


async def test_data_loss_notifies_em_legal_and_executives_at_once_and_skips_the_matrix(scene_factory) -> None:
    scene = await scene_factory(**declared(Severity.P1, data_loss=True))
    await scene.expect_count("stakeholder_notice", 3)
    audiences = [a for channel, t, a, _ in scene.sink.sent if t == "stakeholder_notice"]
    # EM + legal/privacy and the executives at once; the P1 row's product manager too (EM not twice).
    assert audiences == [["engineering-manager", "legal-privacy"], ["executive-team"], ["product-manager"]]
    await scene.advance(61 * MINUTE)
    await scene.expect_count("ic_checklist", 4)
    assert scene.sink.count("escalation") == 0 and scene.sink.count("vp_notice") == 0


async def test_security_incident_is_handed_off_and_kept_off_public_channels(scene_factory) -> None:
    scene = await scene_factory(**declared(Severity.P1, security=True))
    await scene.expect_count("security_handoff", 1)
    await scene.expect_count("status_initial", 1)
    public = [text for channel, _, _, text in scene.sink.sent if channel == "status_page"]
    assert public and all("Order Api" not in text and "503" not in text for text in public)


async def test_an_alert_above_the_declare_criteria_declares_by_itself(scene_factory) -> None:
    loud = Alert(
        fingerprint="fp-2",
        summary="12% of requests failing",
        signals=ImpactSignals(user_error_ratio=0.12, error_ratio=0.12),
    )
    scene = await scene_factory(acknowledged=False, alert=loud)
    await scene.phase_is(Phase.COMMAND)
    state = await state_of(scene.handle)
    assert state.severity == Severity.P1 and state.declared_at is not None
    assert any(e.kind == "declared" and e.actor == "warroom" for e in state.timeline)


async def test_an_alert_that_resolves_before_declaring_closes_the_incident(scene_factory) -> None:
    quiet = Alert(fingerprint="fp-3", summary="blip", signals=ImpactSignals(user_error_ratio=0.002))
    scene = await scene_factory(acknowledged=False, alert=quiet)
    await scene.handle.signal("alert", quiet.model_copy(update={"firing": False}))
    final = await scene.handle.result()
    assert final.phase == Phase.CLOSED and final.declared_at is None
