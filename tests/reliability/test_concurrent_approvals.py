"""Two ICs' consoles approve the same proposed rollback at the same instant: one approval is
accepted, the other is told the step is already decided, and exactly one PATCH reaches the cluster."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from tests.rig import GOOD, live_rig, p1_on_order_api, rig_runbook, timeline_has, wait_for
from warroom.config import ExplicitApproval
from warroom.enums import Update
from warroom.models import StepDecision, UpdateResult

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.system("prometheus"),
]


async def test_two_concurrent_ic_approvals_make_one_rollback(dev_env: WorkflowEnvironment, tmp_path: Path) -> None:
    runbook = rig_runbook(
        require_approval_for=ExplicitApproval(services=["order-api"])
    )  # no veto window: the IC decides
    async with live_rig(tmp_path / "rig") as rig:
        await rig.deploy_bad()
        async with rig.in_process_worker(dev_env.client, tmp_path, runbook) as harness:
            handle = await harness.start(p1_on_order_api(runbook))
            state = await timeline_has(handle, "step_previewed", 60)  # both consoles show the dry run
            step = next(s for s in state.steps if s.action == "rollback")
            assert step.status == "pending" and step.auto_approve_at is None and step.preview_digest

            outcomes = await asyncio.gather(
                *(
                    handle.execute_update(
                        Update.APPROVE,
                        StepDecision(
                            step_id=step.step_id, by="alice", reason=f"console {i}", preview=step.preview_digest
                        ),
                        result_type=UpdateResult,
                    )
                    for i in (1, 2)
                ),
                return_exceptions=True,
            )
            accepted = [o for o in outcomes if isinstance(o, UpdateResult)]
            refused = [o for o in outcomes if isinstance(o, WorkflowUpdateFailedError)]
            assert len(accepted) == 1 and len(refused) == 1, outcomes
            assert refused[0].cause.type == "StepDecided"  # type: ignore[union-attr]

            state = await timeline_has(handle, "step_mitigation", 90)  # rolled back, rollout complete
            await wait_for(rig.image, lambda image: image == GOOD, 10)
            print(
                f"\n[reliability] 2 concurrent IC approvals: {len(accepted)} accepted, {len(refused)} refused "
                f"(StepDecided); rollback PATCHes at the API: {rig.rollback_patches()}"
            )
            assert rig.rollback_patches() == 1
            decided = next(s for s in state.steps if s.step_id == step.step_id)
            assert decided.decided_by == "alice" and decided.status == "done"
