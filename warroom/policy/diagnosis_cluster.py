"""The decision tree's Kubernetes and database checks, as pure functions `diagnosis.diagnose` calls.

Warning events of the service's objects and nodes (`kubectl get events ... | tail -20`), `kubectl
top pods` against the limits, `kubectl describe node`'s conditions and "Allocated resources", and
the database's replication. Each takes the signals it judges, the evidence list and the tree's
`done`, and returns `done(...)`'s diagnosis when its branch decides, else None.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from warroom.config import KubernetesChecks

if TYPE_CHECKING:
    from warroom.policy.diagnosis import DependencySignals

D = TypeVar("D")
Done = Callable[[str, str], D]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EventSignals(_Model):
    """Warning events of the service's Deployment, ReplicaSets and pods: reason → occurrences (an
    aggregated event counts its `count`), and a few "Reason kind/name: message" lines for the evidence."""

    checked: bool = False
    reasons: dict[str, int] = Field(default_factory=dict)
    samples: list[str] = Field(default_factory=list)

    def count(self, *reasons: str) -> int:
        return sum(self.reasons.get(r, 0) for r in reasons)

    def shown(self, *reasons: str) -> str:
        """Like "12× BackOff, 3× Unhealthy": the reasons that occurred, most frequent first."""
        found = sorted(((self.reasons[r], r) for r in reasons if self.reasons.get(r)), key=lambda x: (-x[0], x[1]))
        return ", ".join(f"{n}× {r}" for n, r in found)


class ResourceSignals(_Model):
    """`kubectl top pods` against the limits (the busiest container), and the nodes running the
    service's pods (`kubectl describe node`: pressure conditions, "Allocated resources"), with the
    runbook thresholds they are judged by."""

    checked: bool = False
    cpu_percent_of_limit: float | None = None
    cpu_at: str = Field("", description="pod/container")
    memory_percent_of_limit: float | None = None
    memory_at: str = ""
    node_pressure: list[str] = Field(default_factory=list, description='"node: MemoryPressure"')
    node_cpu_requests_percent: float | None = Field(None, description="the fullest node's")
    node_memory_requests_percent: float | None = None
    node_at: str = ""
    limits: KubernetesChecks = KubernetesChecks()


# --- Kubernetes events (`kubectl get events --sort-by=.lastTimestamp | tail -20`) ----------------


MEMORY_EVENTS = ("OOMKilling", "SystemOOM")
CRASH_EVENTS = ("BackOff",)
PROBE_EVENTS = ("Unhealthy",)
VOLUME_EVENTS = ("FailedMount", "FailedAttachVolume")
SCHEDULING_EVENTS = ("FailedScheduling",)
EVICTION_EVENTS = ("Evicted", "Preempted", "EvictionThresholdMet")


def pod_events(ev: EventSignals, evidence: list[str], done: Done[D]) -> D | None:
    """The logs said nothing decisive: what the kubelet recorded about the service's pods."""
    if not ev.checked:
        return None
    branches = (
        (
            MEMORY_EVENTS,
            "memory leak or undersized memory limit",
            "scale up (more replicas or memory) and look for the leak",
        ),
        (CRASH_EVENTS, "pods are not running", "inspect `kubectl describe pod` events for the failing pods"),
        (
            PROBE_EVENTS,
            "pods fail their health probes",
            "check the probe endpoint and what it depends on (`kubectl describe pod`)",
        ),
        (VOLUME_EVENTS, "pods cannot mount their volumes", "check the volume, its claim and the storage backend"),
    )
    for reasons, hypothesis, action in branches:
        if ev.count(*reasons):
            evidence.append(f"Kubernetes events: {ev.shown(*reasons)}")
            evidence.extend(s for s in ev.samples if s.split(" ", 1)[0] in reasons)
            return done(hypothesis, action)
    return None


def cluster_infrastructure(ev: EventSignals, r: ResourceSignals, evidence: list[str], done: Done[D]) -> D | None:
    """The cluster's side of the infrastructure branch: pods it cannot place or keeps evicting, then
    node pressure and the service's containers against their limits."""
    if ev.checked and ev.count(*SCHEDULING_EVENTS):
        evidence.append(f"Kubernetes events: {ev.shown(*SCHEDULING_EVENTS)}")
        return done(
            "pods cannot be scheduled (the cluster is out of capacity or constraints exclude every node)",
            "add nodes or free capacity; `kubectl describe pod` says what no node offers",
        )
    if ev.checked and ev.count(*EVICTION_EVENTS):
        evidence.append(f"Kubernetes events: {ev.shown(*EVICTION_EVENTS)}")
        return done("pods are being evicted (node pressure)", "relieve the node's memory or disk, or move workloads")
    return _cluster_resources(r, evidence, done)


def _cluster_resources(r: ResourceSignals, evidence: list[str], done: Done[D]) -> D | None:
    """Node pressure, then the service's containers at their limits, then nodes with no room left."""
    if not r.checked:
        return None
    lim = r.limits
    if r.node_pressure:
        evidence.append(f"node conditions: {', '.join(r.node_pressure)}")
        return done(
            "a node running the service is under pressure",
            "relieve the node (`kubectl describe node`): free memory, disk or PIDs, or move the pods",
        )
    if r.cpu_percent_of_limit is not None and r.cpu_percent_of_limit > lim.pod_cpu_saturated_above:
        evidence.append(
            f"{r.cpu_at} uses {r.cpu_percent_of_limit:.0f}% of its CPU limit (> {lim.pod_cpu_saturated_above:g}%)"
        )
        return done(
            "CPU saturation of the service's pods (throttled at their limit)", "scale out or raise the CPU limit"
        )
    if r.memory_percent_of_limit is not None and r.memory_percent_of_limit > lim.pod_memory_saturated_above:
        evidence.append(
            f"{r.memory_at} uses {r.memory_percent_of_limit:.0f}% of its memory limit "
            f"(> {lim.pod_memory_saturated_above:g}%)"
        )
        return done(
            "the service's pods are close to their memory limit",
            "raise the memory limit or scale out, and look for a leak",
        )
    fullest = max(
        (p for p in (r.node_cpu_requests_percent, r.node_memory_requests_percent) if p is not None), default=None
    )
    if fullest is not None and fullest > lim.node_allocated_above:
        evidence.append(
            f"node {r.node_at} allocated: CPU requests {r.node_cpu_requests_percent}%, "
            f"memory requests {r.node_memory_requests_percent}% of allocatable (> {lim.node_allocated_above:g}%)"
        )
        return done(
            "the nodes running the service are fully allocated: no room to scale out or reschedule",
            "add nodes or lower requests before scaling out",
        )
    return None


# --- the database's replication (the PostgreSQL playbook) -------------------------------------------


def replication(db: DependencySignals, evidence: list[str], done: Done[D]) -> D | None:
    """Replication lag above the runbook's limit decides; otherwise what was checked is evidence."""
    name = f"database {db.db_name}" if db.db_name else "database"
    lag, limit = db.db_replication_lag_seconds, db.db_replication_lag_above_seconds
    if lag is not None and lag > limit:
        where = "this standby" if db.db_role == "standby" else "its most lagging replica"
        evidence.append(f"{name}: replication lag {lag:.0f}s on {where} (> {limit:g}s)")
        return done(
            "database replication is lagging: replicas serve stale data",
            "check the replica's I/O, network and long queries; send reads to the primary meanwhile",
        )
    if db.db_reachable:
        parts = []
        if db.db_connections is not None:
            parts.append(f"{db.db_connections}/{db.db_max_connections or '?'} connections")
        if db.db_longest_query_seconds is not None:
            parts.append(f"longest query {db.db_longest_query_seconds:.0f}s")
        if db.db_role == "primary" and not db.db_replicas:
            parts.append("no replicas")
        elif lag is not None:
            parts.append(f"replication lag {lag:.0f}s (≤ {limit:g}s)")
        evidence.append(f"{name}: {', '.join(parts) or 'reachable'}")
    return None
