"""The Resolve rule end to end: a real deploy on the sandbox cluster raises the error rate a real
Prometheus measures; warroom proposes the rollback with its evidence, honours the IC's veto, rolls
back like `kubectl rollout undo` when nobody objects, and calls it mitigated after clean metrics."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from activities.metrics import PrometheusSource
from tests.helpers import state_of
from tests.rig import BAD, GOOD, MIGRATING, PROMETHEUS, Rig, live_rig, timeline_has, wait_for
from tests.rig import p1_on_order_api as p1
from tests.rig import rig_runbook as runbook
from warroom.models import StepDecision

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(PROMETHEUS is None, reason="needs Debian's `prometheus` (.ci/run installs it)"),
]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def rig(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Rig]:
    async with live_rig(tmp_path_factory.mktemp("rig")) as rig:
        await rig.deploy_bad()
        yield rig


def worker_for(dev_env: WorkflowEnvironment, rig: Rig, tmp_path: Path):
    return rig.in_process_worker(dev_env.client, tmp_path)


async def test_the_ic_can_veto_the_proposed_rollback(dev_env: WorkflowEnvironment, rig: Rig, tmp_path: Path) -> None:
    async with worker_for(dev_env, rig, tmp_path) as harness:
        handle = await harness.start(p1())
        state = await timeline_has(handle, "rollback_rule")
        rule = [e for e in state.timeline if e.kind == "rollback_rule"][0]
        assert rule.message.startswith("rollback rule holds"), rule.message
        state = await timeline_has(handle, "rollback_proposed")
        assert rule.message.startswith("rollback rule holds")
        assert float(rule.data["error_ratio"]) > 0.05 and float(rule.data["baseline_error_ratio"]) == 0.0
        assert BAD in rule.data["images"] and GOOD in rule.data["previous_images"]
        step = [s for s in state.steps if s.action == "rollback"][0]
        await handle.execute_update(
            "deny", StepDecision(step_id=step.step_id, by="alice", reason="the pool change is a fix we need")
        )
        await asyncio.sleep(6)  # past the veto window: nothing may happen now
        state = await state_of(handle)
        assert [s.status for s in state.steps] == ["denied"]
        assert rig.image() == BAD and rig.rollback_patches() == 0
        assert harness.sink.count("rollback_not_indicated") == 1


async def test_silence_through_the_veto_window_rolls_back_and_clean_metrics_mitigate(
    dev_env: WorkflowEnvironment, rig: Rig, tmp_path: Path
) -> None:
    async with worker_for(dev_env, rig, tmp_path) as harness:
        started = time.monotonic()
        handle = await harness.start(p1())
        state = await timeline_has(handle, "rolled_back", 60)
        assert [e.kind for e in state.timeline if e.kind.startswith("rollback")][:3] == [
            "rollback_rule",
            "rollback_proposed",
            "rollback_auto_approved",
        ]
        assert state.steps[0].status == "done" and state.steps[0].decided_by == "warroom"
        state = await timeline_has(handle, "mitigated", 90)
        assert rig.image() == GOOD and rig.rollback_patches() == 1
        assert state.mitigation_action and GOOD in state.mitigation_action
        mitigated = [e for e in state.timeline if e.kind == "mitigated"][0]
        assert "error ratio at baseline" in mitigated.message
        diagnosis = [e for e in state.timeline if e.kind == "diagnosis"][0]
        assert diagnosis.data["path"].startswith("error codes: 5xx → server errors → recent deployment: yes")
        assert "roll back immediately" in diagnosis.message
        print(
            f"\n[resolve] deploy errors → rollback → mitigated in {time.monotonic() - started:.1f}s "
            f"(veto 4s, clean window 8s, rate window 5s)"
        )


async def test_errors_at_baseline_mean_no_rollback(dev_env: WorkflowEnvironment, rig: Rig, tmp_path: Path) -> None:
    """After the rollback the service is healthy again: a new incident finds errors at baseline."""
    source = PrometheusSource(rig.prometheus_url, runbook().metrics)
    await wait_for(lambda: source.error_ratio("order-api"), lambda v: v == 0.0, 30)
    async with worker_for(dev_env, rig, tmp_path) as harness:
        handle = await harness.start(p1())
        state = await timeline_has(handle, "rollback_rule")
        rule = [e for e in state.timeline if e.kind == "rollback_rule"][0]
        assert rule.message.startswith("rollback rule does not hold") and "baseline" in rule.message
        assert not state.steps and rig.rollback_patches() == 1  # still only the one from before


async def test_a_deploy_that_applied_a_db_migration_is_not_rolled_back(
    dev_env: WorkflowEnvironment, rig: Rig, tmp_path: Path
) -> None:
    rig.patch_deployment(
        {
            "metadata": {
                "annotations": {
                    "kubernetes.io/change-cause": "deploy v2.15.0 (orders index)",
                    "warroom.io/db-migration-applied": "2026-11-28-orders-index",
                }
            },
            "spec": {"template": {"spec": {"containers": [{"name": "app", "image": MIGRATING}]}}},
        }
    )
    source = PrometheusSource(rig.prometheus_url, runbook().metrics)
    await wait_for(lambda: source.error_ratio("order-api"), lambda v: v is not None and v > 0.05, 60)
    async with worker_for(dev_env, rig, tmp_path) as harness:
        handle = await harness.start(p1())
        state = await timeline_has(handle, "rollback_rule")
        rule = [e for e in state.timeline if e.kind == "rollback_rule"][0]
        assert rule.message.startswith("rollback rule does not hold") and "db_migration_applied" in rule.message
        await wait_for(lambda: harness.sink.count("rollback_not_indicated"), lambda n: n == 1, 10)
        state = await state_of(handle)
        assert not state.steps and rig.rollback_patches() == 1 and rig.image() == MIGRATING
        assert any(d.kind == "escalate" for d in state.deadlines), "the escalation timer keeps running"
