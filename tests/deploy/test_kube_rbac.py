"""The worker's Role grants exactly what its Kubernetes activities use: every activity the worker
registers runs against the emulator (reads, previews as server dry runs, rollback, restart, scale,
pause/resume, logs, events, usage), the emulator records each request as the authorizer sees it
(verb, group, resource/subresource, namespace), and that set must equal the rendered RBAC:
a permission missing fails by name, and so does one granted but never used."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.activity import _Definition
from temporalio.testing import ActivityEnvironment

from activities.kubernetes import KubeActivities, KubeGateway, KubeSettings
from sandbox.cluster import SCENARIOS, RunningCluster, load_scenario, serve
from sandbox.cluster.authz import Attributes, from_activities
from sandbox.cluster.resources import DEPLOYMENTS
from tests.deploy.kube_manifests import (
    TARGET_NAMESPACE,
    Grant,
    differences,
    needed,
    render,
    worker_grants,
)
from warroom.contracts.kubernetes import (
    EventsRequest,
    LogsRequest,
    MigrationCheckRequest,
    PodHealthRequest,
    ResourceUsageRequest,
    RollbackRequest,
    RolloutStatusRequest,
    ScaleRequest,
)
from warroom.contracts.steps import KubeStepRequest
from warroom.models import DeploymentTarget
from warroom.settings import Settings
from warroom.worker import kube_from_settings

pytestmark = pytest.mark.system("kubectl")
NS = "production"  # the order-api scenario's namespace
assert NS == TARGET_NAMESPACE


def name_of(fn: Callable[..., Any]) -> str:
    return _Definition.must_from_callable(fn).name


def settled(cluster: RunningCluster, name: str) -> None:
    """Wait (reading the emulator's state, not over HTTP) until the Deployment controller has seen
    the last write, so the next preview and its apply see the same revision."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        d = cluster.cluster.get(DEPLOYMENTS, NS, name)
        if (d.get("status") or {}).get("observedGeneration") == d["metadata"].get("generation"):
            return
        time.sleep(0.05)
    raise AssertionError(f"deployment {name} did not settle")


@pytest.fixture(scope="module")
def cluster() -> Iterator[RunningCluster]:
    with serve(load_scenario(SCENARIOS / "order-api.yaml")) as running:
        yield running


@pytest.fixture(scope="module")
def kubeconfig(cluster: RunningCluster, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return cluster.write_kubeconfig(tmp_path_factory.mktemp("rbac") / "kubeconfig", namespace=NS)


@pytest.fixture(scope="module")
def exercised(cluster: RunningCluster, kubeconfig: Path) -> list[Attributes]:
    """Run every activity the worker registers, with realistic inputs; the requests they sent."""
    registered = {name_of(fn) for fn in kube_from_settings(Settings(kubeconfig=kubeconfig)) or []}
    gateway = KubeGateway.from_settings(KubeSettings(kubeconfig=str(kubeconfig), qps=500, burst=100))
    acts = {name_of(fn): fn for fn in KubeActivities(gateway).all()}
    assert set(acts) == registered
    ran: set[str] = set()
    before = len(cluster.requests)

    def run(name: str, req: Any) -> Any:
        env = ActivityEnvironment()
        env.info = dataclasses.replace(env.info, activity_type=name)
        ran.add(name)
        return env.run(acts[name], req)

    target = DeploymentTarget(namespace=NS, deployment="order-api")
    try:
        run("kube_pod_health", PodHealthRequest(namespace=NS, deployment="payments"))
        run("kube_pod_health", PodHealthRequest(namespace=NS, labels={"app": "order-api"}))
        run("kube_events", EventsRequest(namespace=NS, deployment="payments", include_nodes=True))
        run("kube_events", EventsRequest(namespace=NS, kind="Pod", types=["Warning", "Normal"]))
        logs = run("kube_logs", LogsRequest(namespace=NS, deployment="payments"))
        run("kube_logs", LogsRequest(namespace=NS, pod=logs.streams[0].pod, previous=True))
        run("kube_rollout_status", RolloutStatusRequest(namespace=NS, deployment="order-api", wait=False))
        run("kube_rollout_history", target)
        run("kube_recent_deploy", target)
        run("kube_migration_check", MigrationCheckRequest(namespace=NS, deployment="payments"))
        run("kube_resource_usage", ResourceUsageRequest(namespace=NS, deployment="payments"))
        run("kube_scale", ScaleRequest(namespace=NS, deployment="order-api", replicas=4, dry_run=True))
        run("kube_scale", ScaleRequest(namespace=NS, deployment="order-api", replicas=4))
        run("kube_rollback", RollbackRequest(namespace=NS, deployment="order-api", dry_run=True))
        run("kube_rollback", RollbackRequest(namespace=NS, deployment="order-api", idempotency_key="inc-1/rollback"))
        steps: list[dict[str, Any]] = [
            {"action": "restart", "restarted_at": "2026-12-06T23:00:00Z"},
            {"action": "scale", "replicas": 3},
            {"action": "pause-rollout"},
            {"action": "resume-rollout"},
            {"action": "rollback", "idempotency_key": "inc-1/step-2"},
        ]
        for step in steps:
            req = KubeStepRequest(namespace=NS, deployment="order-api", **step)
            settled(cluster, "order-api")
            preview = run("kube_step_preview", req)
            run("kube_step_apply", req.model_copy(update={"expected": preview.observed}))
    finally:
        gateway.close()
    assert ran == registered, f"activities not exercised: {sorted(registered - ran)}"
    return [r.attributes for r in cluster.requests[before:] if r.attributes is not None]


def test_every_request_is_attributed_to_the_activity_that_sent_it(exercised: list[Attributes]) -> None:
    assert exercised and all(r.activity for r in exercised), [str(r) for r in exercised if not r.activity]


def test_the_activities_reach_nodes_metrics_subresources_and_dry_runs(exercised: list[Attributes]) -> None:
    """The inputs above really walk the interesting paths (else the comparison proves little)."""
    perms = {(r.namespace, r.permission) for r in exercised}
    assert ("default", ("", "events", "list")) in perms  # a Node's events
    assert ("", ("", "nodes", "get")) in perms and ("", ("", "pods", "list")) in perms  # describe node
    assert (NS, ("metrics.k8s.io", "pods", "list")) in perms
    assert (NS, ("", "pods/log", "get")) in perms
    assert (NS, ("apps", "deployments/scale", "patch")) in perms


def test_the_role_grants_exactly_what_the_activities_use(exercised: list[Attributes]) -> None:
    used = needed(from_activities(exercised), target=NS)
    assert differences(used, worker_grants(render())) == []


def test_a_missing_or_an_extra_permission_is_named(exercised: list[Attributes]) -> None:
    used = needed(from_activities(exercised), target=NS)
    grants = set(used)  # the exact Role, whatever the manifests hold: this checks the comparison itself
    scale: Grant = (TARGET_NAMESPACE, "apps", "deployments/scale", "patch")
    delete: Grant = (TARGET_NAMESPACE, "apps", "deployments", "delete")
    assert differences(used, grants - {scale}) == [
        "missing from the worker's RBAC: patch deployments/scale.apps in namespace production"
    ]
    assert differences(used, grants | {delete}) == [
        "granted but never used by an activity: delete deployments.apps in namespace production"
    ]
