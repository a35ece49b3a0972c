"""The decision tree's Kubernetes checks against the emulator over HTTP: events, as the tree reads them."""

from __future__ import annotations

from typing import Any

from kubernetes import client
from temporalio.testing import ActivityEnvironment

from activities.kubernetes import KubeActivities, KubeGateway
from sandbox.cluster import RunningCluster
from sandbox.cluster.resources import NODES, PODS
from tests.kubernetes.conftest import NS
from warroom.contracts.kubernetes import EventsRequest
from warroom.policy.diagnosis import Findings, diagnose
from workflows._cluster_checks import event_signals


def run(fn: Any, req: Any) -> Any:
    return ActivityEnvironment().run(fn, req)


def record(
    gateway: KubeGateway, obj: dict[str, Any], reason: str, message: str, count: int = 1, kind: str = "Pod"
) -> None:
    """What the scheduler, the kubelet or node-problem-detector does: POST a core/v1 Event about the
    object (a Node's events go to `default`, as theirs do)."""
    meta = obj["metadata"]
    ns = NS if kind == "Pod" else "default"
    client.CoreV1Api(gateway.api_client).create_namespaced_event(
        ns,
        {
            "metadata": {"name": f"{meta['name']}.{reason.lower()}", "namespace": ns},
            "involvedObject": {"kind": kind, "namespace": ns, "name": meta["name"], "uid": meta["uid"]},
            "reason": reason,
            "message": message,
            "type": "Warning",
            "count": count,
            "firstTimestamp": "2026-01-01T00:00:00Z",
            "lastTimestamp": "2026-01-01T00:00:00Z",
            "source": {"component": "default-scheduler"},
        },
    )


def test_the_kubelet_s_back_off_events_feed_the_tree(gateway: KubeGateway) -> None:
    report = run(KubeActivities(gateway).events, EventsRequest(namespace=NS, deployment="worker", limit=20))
    signals = event_signals(report)
    assert signals.checked and set(signals.reasons) == {"BackOff"} and signals.reasons["BackOff"] > 5
    assert (
        signals.samples[0].startswith("BackOff pod/worker-")
        and "Back-off restarting failed container" in (signals.samples[0])
    )
    d = diagnose(Findings(error_class="5xx", events=signals))
    assert d.hypothesis == "pods are not running" and d.evidence[0].startswith("Kubernetes events: ")


def test_a_failed_scheduling_event_reaches_the_infrastructure_branch(
    gateway: KubeGateway, running: RunningCluster
) -> None:
    web = [p for p in running.cluster.store.list(PODS, NS) if p["metadata"]["name"].startswith("web-")]
    record(gateway, web[0], "FailedScheduling", "0/3 nodes are available: 3 Insufficient memory.", count=4)
    record(gateway, web[1], "FailedMount", 'MountVolume.SetUp failed for volume "data"')
    report = run(KubeActivities(gateway).events, EventsRequest(namespace=NS, deployment="web"))
    signals = event_signals(report)
    assert signals.reasons == {"FailedScheduling": 4, "FailedMount": 1}
    # The request asked the API server for Warning events only, as kubectl's --field-selector does.
    [listed] = [r for r in running.requests if r.path == f"/api/v1/namespaces/{NS}/events"][-1:]
    assert "fieldSelector=type%3DWarning" in listed.query or "fieldSelector=type=Warning" in listed.query
    d = diagnose(Findings(error_class="5xx", events=signals))
    assert d.hypothesis == "pods cannot mount their volumes"
    d = diagnose(Findings(error_class="timeout", events=signals))
    assert (
        d.hypothesis.startswith("pods cannot be scheduled")
        and d.evidence[0] == "Kubernetes events: 4× FailedScheduling"
    )


def test_the_events_of_the_pods_nodes_come_with_include_nodes(gateway: KubeGateway, running: RunningCluster) -> None:
    node = running.cluster.get(NODES, "", running.cluster.scenario.node)
    record(gateway, node, "OOMKilling", "Out of memory: Killed process 4242 (java)", kind="Node")
    acts = KubeActivities(gateway)
    alone = event_signals(run(acts.events, EventsRequest(namespace=NS, deployment="web")))
    assert alone.reasons == {}
    with_nodes = run(acts.events, EventsRequest(namespace=NS, deployment="web", include_nodes=True))
    assert [(e.object, e.reason) for e in with_nodes.events] == [(f"node/{node['metadata']['name']}", "OOMKilling")]
    d = diagnose(Findings(error_class="5xx", events=event_signals(with_nodes)))
    assert d.hypothesis == "memory leak or undersized memory limit"
    assert d.evidence == [
        "Kubernetes events: 1× OOMKilling",
        f"OOMKilling node/{node['metadata']['name']}: Out of memory: Killed process 4242 (java)",
    ]
