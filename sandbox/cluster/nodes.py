"""The node the kubelet runs (a core/v1 Node with capacity, allocatable and the kubelet's
conditions) and the resource metrics API metrics-server serves for `kubectl top`
(`/apis/metrics.k8s.io/v1beta1`: PodMetrics and NodeMetrics, computed from what runs now).

Usage comes from each image's behaviour (`cpu_millicores`, `memory_mib`), for running containers
only, as metrics-server reports what cAdvisor saw in its last window.
"""

from __future__ import annotations

from typing import Any

from sandbox.cluster.controller import NODE_IP
from sandbox.cluster.resources import NODES, PODS
from sandbox.cluster.scenario import Scenario
from sandbox.cluster.selectors import labels_match, parse_label_selector
from sandbox.cluster.store import Store
from sandbox.cluster.util import ApiError, not_found, rfc3339

GROUP, VERSION = "metrics.k8s.io", "v1beta1"
GROUP_VERSION = f"{GROUP}/{VERSION}"
WINDOW = "15s"

_CONDITIONS = {
    # type: (reason when False, message when False, reason when True, message when True)
    "MemoryPressure": (
        "KubeletHasSufficientMemory",
        "kubelet has sufficient memory available",
        "KubeletHasInsufficientMemory",
        "kubelet has insufficient memory available",
    ),
    "DiskPressure": (
        "KubeletHasNoDiskPressure",
        "kubelet has no disk pressure",
        "KubeletHasDiskPressure",
        "kubelet has disk pressure",
    ),
    "PIDPressure": (
        "KubeletHasSufficientPID",
        "kubelet has sufficient PID available",
        "KubeletHasInsufficientPID",
        "kubelet has insufficient PID available",
    ),
}


def node_object(scenario: Scenario, now: float) -> dict[str, Any]:
    """The Node as the kubelet registers it, with the scenario's capacity and pressure."""
    spec = scenario.node_status
    stamp = rfc3339(now)
    conditions = []
    for type_, (ok_reason, ok_message, bad_reason, bad_message) in _CONDITIONS.items():
        pressure = type_ in spec.pressure
        conditions.append(
            {
                "type": type_,
                "status": "True" if pressure else "False",
                "lastHeartbeatTime": stamp,
                "lastTransitionTime": stamp,
                "reason": bad_reason if pressure else ok_reason,
                "message": bad_message if pressure else ok_message,
            }
        )
    conditions.append(
        {
            "type": "Ready",
            "status": "True",
            "lastHeartbeatTime": stamp,
            "lastTransitionTime": stamp,
            "reason": "KubeletReady",
            "message": "kubelet is posting ready status",
        }
    )
    taints = [
        {"key": f"node.kubernetes.io/{t.lower().replace('pressure', '-pressure')}", "effect": "NoSchedule"}
        for t in spec.pressure
    ]
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": scenario.node,
            "labels": {
                "kubernetes.io/hostname": scenario.node,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "beta.kubernetes.io/os": "linux",
                "beta.kubernetes.io/arch": "amd64",
            },
            "annotations": {"node.alpha.kubernetes.io/ttl": "0"},
        },
        "spec": {"podCIDR": "10.244.0.0/24", "podCIDRs": ["10.244.0.0/24"], **({"taints": taints} if taints else {})},
        "status": {
            "capacity": dict(spec.capacity),
            "allocatable": dict(spec.allocatable or spec.capacity),
            "conditions": conditions,
            "addresses": [{"type": "InternalIP", "address": NODE_IP}, {"type": "Hostname", "address": scenario.node}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "machineID": "0" * 32,
                "systemUUID": "00000000-0000-0000-0000-000000000000",
                "bootID": "00000000-0000-0000-0000-000000000001",
                "kernelVersion": "6.1.0-sandbox",
                "osImage": "Sandbox Linux",
                "containerRuntimeVersion": "containerd://1.7.24",
                "kubeletVersion": "v1.32.0",
                "kubeProxyVersion": "v1.32.0",
                "operatingSystem": "linux",
                "architecture": "amd64",
            },
        },
    }


# --- metrics.k8s.io ---------------------------------------------------------------------------


def discovery_group() -> dict[str, Any]:
    entry = {"groupVersion": GROUP_VERSION, "version": VERSION}
    return {"name": GROUP, "versions": [entry], "preferredVersion": entry}


def _resource_list() -> dict[str, Any]:
    def entry(name: str, kind: str, namespaced: bool) -> dict[str, Any]:
        return {"name": name, "singularName": "", "namespaced": namespaced, "kind": kind, "verbs": ["get", "list"]}

    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": GROUP_VERSION,
        "resources": [entry("nodes", "NodeMetrics", False), entry("pods", "PodMetrics", True)],
    }


def _containers(scenario: Scenario, pod: dict[str, Any]) -> list[dict[str, Any]]:
    running = {
        s["name"]
        for s in (pod.get("status") or {}).get("containerStatuses") or []
        if "running" in (s.get("state") or {})
    }
    out = []
    for c in pod["spec"]["containers"]:
        if c["name"] in running:
            b = scenario.behavior_for(c.get("image", ""))
            out.append({"name": c["name"], "usage": _usage(b.cpu_millicores, b.memory_mib)})
    return out


def _usage(millicores: float, mib: float) -> dict[str, str]:
    """As metrics-server writes them: CPU in nanocores, memory in KiB."""
    return {"cpu": f"{round(millicores * 1_000_000)}n", "memory": f"{round(mib * 1024)}Ki"}


def _pod_metrics(scenario: Scenario, pod: dict[str, Any], now: float) -> dict[str, Any] | None:
    containers = _containers(scenario, pod)
    if not containers:
        return None  # metrics-server has nothing for a pod with no running container
    meta = pod["metadata"]
    return {
        "metadata": {
            "name": meta["name"],
            "namespace": meta["namespace"],
            "creationTimestamp": rfc3339(now),
            "labels": dict(meta.get("labels") or {}),
        },
        "timestamp": rfc3339(now - 15),
        "window": WINDOW,
        "containers": containers,
    }


def _node_metrics(scenario: Scenario, store: Store, node: dict[str, Any], now: float) -> dict[str, Any]:
    cpu = memory = 0.0
    for pod in store.view(PODS):
        if pod["spec"].get("nodeName") != node["metadata"]["name"]:
            continue
        for c in _containers(scenario, pod):
            cpu += float(c["usage"]["cpu"][:-1]) / 1_000_000
            memory += float(c["usage"]["memory"][:-2]) / 1024
    status = scenario.node_status
    return {
        "metadata": {
            "name": node["metadata"]["name"],
            "creationTimestamp": rfc3339(now),
            "labels": dict(node["metadata"].get("labels") or {}),
        },
        "timestamp": rfc3339(now - 15),
        "window": WINDOW,
        "usage": _usage(cpu + status.system_cpu_millicores, memory + status.system_memory_mib),
    }


def metrics(
    scenario: Scenario, store: Store, now: float, parts: list[str], label_selector: str | None
) -> dict[str, Any]:
    """Answer a GET under /apis/metrics.k8s.io (`parts` is the path after `apis/`)."""
    if parts == [GROUP]:
        return {"kind": "APIGroup", "apiVersion": "v1", **discovery_group()}
    if parts[:2] != [GROUP, VERSION]:
        raise ApiError(404, "NotFound", "the server could not find the requested resource")
    rest = parts[2:]
    if not rest:
        return _resource_list()
    labels = parse_label_selector(label_selector)
    if rest[0] == "nodes" and len(rest) <= 2:
        nodes = [n for n in store.view(NODES) if labels_match(labels, n["metadata"].get("labels"))]
        if len(rest) == 2:
            node = store.get(NODES, "", rest[1])
            if node is None:
                raise not_found("nodes", rest[1], GROUP)
            return {"kind": "NodeMetrics", "apiVersion": GROUP_VERSION, **_node_metrics(scenario, store, node, now)}
        items = [_node_metrics(scenario, store, n, now) for n in nodes]
        return {"kind": "NodeMetricsList", "apiVersion": GROUP_VERSION, "metadata": {}, "items": items}
    namespace = None
    if rest[0] == "namespaces" and len(rest) >= 3:
        namespace, rest = rest[1], rest[2:]
    if rest[0] != "pods" or len(rest) > 2:
        raise ApiError(404, "NotFound", "the server could not find the requested resource")
    if len(rest) == 2:
        pod = store.get(PODS, namespace or "", rest[1]) if namespace else None
        found = _pod_metrics(scenario, pod, now) if pod is not None else None
        if found is None:
            raise not_found("pods", rest[1], GROUP)
        return {"kind": "PodMetrics", "apiVersion": GROUP_VERSION, **found}
    items = []
    for pod in store.view(PODS, namespace):
        if labels_match(labels, pod["metadata"].get("labels")):
            found = _pod_metrics(scenario, pod, now)
            if found is not None:
                items.append(found)
    return {"kind": "PodMetricsList", "apiVersion": GROUP_VERSION, "metadata": {}, "items": items}
