"""Catalog steps end to end on a real Temporal dev server, against the API emulator over HTTP: a
person proposes `restart`, the IC approves the dry run's digest, the restart lands once and its
rollout is verified; a preview the world has moved past is refused and made afresh."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from activities.kubernetes import KubeActivities, KubeGateway
from sandbox.cluster import RunningCluster
from sandbox.cluster.resources import DEPLOYMENTS
from tests.helpers import Harness, running_worker, state_of
from tests.kubernetes.conftest import NS
from tests.steps_support import approve, commanding, finished, propose, step_where
from warroom.models import DeploymentTarget

pytestmark = pytest.mark.e2e

WEB = DeploymentTarget(namespace=NS, deployment="web")


@pytest.fixture
async def harness(dev_env: WorkflowEnvironment, gateway: KubeGateway, tmp_path: Path) -> AsyncIterator[Harness]:
    async with running_worker(dev_env.client, tmp_path, kube_activities=KubeActivities(gateway).all()) as harness:
        yield harness


def writes(running: RunningCluster, since: int) -> list[Any]:
    """Real writes to the web Deployment (dry runs excluded)."""
    return [
        r
        for r in running.requests[since:]
        if r.method == "PATCH" and "deployments/web" in r.path and "dryRun" not in r.query
    ]


async def test_a_restart_is_approved_on_its_dry_run_and_lands_once(harness: Harness, running: RunningCluster) -> None:
    handle = await commanding(harness, target=WEB)
    mark = len(running.requests)
    step_id = await propose(handle, "restart")
    step = await step_where(handle, step_id, lambda s: s.preview is not None)
    assert step.preview is not None and step.params == {"namespace": NS, "deployment": "web"}
    [change] = [c for c in step.preview.changes if "restartedAt" in c.path]
    assert change.before in (None, "", "—") or change.before != change.after
    assert writes(running, mark) == [], "the preview is a dry run"
    dry = [r for r in running.requests[mark:] if r.method == "PATCH" and "dryRun" in r.query]
    assert len(dry) == 1 and "dryRun=All" in dry[0].query

    await approve(handle, step_id, step.preview_digest, "pods wedged")
    done = await finished(handle, step_id)
    assert done.status == "done", done.result
    assert done.result == "deployment.apps/web restarted"
    assert done.verification and done.verification.startswith("passed"), done.verification
    [write] = writes(running, mark)
    annotations = write.body["spec"]["template"]["metadata"]["annotations"]
    assert annotations["kubectl.kubernetes.io/restartedAt"] == done.decided_at.strftime("%Y-%m-%dT%H:%M:%SZ")  # type: ignore[union-attr]
    state = await state_of(handle)
    kinds = [e.kind for e in state.timeline if e.data.get("step_id") == step_id]
    assert kinds[:5] == ["step_proposed", "step_previewed", "step_approved", "step_started", "step_done"]
    assert "rollout_status" in kinds
    assert harness.sink.count("step_result") == 1


async def test_a_preview_the_world_has_moved_past_is_refused_and_made_afresh(
    harness: Harness, running: RunningCluster
) -> None:
    handle = await commanding(harness, target=WEB)
    mark = len(running.requests)
    step_id = await propose(handle, "scale", replicas=5)
    first = await step_where(handle, step_id, lambda s: s.preview is not None)
    assert first.preview is not None
    # Someone ships a new image after the IC looked: a new revision the preview never showed.
    running.cluster.set_image(NS, "web", "example.com/web:v4", change_cause="deploy web v4")
    await approve(handle, step_id, first.preview_digest, "more capacity")
    fresh = await step_where(
        handle, step_id, lambda s: s.status == "pending" and s.preview_digest not in (None, first.preview_digest)
    )
    assert fresh.preview is not None and fresh.preview.observed != first.preview.observed
    state = await state_of(handle)
    [stale] = [e for e in state.timeline if e.kind == "step_stale"]
    assert "revision" in stale.message and "since the preview" in stale.message
    replicas = running.cluster.get(DEPLOYMENTS, NS, "web")["spec"]["replicas"]
    assert replicas != 5 and not [w for w in writes(running, mark) if "scale" in w.path], "nothing was scaled"

    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await approve(handle, step_id, first.preview_digest, "again")
    assert refused.value.cause.type == "PreviewChanged"  # type: ignore[union-attr]
    await approve(handle, step_id, fresh.preview_digest, "seen v4 too")
    done = await finished(handle, step_id)
    assert done.status == "done", done.result
    assert running.cluster.get(DEPLOYMENTS, NS, "web")["spec"]["replicas"] == 5
    assert len([w for w in writes(running, mark) if "scale" in w.path]) == 1
    assert json.dumps(done.approvals[-1].preview) == json.dumps(fresh.preview_digest)
