"""Safe to retry, on a real Temporal server: the rollback's PATCH is applied but its reply is lost
(503), Temporal retries with the last heartbeat, and the second attempt finds the template already
restored — one rollback, not an undo of the undo."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from activities.kubernetes import KubeActivities, KubeGateway
from sandbox.cluster import RunningCluster
from sandbox.cluster.resources import DEPLOYMENTS
from tests.kubernetes.conftest import NS
from warroom.contracts.kubernetes import RollbackRequest, RollbackResult


@workflow.defn(sandboxed=False)
class RollbackOnce:
    @workflow.run
    async def run(self, req: RollbackRequest) -> RollbackResult:
        return await workflow.execute_activity(
            "kube_rollback",
            req,
            result_type=RollbackResult,
            start_to_close_timeout=timedelta(seconds=30),
            heartbeat_timeout=timedelta(seconds=10),
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=100), maximum_attempts=3),
        )


async def test_a_lost_reply_is_retried_into_a_no_op(
    dev_env: WorkflowEnvironment, running: RunningCluster, gateway: KubeGateway
) -> None:
    running.inject_fault(503, method="PATCH", path="/deployments/web$", lost_response=True)
    queue = f"kube-{uuid.uuid4().hex[:8]}"
    with ThreadPoolExecutor(max_workers=4) as pool:
        async with Worker(
            dev_env.client,
            task_queue=queue,
            workflows=[RollbackOnce],
            activities=KubeActivities(gateway).all(),
            activity_executor=pool,
            workflow_runner=UnsandboxedWorkflowRunner(),
        ):
            result = await dev_env.client.execute_workflow(
                RollbackOnce.run,
                RollbackRequest(namespace=NS, deployment="web", expected_revision=3),
                id=f"rollback-{queue}",
                task_queue=queue,
            )
    # By the retry the controller has renumbered the restored ReplicaSet (2 → 4), as it does for kubectl.
    assert (result.outcome, result.resumed_attempt, result.target_revision) == ("skipped", True, 4)
    assert result.images_after == {"app": "example.com/web:v2"}
    patches = [r for r in running.requests if r.method == "PATCH"]
    assert len(patches) == 1, "the retry wrote nothing"
    image = running.cluster.get(DEPLOYMENTS, NS, "web")["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == "example.com/web:v2"
