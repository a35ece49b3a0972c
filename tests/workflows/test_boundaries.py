"""The seed's boundaries as a running incident meets them (time-skipping server): an SLO burn that
declares is never P3, a burn held exactly 5 minutes does not declare, the escalation clock runs
from the opening, the channel is `#incident-YYYY-MM-DD-NNN`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from activities.channels._http import ChannelError
from tests.helpers import (
    MINUTE,
    SECOND,
    Harness,
    RecordingSink,
    assert_eventually,
    incident_input,
    mitigate,
    resolve_when_ready,
    running_worker,
    state_of,
)
from warroom.enums import Phase, Severity, Update
from warroom.models import Acknowledge, Alert, Declare, ImpactSignals, IncidentState, Resolve

Start = Callable[..., Awaitable[WorkflowHandle[Any, IncidentState]]]


@pytest.fixture
async def harness(skipping_env: WorkflowEnvironment, tmp_path: Path) -> AsyncIterator[Harness]:
    async with running_worker(skipping_env.client, tmp_path) as h:
        yield h


def burn_alert(rate: float, held: timedelta) -> Alert:
    return Alert(
        fingerprint=f"burn-{rate}-{held.total_seconds():.0f}",
        summary=f"SLO burn {rate}x",
        signals=ImpactSignals(burn_rate=rate, burn_sustained=held),
    )


async def in_phase(handle: WorkflowHandle[Any, IncidentState], phase: Phase) -> IncidentState:
    async def check() -> IncidentState:
        state = await state_of(handle)
        assert state.phase == phase, state.phase
        return state

    result: IncidentState = await assert_eventually(check)
    return result


async def test_an_incident_declared_on_a_sustained_6x_burn_is_p2_with_its_status_page_and_em(
    harness: Harness,
) -> None:
    handle = await harness.start(incident_input(alert=burn_alert(6.0, timedelta(minutes=10))))
    state = await in_phase(handle, Phase.COMMAND)
    assert state.severity == Severity.P2
    declared = next(e for e in state.timeline if e.kind == "declared")
    assert declared.message.startswith("declared P2 (SLO-affecting burn: 6x for 10m (> 5x for > 5m))")
    assert harness.sink.count("status_initial") == 1
    notices = [audience for _, template, audience, _ in harness.sink.sent if template == "stakeholder_notice"]
    assert notices == [["engineering-manager"]]


async def test_a_burn_held_exactly_5_minutes_waits_and_one_held_5m01s_declares(harness: Harness) -> None:
    handle = await harness.start(incident_input(alert=burn_alert(6.0, timedelta(minutes=5))))
    state = await in_phase(handle, Phase.DETECTION)
    assert state.declared_at is None and state.severity is None
    await handle.signal("alert", burn_alert(6.0, timedelta(minutes=5, seconds=1)))
    state = await in_phase(handle, Phase.COMMAND)
    declared = next(e for e in state.timeline if e.kind == "declared")
    assert declared.message == (
        "declared P2 (SLO-affecting burn: 6x for 5m1s (> 5x for > 5m)): SLO burn rate 6x for 5m1s (> 5x for > 5m)"
    )


class StatusPageDown(RecordingSink):
    """The status page refuses every post (for good: no retry helps); everything else is delivered."""

    async def deliver(self, notification: Any, text: str) -> str:
        if notification.channel == "status_page":
            raise ChannelError("statuspage", "refused")
        return await super().deliver(notification, text)


@pytest.fixture
async def down(skipping_env: WorkflowEnvironment, tmp_path: Path) -> AsyncIterator[Harness]:
    async with running_worker(skipping_env.client, tmp_path, sink=StatusPageDown(tmp_path)) as h:
        yield h


async def expect(harness: Harness, template: str, count: int) -> None:
    async def check() -> None:
        assert harness.sink.count(template) == count, harness.sink.templates()

    await assert_eventually(check)


async def test_an_initial_status_page_that_did_not_go_out_prompts_the_comms_lead_at_5_minutes(
    skipping_env: WorkflowEnvironment, down: Harness
) -> None:
    inp = incident_input(declared=True, declared_by="alice", severity=Severity.P1, commander="alice")
    handle = await down.start(inp)
    state = await in_phase(handle, Phase.COMMAND)
    assert state.last_external_update_at is None
    assert [e.kind for e in state.timeline].count("notification_failed") == 1
    await skipping_env.sleep(5 * MINUTE - SECOND)
    await expect(down, "status_initial_overdue", 0)
    await skipping_env.sleep(2 * SECOND)
    await expect(down, "status_initial_overdue", 1)
    [(channel, _, audience, text)] = [m for m in down.sink.sent if m[1] == "status_initial_overdue"]
    assert (channel, audience) == ("incident", ["alice"])
    assert text.startswith("📝 alice: the initial status page was not posted within 5m of declaring P1")


async def test_a_resolved_notice_that_did_not_go_out_prompts_the_comms_lead_at_1_hour(
    skipping_env: WorkflowEnvironment, down: Harness
) -> None:
    inp = incident_input(declared=True, declared_by="alice", severity=Severity.P2, commander="alice")
    handle = await down.start(inp)
    await in_phase(handle, Phase.COMMAND)
    await mitigate(skipping_env, handle, action="rolled back")
    await resolve_when_ready(skipping_env, handle, Resolve(by="alice", summary="rolled back"))
    await in_phase(handle, Phase.RETROSPECTIVE)
    await skipping_env.sleep(60 * MINUTE - SECOND)
    await expect(down, "resolved_notice_overdue", 0)
    await skipping_env.sleep(2 * SECOND)
    await expect(down, "resolved_notice_overdue", 1)
    state = await state_of(handle)
    assert [e.kind for e in state.timeline if e.kind == "resolved_notice_overdue"] == ["resolved_notice_overdue"]


async def test_the_matrix_escalation_counts_from_the_opening_not_the_declaration(
    skipping_env: WorkflowEnvironment, harness: Harness
) -> None:
    """Opened at t0 on a quiet alert, declared P1 ten minutes later: the team lead hears at t0 + 30m."""
    quiet = Alert(fingerprint="fp-quiet", summary="0.5% errors", signals=ImpactSignals(user_error_ratio=0.005))
    handle = await harness.start(incident_input(alert=quiet, on_call="alice"))
    state = await in_phase(handle, Phase.DETECTION)
    await handle.execute_update(Update.ACKNOWLEDGE, Acknowledge(by="alice"))
    await skipping_env.sleep(10 * MINUTE)
    await handle.execute_update(Update.DECLARE, Declare(by="alice", severity=Severity.P1, reason="spreading"))
    await in_phase(handle, Phase.COMMAND)
    escalate_at = state.opened_at + 30 * MINUTE
    await skipping_env.sleep(escalate_at - await skipping_env.get_current_time() - SECOND)
    await expect(harness, "escalation", 0)
    await skipping_env.sleep(2 * SECOND)
    await expect(harness, "escalation", 1)
    state = await state_of(handle)
    assert state.declared_at is not None and state.declared_at - state.opened_at >= 10 * MINUTE
    [fired] = [e for e in state.timeline if e.kind == "escalate"]
    assert fired.data["due_at"] == escalate_at.isoformat()
