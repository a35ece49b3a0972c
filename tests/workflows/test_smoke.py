from __future__ import annotations

from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from tests.helpers import MINUTE, SECOND, assert_eventually, incident_input, running_worker, state_of
from warroom.enums import Severity, Update
from warroom.models import Acknowledge


async def test_p1_escalates_to_team_lead_at_30_minutes(skipping_env: WorkflowEnvironment, tmp_path: Path) -> None:
    async with running_worker(skipping_env.client, tmp_path) as harness:
        sink = harness.sink
        inp = incident_input(declared=True, declared_by="alice", severity=Severity.P1, commander="alice")
        handle = await harness.start(inp)
        await handle.execute_update(Update.ACKNOWLEDGE, Acknowledge(by="alice"))

        async def declared() -> None:
            state = await state_of(handle)
            assert state.phase == "command", state.phase

        await assert_eventually(declared)
        await skipping_env.sleep(30 * MINUTE - 2 * SECOND)
        state = await state_of(handle)
        assert "engineering-team-lead" not in state.escalated_to
        await skipping_env.sleep(3 * SECOND)

        async def escalated() -> None:
            state = await state_of(handle)
            assert "engineering-team-lead" in state.escalated_to

        await assert_eventually(escalated)
        assert sink.count("escalation") == 1
