"""`kubectl top pods` against the pods' limits, and `kubectl describe node`'s "Allocated resources"
and conditions for the nodes those pods run on, as data."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from kubernetes import client
from kubernetes.utils.quantity import parse_quantity

from activities.kubernetes.client import KubeApi, Obj
from activities.kubernetes.errors import KubeForbidden, KubeNotFound
from warroom.contracts.kubernetes import ContainerUsage, NodeAllocation, ResourceUsageReport, ResourceUsageRequest

PRESSURE = ("MemoryPressure", "DiskPressure", "PIDPressure")


def quantity(value: Any) -> Decimal | None:
    """A resource quantity ("250m", "1Gi", "1234567n"), or None when absent or malformed."""
    if value in (None, ""):
        return None
    try:
        return Decimal(parse_quantity(value))  # type: ignore[no-untyped-call, unused-ignore]
    except ValueError:
        return None


def _percent(used: float, of: float | None) -> float | None:
    return round(100.0 * used / of, 1) if of else None


def pod_requests(pod: Obj) -> tuple[Decimal, Decimal]:
    """The pod's effective CPU and memory requests, as the scheduler and `describe node` count them:
    the larger of the containers' sum and any one init container, plus the pod's overhead."""
    spec = pod.get("spec") or {}

    def of(container: Obj, name: str) -> Decimal:
        return quantity(((container.get("resources") or {}).get("requests") or {}).get(name)) or Decimal(0)

    totals = []
    for name in ("cpu", "memory"):
        main = sum((of(c, name) for c in spec.get("containers") or []), Decimal(0))
        init = max((of(c, name) for c in spec.get("initContainers") or []), default=Decimal(0))
        overhead = quantity((spec.get("overhead") or {}).get(name)) or Decimal(0)
        totals.append(max(main, init) + overhead)
    return totals[0], totals[1]


class Usage(KubeApi):
    def resource_usage(self, req: ResourceUsageRequest) -> ResourceUsageReport:
        selector = self._selector(req.namespace, req.deployment, req.labels)
        pods = self._pods(req.namespace, selector)
        report = ResourceUsageReport(namespace=req.namespace, selector=selector, metrics_available=False)
        metrics: Any = {"items": []}
        try:
            metrics = self._call(
                client.CustomObjectsApi(self.api_client).list_namespaced_custom_object,
                "metrics.k8s.io",
                "v1beta1",
                req.namespace,
                "pods",
                label_selector=selector or None,
            )
            report.metrics_available = True
        except (KubeNotFound, KubeForbidden) as exc:  # no metrics-server, or no right to read it
            report.unavailable.append(f"metrics API: {exc}")
        by_pod = {p["metadata"]["name"]: p for p in pods}
        for item in metrics.get("items") or []:
            pod = by_pod.get(item["metadata"]["name"])
            if pod is not None:
                report.containers.extend(self._container_usage(pod, item))
        for node in sorted({p["spec"].get("nodeName") for p in pods if (p.get("spec") or {}).get("nodeName")}):
            try:
                report.nodes.append(self._node_allocation(node))
            except (KubeNotFound, KubeForbidden) as exc:
                report.unavailable.append(f"node {node}: {exc}")
        return report

    @staticmethod
    def _container_usage(pod: Obj, metrics: Obj) -> list[ContainerUsage]:
        specs = {c["name"]: c for c in pod["spec"].get("containers") or []}
        found = []
        for c in metrics.get("containers") or []:
            limits = ((specs.get(c["name"]) or {}).get("resources") or {}).get("limits") or {}
            cpu = float(quantity(c.get("usage", {}).get("cpu")) or 0) * 1000
            memory = int(quantity(c.get("usage", {}).get("memory")) or 0)
            cpu_limit = quantity(limits.get("cpu"))
            memory_limit = quantity(limits.get("memory"))
            found.append(
                ContainerUsage(
                    pod=pod["metadata"]["name"],
                    container=c["name"],
                    node=pod["spec"].get("nodeName"),
                    cpu_millicores=round(cpu, 3),
                    memory_bytes=memory,
                    cpu_limit_millicores=float(cpu_limit) * 1000 if cpu_limit is not None else None,
                    memory_limit_bytes=int(memory_limit) if memory_limit is not None else None,
                    cpu_percent_of_limit=_percent(cpu, float(cpu_limit) * 1000 if cpu_limit else None),
                    memory_percent_of_limit=_percent(memory, float(memory_limit) if memory_limit else None),
                )
            )
        return found

    def _node_allocation(self, name: str) -> NodeAllocation:
        node = self._json(self._call(self.core.read_node, name))
        status = node.get("status") or {}
        conditions = {c["type"]: c.get("status", "Unknown") for c in status.get("conditions") or []}
        allocatable = status.get("allocatable") or {}
        cpu_alloc = float(quantity(allocatable.get("cpu")) or 0) * 1000
        memory_alloc = int(quantity(allocatable.get("memory")) or 0)
        # kubectl describe node: the node's non-terminated pods, in every namespace.
        listed = self._call(
            self.core.list_pod_for_all_namespaces,
            field_selector=f"spec.nodeName={name},status.phase!=Succeeded,status.phase!=Failed",
            limit=self.settings.list_limit,
        )
        cpu_req, memory_req = Decimal(0), Decimal(0)
        for pod in (self._json(p) for p in listed.items or []):
            cpu, memory = pod_requests(pod)
            cpu_req, memory_req = cpu_req + cpu, memory_req + memory
        return NodeAllocation(
            name=name,
            ready=conditions.get("Ready") == "True",
            conditions=conditions,
            pressure=[t for t in PRESSURE if conditions.get(t) == "True"],
            pods=len(listed.items or []),
            allocatable_cpu_millicores=cpu_alloc,
            allocatable_memory_bytes=memory_alloc,
            cpu_requests_millicores=float(cpu_req) * 1000,
            memory_requests_bytes=int(memory_req),
            cpu_requests_percent=_percent(float(cpu_req) * 1000, cpu_alloc),
            memory_requests_percent=_percent(float(memory_req), memory_alloc),
        )
