"""Rollback parity: from the same cluster state, `kubectl rollout undo` and warroom's rollback send the
same single JSON Patch and leave the same Deployment spec and annotations — and, once the
controllers have acted, the same revisions. Each case runs kubectl, restores the snapshot taken
before it, then runs warroom (controllers held in between, so both start from identical objects)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from activities.kubernetes import KubeError, KubeGateway
from sandbox.cluster import RunningCluster
from sandbox.cluster.resources import DEPLOYMENTS
from sandbox.cluster.util import strip_nulls
from tests.kubernetes.conftest import NS, Kubectl
from warroom.contracts.kubernetes import RollbackRequest, RollbackResult

pytestmark = pytest.mark.system("kubectl")


@dataclass
class Outcome:
    message: str
    deployment: dict[str, Any]
    patches: list[Any]

    @property
    def written(self) -> dict[str, Any]:
        return {"spec": self.deployment["spec"], "annotations": self.deployment["metadata"].get("annotations", {})}


def _patches(running: RunningCluster, since: int) -> list[Any]:
    return [(r.content_type, r.query, strip_nulls(r.body)) for r in running.requests[since:] if r.method == "PATCH"]


def both(
    running: RunningCluster, kubectl: Kubectl, gateway: KubeGateway, name: str, *args: str, **request: Any
) -> tuple[Outcome, Outcome]:
    cluster = running.cluster
    with cluster.held():
        before = cluster.snapshot()
        mark = len(running.requests)
        result = kubectl("rollout", "undo", f"deployment/{name}", *args)
        message = result.stdout.strip() if result.returncode == 0 else result.stderr.strip()
        by_kubectl = Outcome(message, cluster.get(DEPLOYMENTS, NS, name), _patches(running, mark))
        cluster.restore(before)
        mark = len(running.requests)
        try:
            answer: RollbackResult | KubeError = gateway.rollback(
                RollbackRequest(namespace=NS, deployment=name, **request)
            )
            message = answer.message
        except KubeError as exc:
            message = f"error: {exc}"
        by_warroom = Outcome(message, cluster.get(DEPLOYMENTS, NS, name), _patches(running, mark))
    return by_kubectl, by_warroom


def settled(running: RunningCluster, name: str) -> dict[str, Any]:
    cluster = running.cluster
    cluster.wait_for(lambda: cluster.rollout_complete(NS, name))
    d = cluster.get(DEPLOYMENTS, NS, name)
    sets = {
        rs["metadata"]["name"]: (rs["metadata"]["annotations"], rs["spec"]["replicas"])
        for rs in cluster.replica_sets(NS, name)
    }
    return {"spec": d["spec"], "annotations": d["metadata"]["annotations"], "replica_sets": sets}


def test_undo_to_the_previous_revision(running: RunningCluster, kubectl: Kubectl, gateway: KubeGateway) -> None:
    cluster = running.cluster
    before = cluster.snapshot()
    kubectl_side, warroom_side = both(running, kubectl, gateway, "web")
    assert kubectl_side.message == warroom_side.message == "deployment.apps/web rolled back"
    assert len(kubectl_side.patches) == len(warroom_side.patches) == 1
    assert kubectl_side.patches == warroom_side.patches
    assert kubectl_side.patches[0][0] == "application/json-patch+json"
    assert warroom_side.written == kubectl_side.written
    annotations = warroom_side.written["annotations"]
    assert annotations["kubernetes.io/change-cause"] == "deploy web v2" and annotations["team"] == "storefront"
    assert annotations["kubectl.kubernetes.io/last-applied-configuration"] == '{"kind":"Deployment"}'
    assert warroom_side.written["spec"]["template"]["spec"]["containers"][0]["image"] == "example.com/web:v2"

    # Let the controllers act on each: same revisions, same ReplicaSets, same replica counts.
    warroom_final = settled(running, "web")
    cluster.restore(before)
    assert kubectl("rollout", "undo", "deployment/web").returncode == 0
    kubectl_final = settled(running, "web")
    assert warroom_final == kubectl_final
    assert kubectl_final["annotations"]["deployment.kubernetes.io/revision"] == "4"


def test_undo_to_a_given_revision(running: RunningCluster, kubectl: Kubectl, gateway: KubeGateway) -> None:
    kubectl_side, warroom_side = both(running, kubectl, gateway, "web", "--to-revision=1", to_revision=1)
    assert kubectl_side.message == warroom_side.message == "deployment.apps/web rolled back"
    assert kubectl_side.patches == warroom_side.patches and len(warroom_side.patches) == 1
    assert warroom_side.written == kubectl_side.written
    assert warroom_side.written["annotations"]["kubernetes.io/change-cause"] == "deploy web v1"
    assert "team" not in warroom_side.written["annotations"]


def test_paused_deployment_is_refused_by_both(running: RunningCluster, kubectl: Kubectl, gateway: KubeGateway) -> None:
    untouched = running.cluster.get(DEPLOYMENTS, NS, "frozen")
    kubectl_side, warroom_side = both(running, kubectl, gateway, "frozen")
    assert (
        kubectl_side.message
        == warroom_side.message
        == (
            "error: you cannot rollback a paused deployment; resume it first with 'kubectl rollout resume' and try again"
        )
    )
    assert kubectl_side.patches == warroom_side.patches == []
    assert kubectl_side.deployment == warroom_side.deployment == untouched


def test_template_already_matching_is_a_no_op(running: RunningCluster, kubectl: Kubectl, gateway: KubeGateway) -> None:
    untouched = running.cluster.get(DEPLOYMENTS, NS, "web")
    kubectl_side, warroom_side = both(running, kubectl, gateway, "web", "--to-revision=3", to_revision=3)
    assert (
        kubectl_side.message
        == warroom_side.message
        == "deployment.apps/web skipped rollback (current template already matches revision 3)"
    )
    assert kubectl_side.patches == warroom_side.patches == []
    assert kubectl_side.deployment == warroom_side.deployment == untouched


@pytest.mark.parametrize(
    "name, args, request_fields, message",
    [
        ("web", ["--to-revision=9"], {"to_revision": 9}, "error: unable to find specified revision 9 in history"),
        ("solo", [], {}, 'error: no rollout history found for deployment "solo"'),
    ],
)
def test_missing_history_is_refused_by_both(
    running: RunningCluster,
    kubectl: Kubectl,
    gateway: KubeGateway,
    name: str,
    args: list[str],
    request_fields: dict[str, Any],
    message: str,
) -> None:
    kubectl_side, warroom_side = both(running, kubectl, gateway, name, *args, **request_fields)
    assert kubectl_side.message == warroom_side.message == message
    assert kubectl_side.patches == warroom_side.patches == []


def test_server_dry_run_sends_the_same_patch_and_changes_nothing(
    running: RunningCluster, kubectl: Kubectl, gateway: KubeGateway
) -> None:
    untouched = running.cluster.get(DEPLOYMENTS, NS, "web")
    kubectl_side, warroom_side = both(running, kubectl, gateway, "web", "--dry-run=server", dry_run=True)
    assert kubectl_side.message == warroom_side.message == "deployment.apps/web rolled back (server dry run)"
    assert kubectl_side.patches == warroom_side.patches and "dryRun=All" in warroom_side.patches[0][1]
    assert kubectl_side.deployment == warroom_side.deployment == untouched


def test_past_a_db_migration_warroom_needs_an_override(
    running: RunningCluster, kubectl: Kubectl, gateway: KubeGateway
) -> None:
    """The one intended difference: kubectl rolls back past an applied migration, warroom refuses
    unless told otherwise — and then does exactly what kubectl does."""
    kubectl_side, refused = both(running, kubectl, gateway, "worker")
    assert kubectl_side.message == "deployment.apps/worker rolled back"
    assert refused.message.startswith("error: not rolling back deployment 'worker': DB migration '2024-11-28-jobs-v2'")
    assert refused.patches == []
    kubectl_side, overridden = both(running, kubectl, gateway, "worker", allow_contraindicated=True)
    assert overridden.patches == kubectl_side.patches and overridden.written == kubectl_side.written
    assert "warroom.io/db-migration-applied" not in overridden.written["annotations"]
