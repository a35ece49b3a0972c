"""An alert flapping through a storm is counted in one timeline entry per window, not one per change.

Through Temporal (the time-skipping server): the incident lists an alert's first changes, then keeps
one `alert_flapping` entry up to date. The change is asked for (`collapse-flapping-alerts`) only when
an alert first flaps, so an incident whose alerts never flap writes no marker for it (the bundle test
checks a new incident's markers); the history replays sandboxed and not."""

from __future__ import annotations

from pathlib import Path

from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from tests.helpers import assert_eventually, incident_input, not_yet, patch_markers, running_worker, state_of
from warroom.client import DATA_CONVERTER
from warroom.enums import Phase
from warroom.models import Alert
from warroom.patches import BUNDLE
from warroom.worker import workflow_runner
from workflows._incident_inputs import COLLAPSE_FLAPPING
from workflows._ledger import FLAP_LISTED
from workflows.registry import WORKFLOWS


async def test_a_flapping_alert_is_one_entry_and_one_marker(skipping_env: WorkflowEnvironment, tmp_path: Path) -> None:
    async with running_worker(skipping_env.client, tmp_path) as harness:
        handle = await harness.start(incident_input(on_call="oncall-bob"))
        await handle.signal("alert", Alert(fingerprint="api-f0", summary="api latency high"))  # steady
        for n in range(60):
            flip = Alert(fingerprint="disk-f1", summary="disk latency high", firing=n % 2 == 0)
            await handle.signal("alert", flip)

        async def taken() -> None:
            assert (await state_of(handle)).alerts_received == 61 or not_yet()

        await assert_eventually(taken)
        state = await state_of(handle)
        history = await handle.fetch_history()
    kinds = [e.kind for e in state.timeline if e.kind.startswith("alert_")]
    assert kinds == ["alert_firing", *["alert_firing", "alert_resolved"] * (FLAP_LISTED // 2), "alert_flapping"]
    assert state.timeline[-1].message.startswith("alert flapping: disk latency high (60 changes since ")
    assert state.timeline[-1].message.endswith(", now resolved)")
    assert state.firing_alerts == ["api-f0"] and state.phase == Phase.DETECTION
    assert patch_markers(history) == [BUNDLE, COLLAPSE_FLAPPING]
    for sandboxed in (True, False):
        replayer = Replayer(
            workflows=WORKFLOWS, data_converter=DATA_CONVERTER, workflow_runner=workflow_runner(sandboxed)
        )
        await replayer.replay_workflow(history)
