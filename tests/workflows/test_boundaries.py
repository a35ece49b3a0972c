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

from tests.helpers import Harness, assert_eventually, incident_input, running_worker, state_of
from warroom.enums import Phase, Severity
from warroom.models import Alert, ImpactSignals, IncidentState

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
