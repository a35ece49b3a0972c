"""`kubectl top` and node allocation: the emulator's metrics API and Node status against the real
kubectl, and the kube_resource_usage activity reading them over HTTP with the official client."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client
from temporalio.testing import ActivityEnvironment

from activities.kubernetes import KubeActivities, KubeGateway, KubeSettings
from sandbox.cluster import RunningCluster, load_scenario, serve
from tests.kubernetes.conftest import KUBECTL
from warroom.contracts.kubernetes import ResourceUsageRequest
from warroom.policy.diagnosis import Findings, diagnose
from warroom.runbook import load_runbook
from workflows._cluster_checks import resource_signals

pytestmark = pytest.mark.system("kubectl")

NS = "shop"
SCENARIO = {
    "name": "usage",
    "tick_seconds": 0.02,
    "node": "node-a",
    "node_status": {
        "capacity": {"cpu": "4", "memory": "8Gi", "pods": "110"},
        "allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"},
        "pressure": ["MemoryPressure"],
    },
    "defaults": {"start_seconds": 0.02, "ready_seconds": 0.05},
    "images": {"example.com/hot:v1": {"cpu_millicores": 480, "memory_mib": 200}},
    "namespaces": [NS],
    "deployments": [
        {
            "name": "hot",
            "namespace": NS,
            "replicas": 3,
            "resources": {
                "requests": {"cpu": "1", "memory": "1Gi"},
                "limits": {"cpu": "500m", "memory": "256Mi"},
            },
            "history": [{"image": "example.com/hot:v1", "at": "-1h"}],
        },
        {"name": "calm", "namespace": NS, "replicas": 1, "history": [{"image": "example.com/calm:v1", "at": "-1h"}]},
    ],
}


@pytest.fixture
def usage_cluster(tmp_path: Path) -> Iterator[RunningCluster]:
    """Once every pod runs (metrics-server reports running containers only)."""
    with serve(load_scenario(SCENARIO)) as running:
        gw = gateway_for(running, tmp_path)
        try:
            running.cluster.wait_for(lambda: len(gw.resource_usage(ResourceUsageRequest(namespace=NS)).containers) == 4)
        finally:
            gw.close()
        yield running


def gateway_for(running: RunningCluster, where: Path) -> KubeGateway:
    config = running.write_kubeconfig(where / "gateway-kubeconfig", namespace=NS)
    return KubeGateway.from_settings(KubeSettings(kubeconfig=str(config), qps=500, burst=100))


def kubectl(running: RunningCluster, tmp_path: Path, *args: str) -> str:
    assert KUBECTL is not None
    config = running.write_kubeconfig(tmp_path / "kubeconfig", namespace=NS)
    done = subprocess.run(
        [KUBECTL, "--kubeconfig", str(config), "--cache-dir", str(tmp_path / "cache"), *args],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_kubectl_top_and_describe_node_read_the_emulator(usage_cluster: RunningCluster, tmp_path: Path) -> None:
    pods = kubectl(usage_cluster, tmp_path, "top", "pods", "-l", "app=hot", "--no-headers").splitlines()
    assert len(pods) == 3 and all(line.split()[1:] == ["480m", "200Mi"] for line in pods)
    nodes = kubectl(usage_cluster, tmp_path, "top", "nodes", "--no-headers").split()
    assert nodes[:2] == ["node-a", f"{3 * 480 + 5 + 100}m"]  # three hot pods, calm's 5m, the node's own 100m
    described = kubectl(usage_cluster, tmp_path, "describe", "node", "node-a")
    assert "MemoryPressure   True" in described and "KubeletHasInsufficientMemory" in described
    allocated = described.split("Allocated resources:")[1]
    assert [line.split()[:3] for line in allocated.splitlines() if line.strip().startswith(("cpu", "memory"))] == [
        ["cpu", "3", "(75%)"],
        ["memory", "3Gi", "(37%)"],
    ]
    assert kubectl(usage_cluster, tmp_path, "get", "nodes", "--no-headers").split()[:2] == ["node-a", "Ready"]


def test_the_activity_reads_usage_against_limits_and_the_node_s_allocation(
    usage_cluster: RunningCluster, tmp_path: Path
) -> None:
    gw = gateway_for(usage_cluster, tmp_path)
    try:
        acts = KubeActivities(gw)
        report = ActivityEnvironment().run(acts.resource_usage, ResourceUsageRequest(namespace=NS, deployment="hot"))
        assert report.metrics_available and report.selector == "app=hot" and len(report.containers) == 3
        c = report.containers[0]
        assert (c.cpu_millicores, c.cpu_limit_millicores, c.cpu_percent_of_limit) == (480.0, 500.0, 96.0)
        assert (c.memory_bytes, c.memory_limit_bytes, c.memory_percent_of_limit) == (200 * 2**20, 256 * 2**20, 78.1)
        [node] = report.nodes
        assert (node.name, node.ready, node.pressure, node.pods) == ("node-a", True, ["MemoryPressure"], 4)
        assert (node.cpu_requests_percent, node.memory_requests_percent) == (75.0, 37.5)
        limits = load_runbook().kubernetes_checks
        d = diagnose(Findings(error_class="5xx", resources=resource_signals(report, limits)))
        assert d.hypothesis == "a node running the service is under pressure"
        assert d.evidence[0] == "node conditions: node-a: MemoryPressure"

        # The kubelet reports the pressure gone: what is left is the pods at their CPU limit.
        body = {"status": {"conditions": [{"type": "MemoryPressure", "status": "False"}]}}
        client.CoreV1Api(gw.api_client).patch_node_status("node-a", body)
        report = ActivityEnvironment().run(acts.resource_usage, ResourceUsageRequest(namespace=NS, deployment="hot"))
        d = diagnose(Findings(error_class="5xx", resources=resource_signals(report, limits)))
        assert d.hypothesis.startswith("CPU saturation of the service's pods")
        assert d.evidence[0].endswith("uses 96% of its CPU limit (> 90%)")

        # A service without limits cannot be saturated against them; the node still counts.
        calm = ActivityEnvironment().run(acts.resource_usage, ResourceUsageRequest(namespace=NS, deployment="calm"))
        assert [c.cpu_percent_of_limit for c in calm.containers] == [None] and calm.nodes[0].cpu_requests_percent == 75
    finally:
        gw.close()


def test_no_metrics_server_is_said_and_the_nodes_are_still_read(usage_cluster: RunningCluster, tmp_path: Path) -> None:
    usage_cluster.inject_fault(404, path="/apis/metrics.k8s.io/", times=5)
    gw = gateway_for(usage_cluster, tmp_path)
    try:
        report = gw.resource_usage(ResourceUsageRequest(namespace=NS, deployment="hot"))
    finally:
        gw.close()
    assert not report.metrics_available and report.containers == []
    assert report.unavailable[0].startswith("metrics API: ") and report.nodes[0].pressure == ["MemoryPressure"]
