"""Server-side printing: the meta.k8s.io/v1 Table that `kubectl get` asks for (`Accept: ...;as=Table`).

Cells follow kubernetes/pkg/printers/internalversion/printers.go, always in their wide form (the
server does that; kubectl hides priority-1 columns unless `-o wide`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sandbox.cluster.selectors import selector_string
from sandbox.cluster.util import human_duration, parse_time


def _col(name: str, type_: str = "string", priority: int = 0, fmt: str = "", description: str = "") -> dict[str, Any]:
    return {"name": name, "type": type_, "format": fmt, "description": description or name, "priority": priority}


def _age(obj: dict[str, Any], now: float, field: str = "creationTimestamp") -> str:
    ts = parse_time(obj["metadata"].get(field))
    return "<unknown>" if ts is None else human_duration(now - ts)


def _since(value: str | None, now: float) -> str:
    ts = parse_time(value)
    return "<unknown>" if ts is None else human_duration(now - ts)


def _pod_row(pod: dict[str, Any], now: float) -> list[Any]:
    status = pod.get("status") or {}
    reason = status.get("reason") or status.get("phase") or ""
    restarts, ready_count, last_restart = 0, 0, None
    has_running = False
    for c in reversed(status.get("containerStatuses") or []):
        restarts += c.get("restartCount", 0)
        finished = ((c.get("lastState") or {}).get("terminated") or {}).get("finishedAt")
        if finished and (last_restart is None or finished > last_restart):
            last_restart = finished
        state = c.get("state") or {}
        if (state.get("waiting") or {}).get("reason"):
            reason = state["waiting"]["reason"]
        elif (state.get("terminated") or {}).get("reason"):
            reason = state["terminated"]["reason"]
        elif "terminated" in state:
            term = state["terminated"]
            reason = f"Signal:{term['signal']}" if term.get("signal") else f"ExitCode:{term.get('exitCode', 0)}"
        elif c.get("ready") and "running" in state:
            has_running = True
            ready_count += 1
    if reason == "Completed" and has_running:
        reason = "Running"
    if pod["metadata"].get("deletionTimestamp"):
        reason = "Terminating"
    restarts_text = str(restarts)
    if restarts and last_restart:
        restarts_text = f"{restarts} ({_since(last_restart, now)} ago)"
    total = len(pod["spec"].get("containers") or [])
    return [
        pod["metadata"]["name"],
        f"{ready_count}/{total}",
        reason,
        restarts_text,
        _age(pod, now),
        status.get("podIP") or "<none>",
        pod["spec"].get("nodeName") or "<none>",
        status.get("nominatedNodeName") or "<none>",
        "<none>",
    ]


def _containers(spec: dict[str, Any]) -> tuple[str, str]:
    containers = (spec.get("template") or {}).get("spec", {}).get("containers") or []
    return ",".join(c["name"] for c in containers), ",".join(c.get("image", "") for c in containers)


def _deployment_row(d: dict[str, Any], now: float) -> list[Any]:
    s = d.get("status") or {}
    names, images = _containers(d["spec"])
    return [
        d["metadata"]["name"],
        f"{s.get('readyReplicas', 0)}/{d['spec'].get('replicas', 0)}",
        s.get("updatedReplicas", 0),
        s.get("availableReplicas", 0),
        _age(d, now),
        names,
        images,
        selector_string(d["spec"].get("selector")),
    ]


def _replica_set_row(rs: dict[str, Any], now: float) -> list[Any]:
    s = rs.get("status") or {}
    names, images = _containers(rs["spec"])
    return [
        rs["metadata"]["name"],
        rs["spec"].get("replicas", 0),
        s.get("replicas", 0),
        s.get("readyReplicas", 0),
        _age(rs, now),
        names,
        images,
        selector_string(rs["spec"].get("selector")),
    ]


def _event_row(e: dict[str, Any], now: float) -> list[Any]:
    first = _since(e.get("firstTimestamp") or e.get("eventTime"), now)
    last = _since(e["lastTimestamp"], now) if e.get("lastTimestamp") else first
    involved = e.get("involvedObject") or {}
    target = (
        f"{involved.get('kind', '').lower()}/{involved['name']}"
        if involved.get("name")
        else involved.get("kind", "").lower()
    )
    source = e.get("source") or {}
    source_text = ", ".join(x for x in (source.get("component"), source.get("host")) if x) or e.get(
        "reportingComponent", ""
    )
    return [
        last,
        e.get("type", ""),
        e.get("reason", ""),
        target,
        involved.get("fieldPath", ""),
        source_text,
        (e.get("message") or "").strip(),
        first,
        e.get("count") or 1,
        e["metadata"]["name"],
    ]


def _namespace_row(ns: dict[str, Any], now: float) -> list[Any]:
    return [ns["metadata"]["name"], (ns.get("status") or {}).get("phase", "Active"), _age(ns, now)]


_NAME = _col("Name", fmt="name", description="Name must be unique within a namespace.")
PRINTERS: dict[str, tuple[list[dict[str, Any]], Callable[[dict[str, Any], float], list[Any]]]] = {
    "Pod": (
        [
            _NAME,
            _col("Ready"),
            _col("Status"),
            _col("Restarts"),
            _col("Age"),
            _col("IP", priority=1),
            _col("Node", priority=1),
            _col("Nominated Node", priority=1),
            _col("Readiness Gates", priority=1),
        ],
        _pod_row,
    ),
    "Deployment": (
        [
            _NAME,
            _col("Ready"),
            _col("Up-to-date", "integer"),
            _col("Available", "integer"),
            _col("Age"),
            _col("Containers", priority=1),
            _col("Images", priority=1),
            _col("Selector", priority=1),
        ],
        _deployment_row,
    ),
    "ReplicaSet": (
        [
            _NAME,
            _col("Desired", "integer"),
            _col("Current", "integer"),
            _col("Ready", "integer"),
            _col("Age"),
            _col("Containers", priority=1),
            _col("Images", priority=1),
            _col("Selector", priority=1),
        ],
        _replica_set_row,
    ),
    "Event": (
        [
            _col("Last Seen"),
            _col("Type"),
            _col("Reason"),
            _col("Object"),
            _col("Subobject", priority=1),
            _col("Source", priority=1),
            _col("Message"),
            _col("First Seen", priority=1),
            _col("Count", "integer", priority=1),
            _col("Name", priority=1),
        ],
        _event_row,
    ),
    "Namespace": ([_NAME, _col("Status"), _col("Age")], _namespace_row),
    "Node": (
        [
            _NAME,
            _col("Status"),
            _col("Roles"),
            _col("Age"),
            _col("Version"),
            _col("Internal-IP", priority=1),
            _col("External-IP", priority=1),
            _col("OS-Image", priority=1),
            _col("Kernel-Version", priority=1),
            _col("Container-Runtime", priority=1),
        ],
        lambda o, t: _node_row(o, t),
    ),
}


def _node_row(node: dict[str, Any], now: float) -> list[Any]:
    """printNode: Ready or NotReady, SchedulingDisabled when cordoned; roles from node-role labels."""
    status = node.get("status") or {}
    ready = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), None)
    state = "Ready" if ready and ready.get("status") == "True" else "NotReady" if ready else "Unknown"
    if (node.get("spec") or {}).get("unschedulable"):
        state += ",SchedulingDisabled"
    prefix = "node-role.kubernetes.io/"
    roles = sorted(k[len(prefix) :] for k in (node["metadata"].get("labels") or {}) if k.startswith(prefix))
    addresses = {a["type"]: a["address"] for a in status.get("addresses") or []}
    info = status.get("nodeInfo") or {}
    return [
        node["metadata"]["name"],
        state,
        ",".join(roles) or "<none>",
        _age(node, now),
        info.get("kubeletVersion", ""),
        addresses.get("InternalIP", "<none>"),
        addresses.get("ExternalIP", "<none>"),
        info.get("osImage", "<unknown>"),
        info.get("kernelVersion", "<unknown>"),
        info.get("containerRuntimeVersion", "<unknown>"),
    ]


def _partial(obj: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj["metadata"]}


def table(
    kind: str,
    items: list[dict[str, Any]],
    now: float,
    resource_version: str,
    include_object: str = "Metadata",
    table_version: str = "v1",
) -> dict[str, Any]:
    columns, row = PRINTERS.get(kind) or ([_NAME, _col("Age")], lambda o, t: [o["metadata"]["name"], _age(o, t)])
    rows = []
    for obj in items:
        entry: dict[str, Any] = {"cells": row(obj, now)}
        if include_object == "Object":
            entry["object"] = obj
        elif include_object != "None":
            entry["object"] = _partial(obj)
        rows.append(entry)
    return {
        "kind": "Table",
        "apiVersion": f"meta.k8s.io/{table_version}",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": columns,
        "rows": rows,
    }
