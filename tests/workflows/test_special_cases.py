"""Special cases raised mid-incident, severity changes and the public status, under time skipping.

Raising data loss or security once the incident runs must do what declaring with it does; a
severity change re-runs the start actions; the status page never goes back to "investigating".
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from tests.helpers import (
    MINUTE,
    SECOND,
    assert_eventually,
    incident_input,
    mitigate,
    not_yet,
    resolve_when_ready,
    running_worker,
    state_of,
    utc,
)
from tests.helpers import (
    Scene as TimerScene,
)
from warroom.enums import Phase, PublicStatus, Role, Severity, Update
from warroom.messages import public_context
from warroom.models import (
    Acknowledge,
    Alert,
    AssignRole,
    ImpactSignals,
    IncidentState,
    MarkMitigated,
    Resolve,
    SetFlags,
    SetSeverity,
    StatusUpdate,
    UpdateResult,
)
from warroom.runbook import load_runbook
from warroom.templates import render

EXECUTIVES = ["executive-team"]


def utc_now() -> datetime:
    return utc(2026, 11, 27, 14, 23)


EM_LEGAL = ["engineering-manager", "legal-privacy"]


class Scene(TimerScene):
    """One declared incident under a fresh worker, with the clock under the test's control."""

    def audiences(self, template: str) -> list[list[str]]:
        return [audience for _, t, audience, _ in self.sink.sent if t == template]

    def texts(self, channel: str) -> list[str]:
        return [text for c, _, _, text in self.sink.sent if c == channel]

    async def state(self) -> IncidentState:
        return await state_of(self.handle)

    async def settled(self, check: Callable[[IncidentState], object]) -> IncidentState:
        """The state once `check` passes on it: a phase reports what it sent just after sending it."""

        async def attempt() -> IncidentState:
            state = await self.state()
            check(state)
            return state

        return await assert_eventually(attempt)

    async def flags(self, **flags: bool | str) -> None:
        await self.handle.execute_update(Update.SET_FLAGS, SetFlags(by="alice", **flags))

    async def mitigate(self) -> None:
        await self.handle.execute_update(Update.MARK_MITIGATED, MarkMitigated(by="alice", action="rolled back"))

    async def severity(self, severity: Severity) -> None:
        await self.handle.execute_update(
            Update.SET_SEVERITY, SetSeverity(severity=severity, by="alice", reason="impact changed")
        )

    async def resolve(self) -> None:
        await mitigate(self.env, self.handle, action="rolled back")
        await resolve_when_ready(self.env, self.handle, Resolve(by="alice", summary="bad deploy rolled back"))

    async def post_public(self, status: PublicStatus) -> None:
        update = StatusUpdate(by="alice", public_status=status, public_message=f"now {status.value}")
        await self.handle.execute_update(Update.POST_UPDATE, update)

    async def alert(self, **signals: bool) -> None:
        await self.handle.signal(
            "alert", Alert(fingerprint="fp-late", summary="late finding", signals=ImpactSignals(**signals))
        )


@pytest.fixture
async def scene(skipping_env: WorkflowEnvironment, tmp_path: Path) -> AsyncIterator:
    async with running_worker(skipping_env.client, tmp_path) as harness:

        async def make(severity: Severity = Severity.P2, **signals: bool) -> Scene:
            inp = incident_input(
                declared=True, declared_by="alice", severity=severity, signals=ImpactSignals(**signals)
            )
            handle = await harness.start(inp)
            await handle.execute_update(Update.ACKNOWLEDGE, Acknowledge(by="alice", take_command=True))
            made = Scene(skipping_env, harness.sink, handle)

            async def in_command() -> None:
                assert (await made.state()).phase == Phase.COMMAND

            await assert_eventually(in_command)
            return made

        yield make


# --- Item 1: special cases raised mid-incident ------------------------------------------------------


@pytest.mark.parametrize("how", ["flags", "alert"])
async def test_data_loss_raised_mid_incident_notifies_em_legal_and_executives_at_once(scene, how) -> None:
    s = await scene(Severity.P2)
    await s.expect_count("stakeholder_notice", 1)  # the P2 row's engineering manager, at declaration
    await s.advance(10 * MINUTE)
    await (s.flags(data_loss=True) if how == "flags" else s.alert(data_loss=True))
    await s.expect_count("stakeholder_notice", 3)
    assert s.audiences("stakeholder_notice") == [["engineering-manager"], EM_LEGAL, EXECUTIVES]

    def told(state: IncidentState) -> None:
        assert state.raised_mid_incident == ["data_loss"]
        assert {"engineering-manager", "legal-privacy", "executive-team"} <= set(state.escalated_to)
        notices = [e for e in state.timeline if e.kind == "data_loss_notice"]
        assert [e.data["audience"] for e in notices] == [", ".join(EM_LEGAL), "executive-team"]
        assert all("raised mid-incident" in e.message for e in notices)

    await s.settled(told)
    # Sent once: the flag raised again, by a person or another alert, owes nothing more.
    await s.flags(data_loss=True)
    await s.alert(data_loss=True)
    await s.advance(MINUTE)
    assert s.sink.count("stakeholder_notice") == 3


async def test_data_loss_raised_mid_incident_keeps_the_team_lead_escalation(scene) -> None:
    s = await scene(Severity.P2)
    await s.advance(10 * MINUTE)
    await s.flags(data_loss=True)
    await s.expect_count("stakeholder_notice", 3)
    await s.advance(50 * MINUTE - 2 * SECOND)  # the P2 row: 60 min without mitigation
    await s.expect_count("escalation", 0)
    await s.advance(3 * SECOND)
    await s.expect_count("escalation", 1)
    assert s.audiences("escalation") == [["engineering-team-lead"]]


async def test_data_loss_raised_mid_incident_keeps_the_p1_vp_notice(scene) -> None:
    s = await scene(Severity.P1)
    await s.advance(5 * MINUTE)
    await s.flags(data_loss=True)
    await s.expect_count("stakeholder_notice", 3)  # at start EM + PM; then EM + legal, executives
    await s.advance(55 * MINUTE - 2 * SECOND)
    await s.expect_count("vp_notice", 0)
    await s.expect_count("escalation", 1)  # the 30-minute team-lead escalation stayed in place
    await s.advance(3 * SECOND)
    await s.expect_count("vp_notice", 1)


async def test_declaring_with_data_loss_still_skips_the_matrix_and_sends_nothing_twice(scene) -> None:
    s = await scene(Severity.P2, data_loss=True)
    await s.expect_count("stakeholder_notice", 2)
    await s.advance(61 * MINUTE)
    assert s.sink.count("escalation") == 0 and s.sink.count("stakeholder_notice") == 2
    assert (await s.state()).raised_mid_incident == []


@pytest.mark.parametrize("how", ["flags", "alert"])
async def test_security_raised_mid_incident_hands_off_and_keeps_details_off_the_status_page(scene, how) -> None:
    s = await scene(Severity.P2)
    await s.expect_count("status_initial", 1)
    assert "Order Api" in s.texts("status_page")[0]  # before the flag: the public page names the service
    await s.advance(10 * MINUTE)
    await (s.flags(security=True) if how == "flags" else s.alert(security=True))
    await s.expect_count("security_handoff", 1)
    assert s.audiences("security_handoff") == [["security-team"]]
    state = await s.settled(lambda state: "security-team" in state.escalated_to or not_yet())
    assert [e.kind for e in state.timeline if e.kind in ("special_case_raised", "restricted")] == [
        "special_case_raised",
        "restricted",
    ]
    await s.advance(20 * MINUTE + SECOND)  # the 30-minute silence post, after the flag
    await s.expect_count("still_investigating", 1)
    after = s.texts("status_page")[-1]
    assert "Order Api" not in after and "Service Disruption" in after


async def test_no_special_case_no_notice(scene) -> None:
    """The other side of the boundary: lowering or leaving the flags sends nothing."""
    s = await scene(Severity.P2)
    await s.expect_count("stakeholder_notice", 1)
    await s.flags(data_loss=False, security=False, third_party_vendor=True)
    await s.advance(MINUTE)
    assert s.sink.count("stakeholder_notice") == 1 and s.sink.count("security_handoff") == 0
    assert (await s.state()).owed == []


async def test_data_loss_flagged_before_declaration_declares_as_an_alert_raising_it_does(
    skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    quiet = Alert(fingerprint="fp-q", summary="error ratio 0.5%", signals=ImpactSignals(user_error_ratio=0.005))
    async with running_worker(skipping_env.client, tmp_path) as harness:
        handle = await harness.start(incident_input(alert=quiet, on_call="alice"))
        s = Scene(skipping_env, harness.sink, handle)
        await s.advance(MINUTE)
        assert (await s.state()).declared_at is None  # below every declare criterion
        await s.flags(data_loss=True)
        await s.expect_count("stakeholder_notice", 3)  # declared P1: EM + legal, executives, the PM
        state = await s.state()
        assert state.severity == Severity.P1 and state.raised_mid_incident == []
        assert s.audiences("stakeholder_notice") == [EM_LEGAL, EXECUTIVES, ["product-manager"]]


# --- Item 14: the public status never regresses ----------------------------------------------------


@pytest.mark.parametrize(
    ("mitigated_at", "silence_posts"), [(30 * MINUTE - 2 * SECOND, 0), (30 * MINUTE + 2 * SECOND, 1)]
)
async def test_the_silence_post_stops_at_mitigation(scene, mitigated_at, silence_posts) -> None:
    s = await scene(Severity.P2)
    await s.expect_count("status_initial", 1)
    await s.advance(mitigated_at - 7 * SECOND)  # `mitigate` marks it 7 s later
    await mitigate(s.env, s.handle, action="rolled back")  # no metrics, no alerts: the IC confirms
    await s.advance(61 * MINUTE)  # past two more silences: the status page is left as it was
    await s.expect_count("still_investigating", silence_posts)
    assert (await s.state()).mitigated_at is not None
    assert s.sink.count("still_identified") == s.sink.count("still_monitoring") == 0


@pytest.mark.parametrize(
    ("status", "template", "first_line"),
    [
        (PublicStatus.IDENTIFIED, "still_identified", "IDENTIFIED: Elevated Error Rate — Order Api"),
        (PublicStatus.MONITORING, "still_monitoring", "MONITORING: Elevated Error Rate — Order Api"),
    ],
)
async def test_silence_after_identified_or_monitoring_repeats_that_status(scene, status, template, first_line) -> None:
    s = await scene(Severity.P2)
    await s.advance(5 * MINUTE)
    await s.post_public(status)
    await s.advance(30 * MINUTE - 2 * SECOND)
    await s.expect_count(template, 0)
    await s.advance(3 * SECOND)
    await s.expect_count(template, 1)
    assert s.texts("status_page")[-1].splitlines()[0] == first_line
    assert s.sink.count("still_investigating") == 0
    await s.settled(lambda state: state.public_status == status or not_yet())


async def test_a_monitoring_page_is_never_posted_back_to_investigating(scene) -> None:
    s = await scene(Severity.P2)
    await s.post_public(PublicStatus.MONITORING)
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await s.post_public(PublicStatus.INVESTIGATING)
    assert refused.value.cause.type == "PublicStatusRegression"  # type: ignore[union-attr]
    await s.post_public(PublicStatus.IDENTIFIED)  # the fix did not hold: that is what the page may say
    assert (await s.state()).public_status == PublicStatus.IDENTIFIED


@pytest.mark.parametrize("name", ["still_identified", "still_monitoring"])
def test_the_repeated_status_posts_carry_no_names_and_render_from_the_public_context(name) -> None:
    state = IncidentState(incident_id="i-1", service="order-api", summary="alice broke it", opened_at=utc_now())
    for details in (True, False):
        text = render(name, public_context(state, load_runbook(), utc_now(), details))
        assert "alice" not in text and ("Order Api" in text) == details


# --- Item 11: stakeholders hear the resolution -------------------------------------------------------


async def test_everyone_told_of_a_p1_hears_its_resolution(scene) -> None:
    s = await scene(Severity.P1)
    await s.advance(30 * MINUTE + SECOND)  # the team lead is escalated to at 30 minutes
    await s.expect_count("escalation", 1)
    await s.flags(data_loss=True)
    await s.expect_count("stakeholder_notice", 3)
    await s.resolve()
    await s.expect_count("stakeholder_resolved", 1)
    told = ["engineering-manager", "product-manager", "engineering-team-lead", "legal-privacy", "executive-team"]
    assert s.audiences("stakeholder_resolved") == [told]
    text = [t for _, name, _, t in s.sink.sent if name == "stakeholder_resolved"][0]
    assert text.startswith(f"✅ RESOLVED, to {', '.join(told)}: P1 incident ")
    assert "Mitigation: rolled back." in text and "Post-incident review by alice due 20" in text
    await s.settled(lambda state: [e.kind for e in state.timeline].count("stakeholders_resolved") == 1 or not_yet())


async def test_a_p3_nobody_was_told_of_sends_no_resolved_notice(scene) -> None:
    s = await scene(Severity.P3)
    await s.resolve()
    await s.expect_count("resolved", 1)
    await s.advance(MINUTE)
    assert s.sink.count("stakeholder_resolved") == 0


# --- Item 9: severity changes re-run the start actions ---------------------------------------------


async def test_p2_to_p1_notifies_the_pm_and_asks_for_a_comms_lead(scene) -> None:
    s = await scene(Severity.P2)
    await s.expect_count("stakeholder_notice", 1)
    await s.advance(10 * MINUTE)
    await s.severity(Severity.P1)
    await s.expect_count("stakeholder_notice", 2)
    await s.expect_count("severity_needs_comms_lead", 1)
    await s.expect_count("severity_changed", 1)
    assert s.audiences("stakeholder_notice") == [["engineering-manager"], ["product-manager"]]
    assert s.audiences("severity_needs_comms_lead") == [["alice"]]
    summary = s.texts("incident")[-1]
    assert summary.startswith("🔀 SEVERITY P2 → P1 by alice: impact changed. Starts: vp-engineering notice")
    assert "Changes: escalation to engineering-team-lead after 30m without mitigation (was 1h" in summary
    assert s.sink.count("status_initial") == 1  # the status page was already in use at P2
    await s.settled(lambda state: "product-manager" in state.escalated_to or not_yet())
    # Back to P2 and up again: the PM has heard; the Comms Lead, still missing, is asked for again.
    await s.severity(Severity.P2)
    await s.severity(Severity.P1)
    await s.expect_count("severity_changed", 3)
    await s.expect_count("severity_needs_comms_lead", 2)
    assert s.sink.count("stakeholder_notice") == 2


async def test_p3_to_p2_posts_the_initial_status_page_and_starts_its_cadence(scene) -> None:
    s = await scene(Severity.P3)
    await s.advance(10 * MINUTE)
    assert s.sink.count("status_initial") == 0
    await s.severity(Severity.P2)
    await s.expect_count("status_initial", 1)
    assert s.audiences("stakeholder_notice") == [["engineering-manager"]]
    await s.settled(lambda state: state.public_status == PublicStatus.INVESTIGATING or not_yet())
    await s.advance(30 * MINUTE - 2 * SECOND)  # 30 minutes of silence counted from that initial post
    await s.expect_count("still_investigating", 0)
    await s.advance(3 * SECOND)
    await s.expect_count("still_investigating", 1)


async def test_a_downgrade_says_what_stops_and_notifies_nobody(scene) -> None:
    s = await scene(Severity.P1)
    await s.expect_count("stakeholder_notice", 1)
    await s.advance(10 * MINUTE)
    await s.severity(Severity.P3)
    await s.expect_count("severity_changed", 1)
    summary = s.texts("incident")[-1]
    assert summary.startswith("🔀 SEVERITY P1 → P3 by alice: impact changed. Stops: vp-engineering notice")
    assert "status page updates every 30m" in summary and "a Communications Lead" in summary
    assert "Starts:" not in summary
    await s.advance(60 * MINUTE)  # what stopped, stopped: no VP notice, no silence post
    assert s.sink.count("vp_notice") == s.sink.count("still_investigating") == 0
    assert s.sink.count("stakeholder_notice") == 1 and s.sink.count("severity_needs_comms_lead") == 0


def _after(state: IncidentState, kind: str) -> list:
    """The timeline from the last entry of `kind` on."""
    at = max(i for i, e in enumerate(state.timeline) if e.kind == kind)
    return state.timeline[at:]


async def test_a_severity_change_through_set_severity_sends_the_start_actions_and_records_them(scene) -> None:
    s = await scene(Severity.P2)
    await s.expect_count("stakeholder_notice", 1)
    await s.advance(10 * MINUTE)  # the Ops Lead prompt is out; at P2 nobody asks for a Comms Lead
    await s.expect_count("role_prompt", 1)
    request = SetSeverity(severity=Severity.P1, by="alice", reason="checkout down for every region")
    result = await s.handle.execute_update(Update.SET_SEVERITY, request, result_type=UpdateResult)
    assert (result.severity, result.message) == (Severity.P1, "severity P2 → P1: checkout down for every region")
    await s.expect_count("severity_changed", 1)
    owed = {"severity_notice": "product-manager", "comms_lead_needed": "alice", "severity_summary": "alice"}
    state = await s.settled(lambda st: len(_after(st, "severity_changed")) == 4 or not_yet())
    change, *fired = _after(state, "severity_changed")
    assert (change.actor, change.data) == ("alice", {"before": "P2", "after": "P1"})
    assert {e.kind: e.data["audience"] for e in fired} == owed  # fired at once, in no set order
    summary = next(e.message for e in fired if e.kind == "severity_summary")
    assert summary.startswith("P2 → P1 by alice: checkout down for every region. Starts: vp-engineering")
    assert state.escalated_to == ["engineering-manager", "product-manager"]
    assert s.audiences("stakeholder_notice")[-1] == ["product-manager"]
    assert f"🔀 SEVERITY {summary}" in s.texts("incident")
    await s.advance(MINUTE)
    assert s.sink.count("severity_needs_comms_lead") == 1
    assert s.sink.count("role_prompt") == 1  # the Comms Lead is asked for once, not again by the role prompt
    # With a Comms Lead assigned, down and up again asks for nobody and tells nobody twice.
    await s.handle.execute_update(
        Update.ASSIGN_ROLE, AssignRole(role=Role.COMMUNICATIONS_LEAD, person="carol", by="alice")
    )
    await s.severity(Severity.P2)
    await s.severity(Severity.P1)
    await s.expect_count("severity_changed", 3)
    state = await s.settled(lambda st: [e.kind for e in st.timeline].count("severity_summary") == 3 or not_yet())
    kinds = [e.kind for e in state.timeline]
    assert [kinds.count(k) for k in ("severity_changed", "severity_notice", "comms_lead_needed")] == [3, 1, 1]
    assert s.sink.count("severity_needs_comms_lead") == 1 and s.sink.count("stakeholder_notice") == 2


async def test_p3_to_p2_leaves_a_status_page_already_posted_as_it_is(scene) -> None:
    s = await scene(Severity.P3)
    await s.post_public(PublicStatus.IDENTIFIED)
    await s.expect_count("status_update", 1)
    await s.severity(Severity.P2)
    await s.expect_count("severity_changed", 1)
    state = await s.settled(lambda st: _after(st, "severity_changed")[-1].kind == "severity_summary" or not_yet())
    assert [e.kind for e in _after(state, "severity_changed")] == [
        "severity_changed",
        "severity_notice",
        "severity_summary",
    ]
    assert s.sink.count("status_initial") == 0 and state.public_status == PublicStatus.IDENTIFIED


async def test_p1_to_p2_stops_the_vp_notice_and_keeps_the_status_page_cadence(scene) -> None:
    s = await scene(Severity.P1)
    await s.expect_count("status_initial", 1)
    await s.advance(10 * MINUTE)
    await s.severity(Severity.P2)
    await s.expect_count("severity_changed", 1)
    assert s.texts("incident")[-1] == (
        "🔀 SEVERITY P1 → P2 by alice: impact changed. Stops: vp-engineering notice after 1h without mitigation; "
        "a Communications Lead; a customer e-mail within 1d of resolution. Changes: escalation to "
        "engineering-team-lead after 1h without mitigation (was 30m without mitigation)."
    )
    await s.advance(21 * MINUTE)  # 31 minutes open: P2 escalates at 1h, and the page's silence still counts
    await s.expect_count("still_investigating", 1)
    assert s.sink.count("escalation") == 0
    await s.advance(30 * MINUTE)  # 61 minutes open: the team lead, and no VP
    await s.expect_count("escalation", 1)
    assert s.sink.count("vp_notice") == 0 and s.sink.count("severity_needs_comms_lead") == 0
    assert s.sink.count("stakeholder_notice") == 1


# --- Item 13: the vendor ticket reference is posted to the channel ------------------------------------


async def test_a_recorded_vendor_ticket_is_posted_to_the_incident_channel(scene) -> None:
    s = await scene(Severity.P2, third_party_vendor=True)
    await s.expect_count("vendor_ticket", 1)  # the runbook's ask: open one and record its reference
    await s.flags(vendor_ticket="ZD-4711")
    await s.expect_count("vendor_ticket_recorded", 1)
    [(channel, text)] = [(c, t) for c, name, _, t in s.sink.sent if name == "vendor_ticket_recorded"]
    assert channel == "incident" and text == (
        "🧾 VENDOR TICKET: ZD-4711, recorded by alice: the vendor's support ticket for this incident. "
        "Post the vendor's answers here."
    )
    await s.flags(vendor_ticket="ZD-4711")  # the same reference again: said already
    await s.flags(vendor_ticket="ZD-4712")  # a new one: the channel hears it
    await s.expect_count("vendor_ticket_recorded", 2)
    assert s.texts("incident")[-1].startswith("🧾 VENDOR TICKET: ZD-4712")
    state = await s.state()
    assert state.vendor_ticket == "ZD-4712"
    assert [e.message for e in state.timeline if e.kind == "flags_changed"][-1] == "vendor ticket ZD-4712"


async def test_flags_changed_without_a_vendor_ticket_post_no_reference(scene) -> None:
    s = await scene(Severity.P2)
    await s.flags(third_party_vendor=True)
    await s.flags(security=False)
    await s.advance(MINUTE)
    state = await s.settled(lambda st: [e.kind for e in st.timeline].count("flags_changed") == 2 or not_yet())
    assert state.vendor_ticket is None
    assert s.sink.count("vendor_ticket_recorded") == 0
