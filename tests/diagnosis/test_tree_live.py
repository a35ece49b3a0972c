"""The decision tree live: a Command phase on the Temporal dev server diagnoses a Deployment of the
sandbox cluster through the real Kubernetes activities (events, `kubectl top`, node allocation) and
the service's database through the real PostgreSQL playbook."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment

from activities.kubernetes import KubeActivities, KubeGateway, KubeSettings
from sandbox.cluster import RunningCluster, load_scenario, serve
from tests.helpers import free_port, incident_input, patch_markers, running_worker
from tests.rig import timeline_has
from warroom.config import DatabaseChecks, DatabaseTarget, RunbookConfig
from warroom.enums import Phase, Severity
from warroom.ids import phase_workflow_id
from warroom.models import DeploymentTarget
from warroom.patches import taken
from warroom.runbook import load_runbook

pytestmark = pytest.mark.e2e

NS = "production"
SCENARIO = {
    "name": "tree",
    "tick_seconds": 0.05,
    "defaults": {"start_seconds": 0.05, "ready_seconds": 0.1, "logs": ["INFO GET /orders 200"]},
    "images": {
        # Serves 503s and fails its readiness probe; its logs say nothing the seed's grep finds.
        "example.com/probe:v1": {"behavior": "errors", "ready": False, "logs": ["WARN upstream slow"]},
        # Healthy, but at 95% of its CPU limit.
        "example.com/hot:v1": {"cpu_millicores": 95},
    },
    "namespaces": [NS],
    "deployments": [
        {"name": "probe", "namespace": NS, "replicas": 2, "history": [{"image": "example.com/probe:v1", "at": "-3h"}]},
        {
            "name": "hot",
            "namespace": NS,
            "replicas": 2,
            "resources": {"limits": {"cpu": "100m", "memory": "512Mi"}},
            "history": [{"image": "example.com/hot:v1", "at": "-3h"}],
        },
        {"name": "calm", "namespace": NS, "replicas": 1, "history": [{"image": "example.com/calm:v1", "at": "-3h"}]},
    ],
}


@pytest.fixture
def cluster() -> Iterator[RunningCluster]:
    with serve(load_scenario(SCENARIO)) as running:
        yield running


async def test_events_and_kubectl_top_reach_the_diagnosis(
    dev_env: WorkflowEnvironment, cluster: RunningCluster, tmp_path: Path
) -> None:
    config = cluster.write_kubeconfig(tmp_path / "kubeconfig", namespace=NS)
    gateway = KubeGateway.from_settings(KubeSettings(kubeconfig=str(config)))
    async with running_worker(dev_env.client, tmp_path, kube_activities=KubeActivities(gateway).all()) as harness:

        def p2_on(deployment: str, runbook: RunbookConfig | None = None) -> object:
            return incident_input(
                runbook=runbook,
                declared=True,
                declared_by="alice",
                severity=Severity.P2,
                commander="alice",
                target=DeploymentTarget(namespace=NS, deployment=deployment),
            )

        probe = await harness.start(p2_on("probe"))  # type: ignore[arg-type]
        hot = await harness.start(p2_on("hot"))  # type: ignore[arg-type]
        # The runbook names order-api's database; nothing listens where it says the database is.
        base = load_runbook()
        checks = DatabaseChecks(
            databases={"orders-db": DatabaseTarget(port=free_port(), connect_timeout=2)},
            services={"order-api": "orders-db"},
        )
        calm = await harness.start(p2_on("calm", base.model_copy(update={"database_checks": checks})))  # type: ignore[arg-type]
        [found] = [e for e in (await timeline_has(probe, "diagnosis", 90)).timeline if e.kind == "diagnosis"]
        assert found.message.startswith("pods fail their health probes"), found.data
        assert found.data["path"].endswith("service logs") and "× Unhealthy" in found.data["evidence"]
        [found] = [e for e in (await timeline_has(hot, "diagnosis", 90)).timeline if e.kind == "diagnosis"]
        assert found.message.startswith("CPU saturation of the service's pods"), found
        assert "uses 95% of its CPU limit (> 90%)" in found.data["evidence"]

        [found] = [e for e in (await timeline_has(calm, "diagnosis", 120)).timeline if e.kind == "diagnosis"]
        assert found.message.startswith("the database is down or unreachable"), found.data
        assert found.data["path"].endswith("→ dependencies")

        history = await dev_env.client.get_workflow_handle(phase_workflow_id(hot.id, Phase.COMMAND)).fetch_history()
        scheduled = [
            e.activity_task_scheduled_event_attributes.activity_type.name
            for e in history.events
            if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        ]
        assert {"kube_events", "kube_resource_usage"} <= set(scheduled)
        assert {"diagnosis-kubernetes-events", "diagnosis-kubernetes-usage"} <= set(taken(patch_markers(history)))
    gateway.close()
