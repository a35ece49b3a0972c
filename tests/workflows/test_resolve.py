"""After mitigation, under time skipping: the relapse watch, the monitoring period and resolution.

Each rule is pinned on both sides of its boundary: one second before nothing, at it exactly one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from tests.helpers import (
    MINUTE,
    SECOND,
    Harness,
    assert_eventually,
    incident_input,
    mitigate,
    not_yet,
    running_worker,
    state_of,
)
from warroom.enums import Phase, Role, Severity, Update
from warroom.models import (
    Acknowledge,
    Alert,
    AssignRole,
    ImpactSignals,
    IncidentState,
    MarkMitigated,
    ProposeStep,
    Resolve,
    StatusUpdate,
    StepDecision,
    UpdateResult,
)

ERRORS = Alert(fingerprint="fp-err", summary="errors > 1%", signals=ImpactSignals(user_error_ratio=0.05))
CLEARED = ERRORS.model_copy(update={"firing": False})
MONITORING = 10 * MINUTE


class Scene:
    """A P2 declared with an alert source (its alert already cleared), under the test's clock; alice
    commands and has acknowledged the page."""

    def __init__(self, env: WorkflowEnvironment, harness: Harness, handle: WorkflowHandle) -> None:
        self.env, self.harness, self.handle = env, harness, handle

    @property
    def sent(self) -> list[tuple[str, str, list[str], str]]:
        return self.harness.sink.sent

    def count(self, template: str) -> int:
        return self.harness.sink.count(template)

    async def eventually(self, check: Callable[[IncidentState], Any]) -> IncidentState:
        async def probe() -> IncidentState:
            state = await state_of(self.handle)
            assert check(state), " ".join(f"{e.at:%H:%M:%S}:{e.kind}" for e in state.timeline)
            return state

        return await assert_eventually(probe)

    async def until(self, at: Any) -> None:
        """Move the server's clock to `at` (an instant of the incident's own timeline)."""
        await self.env.sleep(at - await self.env.get_current_time())

    async def refusal(self, req: Resolve) -> tuple[str, str]:
        with pytest.raises(WorkflowUpdateFailedError) as caught:
            await self.handle.execute_update(Update.RESOLVE, req, result_type=UpdateResult)
        cause: Any = caught.value.cause
        return cause.type, cause.message


@pytest.fixture
async def scene(skipping_env: WorkflowEnvironment, tmp_path: Path) -> AsyncIterator[Callable[..., Awaitable[Scene]]]:
    async with running_worker(skipping_env.client, tmp_path) as harness:

        async def make(severity: Severity = Severity.P2, alert: Alert | None = ERRORS) -> Scene:
            fields: dict[str, Any] = dict(declared=True, declared_by="alice", severity=severity, commander="alice")
            handle = await harness.start(incident_input(alert=alert, **fields))
            await handle.execute_update(Update.ACKNOWLEDGE, Acknowledge(by="alice"))
            if alert:
                await handle.signal("alert", CLEARED)
            made = Scene(skipping_env, harness, handle)
            await made.eventually(lambda s: s.phase == Phase.COMMAND)
            return made

        yield make


async def confirm(s: Scene, by: str, *items: str) -> None:
    await s.handle.execute_update(Update.POST_UPDATE, StatusUpdate(by=by, confirm=list(items)))


async def update_refusal(s: Scene, req: StatusUpdate) -> tuple[str, str]:
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await s.handle.execute_update(Update.POST_UPDATE, req, result_type=UpdateResult)
    cause: Any = caught.value.cause
    return cause.type, cause.message


async def test_an_alert_firing_again_while_monitoring_pages_the_ic_and_reopens_mitigation(scene) -> None:
    s: Scene = await scene()
    mitigated = await mitigate(s.env, s.handle, action="rolled back to v2.14.2")
    await s.env.sleep(3 * MINUTE)
    await s.handle.signal("alert", ERRORS)
    state = await s.eventually(lambda st: st.checks.relapses == 1)
    assert (state.mitigated_at, state.mitigation_applied_at, state.phase) == (None, None, Phase.RESOLVE)
    [entry] = [e for e in state.timeline if e.kind == "mitigation_reopened"]
    assert entry.message == "relapse after mitigation: 1 alert(s) firing again; mitigation is open again"
    pages = [(channel, audience, text) for channel, template, audience, text in s.sent if template == "relapse"]
    assert [(channel, audience) for channel, audience, _ in pages] == [("page", ["alice"]), ("incident", ["alice"])]
    assert "rolled back to v2.14.2" in pages[0][2] and "Mitigation is open again" in pages[0][2]
    kind, _ = await s.refusal(Resolve(by="alice", summary="fixed"))
    assert kind == "NotMitigated"

    # The next mitigation is verified and monitored as the first was; the first's period never completed.
    await s.handle.signal("alert", CLEARED)
    again = await mitigate(s.env, s.handle, action="scaled out")
    assert again.mitigated_at > mitigated.mitigated_at
    assert s.count("mitigation_applied") == 2 and s.count("mitigated") == 2
    await s.until(again.mitigated_at + MONITORING + SECOND)
    state = await s.eventually(lambda st: "monitoring_done#2" in st.fired)
    assert "monitoring_done" not in state.fired and s.count("monitoring_complete") == 1


async def test_the_watch_lasts_until_resolution_and_ends_with_it(scene) -> None:
    s: Scene = await scene()
    await mitigate(s.env, s.handle)
    await s.env.sleep(MONITORING + 50 * MINUTE)  # an hour after mitigation: long after monitoring
    assert (await state_of(s.handle)).mitigated_at is not None
    await s.handle.signal("alert", ERRORS)
    await s.eventually(lambda st: st.checks.relapses == 1 and st.mitigated_at is None)

    await s.handle.signal("alert", CLEARED)
    state = await mitigate(s.env, s.handle)
    await s.until(state.mitigated_at + MONITORING)
    await s.eventually(lambda st: "monitoring_done#2" in st.fired)
    await confirm(s, "alice", "no_customer_reports", "synthetic_monitors_green")
    await s.handle.execute_update(Update.RESOLVE, Resolve(by="alice", summary="pool fixed"))
    await s.eventually(lambda st: st.phase == Phase.RETROSPECTIVE)
    await s.handle.signal("alert", ERRORS)  # after resolution: a new problem, not a relapse
    state = await s.eventually(lambda st: st.firing_alerts == ["fp-err"])
    assert state.checks.relapses == 1 and state.mitigated_at is not None and s.count("relapse") == 2


async def test_monitoring_complete_comes_at_the_end_of_the_period_and_says_only_what_was_checked(scene) -> None:
    s: Scene = await scene()
    state = await mitigate(s.env, s.handle)
    await s.until(state.mitigated_at + MONITORING - SECOND)
    assert s.count("monitoring_complete") == 0
    await s.env.sleep(2 * SECOND)
    await assert_eventually(lambda: s.count("monitoring_complete") == 1 or not_yet())
    [(channel, audience, text)] = [(c, a, t) for c, tpl, a, t in s.sent if tpl == "monitoring_complete"]
    assert (channel, audience) == ("incident", ["alice"])
    assert "Checked: no alert of this incident fired again." in text
    assert "Not checked: the error ratio (no metrics source answered)." in text
    assert "relapse" not in text, "no claim beyond what was checked"
    state = await s.eventually(lambda st: "monitoring_done" in st.fired)
    [entry] = [e for e in state.timeline if e.kind == "monitoring_done"]
    assert entry.message == "monitored for 10m since mitigation; checked: no alert of this incident fired again"
    assert state.checks.monitoring == "no alert of this incident fired again"


async def test_resolving_before_the_monitoring_period_has_run_takes_an_override_with_a_reason(scene) -> None:
    s: Scene = await scene()
    state = await mitigate(s.env, s.handle)
    await s.until(state.mitigated_at + MONITORING - SECOND)
    kind, message = await s.refusal(Resolve(by="alice", summary="fixed"))
    assert kind == "NotReadyToResolve"
    assert f"□ monitoring: 9m59s of 10m since mitigation (until {state.mitigated_at + MONITORING:%H:%M:%S} UTC)" in (
        message
    )
    await s.handle.execute_update(
        Update.RESOLVE, Resolve(by="alice", summary="fixed", override="fix verified by the vendor")
    )
    state = await s.eventually(lambda st: st.resolved_at is not None)
    [entry] = [e for e in state.timeline if e.kind == "resolve_override"]
    assert entry.actor == "alice" and entry.message.endswith("by override: fix verified by the vendor")


async def test_at_the_end_of_the_monitoring_period_no_override_is_needed(scene) -> None:
    s: Scene = await scene()
    state = await mitigate(s.env, s.handle)
    await confirm(s, "alice", "no_customer_reports", "synthetic_monitors_green")
    await s.until(state.mitigated_at + MONITORING)
    await s.handle.execute_update(Update.RESOLVE, Resolve(by="alice", summary="fixed"))
    state = await s.eventually(lambda st: st.resolved_at is not None)
    assert not [e for e in state.timeline if e.kind == "resolve_override"]


async def test_a_relapse_inside_the_clean_window_restarts_it_without_reopening(scene) -> None:
    """Before mitigation is verified, errors coming back restart the window (and escalate): nothing to re-open."""
    s: Scene = await scene()
    await s.handle.execute_update(Update.MARK_MITIGATED, MarkMitigated(by="alice", action="rolled back"))
    await s.env.sleep(3 * MINUTE)
    await s.handle.signal("alert", ERRORS)
    await s.handle.signal("alert", CLEARED)
    await s.env.sleep(MINUTE)
    state = await state_of(s.handle)
    assert state.mitigation_applied_at is not None and state.checks.relapses == 0 and s.count("relapse") == 0


# --- Item 5: with no metrics source and no alert source the incident cannot verify itself ------------


async def test_with_nothing_to_verify_by_a_p1_says_so_and_is_never_mitigated_on_silence(scene) -> None:
    s: Scene = await scene(Severity.P1, alert=None)
    await s.env.sleep(10 * MINUTE)
    await s.handle.execute_update(Update.MARK_MITIGATED, MarkMitigated(by="alice", action="feature flag off"))
    state = await s.eventually(lambda st: st.checks.cannot_verify)
    [(channel, audience, text)] = [(c, a, t) for c, tpl, a, t in s.sent if tpl == "cannot_verify"]
    assert (channel, audience) == ("incident", ["alice"])
    assert "no metrics source and no alert source" in text and "--confirm errors-at-baseline" in text
    await s.until(state.declared_at + 30 * MINUTE - SECOND)  # 20 minutes of silence after the mitigation
    assert (await state_of(s.handle)).mitigated_at is None and s.count("escalation") == 0
    await s.env.sleep(2 * SECOND)
    await assert_eventually(lambda: s.count("escalation") == 1 or not_yet())
    await s.until(state.declared_at + 60 * MINUTE + SECOND)
    await assert_eventually(lambda: s.count("vp_notice") == 1 or not_yet())
    assert s.count("mitigated") == 0

    await confirm(s, "alice", "errors_at_baseline")
    state = await s.eventually(lambda st: st.mitigated_at is not None)
    [entry] = [e for e in state.timeline if e.kind == "mitigated"]
    assert "errors at baseline confirmed by alice (no metrics source, no alert source)" in entry.message
    assert state.checks.verified_by == "alice"


async def test_the_ics_confirmation_still_waits_for_the_clean_window(scene) -> None:
    s: Scene = await scene(alert=None)
    await s.handle.execute_update(Update.MARK_MITIGATED, MarkMitigated(by="alice", action="restart"))
    state = await s.eventually(lambda st: st.checks.cannot_verify)
    await confirm(s, "alice", "errors_at_baseline")
    assert state.mitigation_applied_at is not None
    await s.until(state.mitigation_applied_at + 5 * MINUTE - SECOND)
    assert (await state_of(s.handle)).mitigated_at is None
    await s.env.sleep(2 * SECOND)
    state = await s.eventually(lambda st: st.mitigated_at is not None)
    assert 5 * MINUTE <= state.mitigated_at - state.mitigation_applied_at < 5 * MINUTE + 2 * SECOND


async def test_only_the_ic_confirms_errors_at_baseline_and_only_when_warroom_cannot(scene) -> None:
    verifiable: Scene = await scene()  # an alert source: warroom judges by it
    await verifiable.handle.execute_update(Update.MARK_MITIGATED, MarkMitigated(by="alice", action="restart"))
    assert await update_refusal(verifiable, StatusUpdate(by="alice", confirm=["errors_at_baseline"])) == (
        "NothingToConfirm",
        "warroom verifies errors at baseline itself here (metrics or alerts): nothing to confirm",
    )
    blind: Scene = await scene(alert=None)
    await blind.handle.execute_update(Update.MARK_MITIGATED, MarkMitigated(by="alice", action="restart"))
    await blind.eventually(lambda st: st.checks.cannot_verify)
    kind, _ = await update_refusal(blind, StatusUpdate(by="bob", confirm=["errors_at_baseline"]))
    assert kind == "NotAResponder"
    await blind.handle.execute_update(
        Update.ASSIGN_ROLE, AssignRole(role=Role.OPERATIONS_LEAD, person="bob", by="alice")
    )
    kind, message = await update_refusal(blind, StatusUpdate(by="bob", confirm=["errors_at_baseline"]))
    assert kind == "NotIncidentCommander" and "confirm errors are at baseline" in message


# --- Item 7: the post-mitigation checklist --------------------------------------------------------

PROBE = Alert(fingerprint="probe-checkout", summary="checkout probe failing", labels={"source": "synthetic"})


async def test_resolve_lists_what_is_still_open_and_people_close_it(scene) -> None:
    s: Scene = await scene()
    await s.handle.signal("alert", PROBE)  # a synthetic monitor of the service fails too, then recovers
    await s.handle.signal("alert", PROBE.model_copy(update={"firing": False}))
    await s.eventually(lambda st: st.checks.synthetic == ["probe-checkout"] and not st.firing_alerts)
    state = await mitigate(s.env, s.handle)
    await s.until(state.mitigated_at + MONITORING)
    monitoring = await assert_eventually(
        lambda: [t for _, tpl, _, t in s.sent if tpl == "monitoring_complete"] or not_yet()
    )
    assert "□ No new customer reports: a person confirms" in monitoring[0]
    assert "Synthetic monitors" not in monitoring[0], "green by its own alerts: nobody needs to confirm it"
    kind, message = await s.refusal(Resolve(by="alice", summary="fixed"))
    assert kind == "NotReadyToResolve" and message.splitlines()[1:-1] == [
        f"□ No new customer reports: a person confirms (warroom update {state.incident_id} "
        "--confirm no-customer-reports)"
    ]
    await s.handle.execute_update(
        Update.ASSIGN_ROLE, AssignRole(role=Role.COMMUNICATIONS_LEAD, person="carol", by="alice")
    )
    await confirm(s, "carol", "no_customer_reports")  # the Comms lead watches support
    [text] = [t for _, tpl, _, t in s.sent if tpl == "checklist_confirmed"]
    assert text == "☑ carol confirms: no new customer reports."
    state = await state_of(s.handle)
    assert state.last_internal_update_at is None, "a confirmation is not the 15-minute update"
    assert s.count("internal_update") == 0
    await s.handle.execute_update(Update.RESOLVE, Resolve(by="alice", summary="fixed"))
    await s.eventually(lambda st: st.resolved_at is not None)


async def test_a_pending_step_keeps_a_debugging_path_open_until_the_ic_decides_it(scene) -> None:
    s: Scene = await scene()
    await s.handle.execute_update(
        Update.PROPOSE_STEP, ProposeStep(by="alice", action="custom", target="redis", description="check the cache")
    )
    state = await mitigate(s.env, s.handle)
    await confirm(s, "alice", "no_customer_reports", "synthetic_monitors_green")
    await s.until(state.mitigated_at + MONITORING)
    kind, message = await s.refusal(Resolve(by="alice", summary="fixed"))
    assert (
        kind == "NotReadyToResolve" and "□ All debugging paths confirmed closed: pending: s1 (custom redis)" in message
    )
    await s.handle.execute_update(Update.DENY, StepDecision(step_id="s1", by="alice", reason="cache ruled out"))
    await s.handle.execute_update(Update.RESOLVE, Resolve(by="alice", summary="fixed"))


# --- Item 8: resolution timers ----------------------------------------------------------------------

HOURS_4 = 4 * 60 * MINUTE


async def test_a_p1_mitigated_but_not_resolved_at_4_hours_pages_the_ic(scene) -> None:
    s: Scene = await scene(Severity.P1)
    state = await mitigate(s.env, s.handle)
    await s.until(state.opened_at + HOURS_4 - SECOND)
    assert s.count("resolution_overdue") == 0
    await s.env.sleep(2 * SECOND)
    await assert_eventually(lambda: s.count("resolution_overdue") == 1 or not_yet())
    [(channel, audience, text)] = [(c, a, t) for c, tpl, a, t in s.sent if tpl == "resolution_overdue"]
    assert (channel, audience) == ("page", ["alice"])
    assert "P1 mitigated but not resolved within the 4h resolution target" in text


async def test_a_p2_has_no_resolution_target(scene) -> None:
    s: Scene = await scene(Severity.P2)
    state = await mitigate(s.env, s.handle)
    await s.until(state.opened_at + HOURS_4 + MINUTE)
    await assert_eventually(lambda: s.count("handoff_brief") == 1 or not_yet())
    assert s.count("resolution_overdue") == 0


async def test_an_incident_open_4_hours_posts_the_handoff_brief_and_again_4_hours_later(scene) -> None:
    """Still in Command (nothing mitigated): the brief says where things stand."""
    s: Scene = await scene(Severity.P3)
    await s.handle.execute_update(
        Update.PROPOSE_STEP, ProposeStep(by="alice", action="custom", target="redis", description="check the cache")
    )
    state = await state_of(s.handle)
    await s.until(state.opened_at + HOURS_4 - SECOND)
    assert s.count("handoff_brief") == 0
    await s.env.sleep(2 * SECOND)
    await assert_eventually(lambda: s.count("handoff_brief") == 1 or not_yet())
    [(channel, audience, text)] = [(c, a, t) for c, tpl, a, t in s.sent if tpl == "handoff_brief"]
    assert (channel, audience) == ("incident", ["alice"])
    assert f"ON-CALL HANDOFF — {state.incident_id} (order-api) has been open for 4h" in text
    assert "SEVERITY: P3 — STATUS: investigating" in text
    assert "PENDING STEPS: s1 (custom redis)" in text and "ROLES: IC alice" in text
    assert f"warroom assign {state.incident_id} ic NAME" in text
    await s.until(state.opened_at + 2 * HOURS_4 - SECOND)
    assert s.count("handoff_brief") == 1
    await s.env.sleep(2 * SECOND)
    await assert_eventually(lambda: s.count("handoff_brief") == 2 or not_yet())
    assert "has been open for 8h" in [t for _, tpl, _, t in s.sent if tpl == "handoff_brief"][1]
