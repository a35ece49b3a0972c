"""The runbook's diagnostic decision tree for "Elevated Error Rate", as a pure function.

What error codes? → 5xx: server errors (recent deployment? → logs → dependencies → infrastructure);
4xx: check whether it is expected traffic; timeouts: network/infrastructure. The checks behind
`Findings` run in parallel as activities; this walks the tree over their results and says which
branch it took, on what evidence, the hypothesis, and the recommended action.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from warroom.config import KubernetesChecks, RollbackRule
from warroom.enums import format_duration


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LogSignals(_Model):
    oom: int = 0
    db_connection: int = 0
    timeout: int = 0
    exception: int = 0
    samples: list[str] = Field(default_factory=list, description="a few matching lines, for the timeline")


class PodSignals(_Model):
    crashloop: int = 0
    oom_killed: int = 0
    image_pull: int = 0
    not_ready: int = 0
    restarts: int = 0


class DependencySignals(_Model):
    db_checked: bool = False
    db_reachable: bool | None = None
    db_connections: int | None = None
    db_max_connections: int | None = None
    db_longest_query_seconds: float | None = None
    downstream_error_ratio: float | None = None
    db_name: str = ""
    db_role: Literal["primary", "standby"] | None = None
    db_replicas: int | None = Field(None, description="a primary's replicas (pg_stat_replication)")
    db_replication_lag_seconds: float | None = Field(None, description="a standby's own, or a primary's worst replica")
    db_replication_lag_above_seconds: float = Field(
        30.0, description="the runbook's database_checks.replication_lag_above"
    )


class InfraSignals(_Model):
    checked: bool = False
    cpu_percent: float | None = None
    memory_available_percent: float | None = None
    swap_used_percent: float | None = None
    oom_events: int = 0
    disk_await_ms: float | None = None
    network_errors: int = 0


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


class Findings(_Model):
    error_class: Literal["5xx", "4xx", "timeout", "unknown"] = "unknown"
    deploy_age: timedelta | None = None
    logs: LogSignals = LogSignals()
    pods: PodSignals = PodSignals()
    dependencies: DependencySignals = DependencySignals()
    infra: InfraSignals = InfraSignals()
    events: EventSignals = EventSignals()
    resources: ResourceSignals = ResourceSignals()


class Diagnosis(_Model):
    path: list[str]
    evidence: list[str]
    hypothesis: str
    recommended_action: str
    conclusive: bool


RECENT_DEPLOY: timedelta = RollbackRule().immediate_deploy_window
"""The seed's "< 30 min deploy window" for "roll back immediately" (the rollback rule allows 2 h);
workflows pass the incident's runbook value (`rollback.immediate_deploy_window`)."""
CPU_SATURATED = 90.0
DISK_AWAIT_MS = 100.0
SLOW_QUERY_SECONDS = 30.0

_PATTERNS = {
    "oom": re.compile(r"OutOfMemory|OOMKilled|out of memory|Cannot allocate memory|heap space", re.I),
    "db_connection": re.compile(
        r"connection pool|too many connections|could not connect to (the )?(server|database)|"
        r"SQLSTATE\[?08|database .*(unavailable|refused)|pool exhausted",
        re.I,
    ),
    "timeout": re.compile(r"timed? ?out|timeout|deadline exceeded", re.I),
    "exception": re.compile(r"exception|traceback|panic:|\bFATAL\b|\bERROR\b", re.I),
}
SEED_GREP = re.compile(r"error|exception|fatal", re.I)
"""The runbook's `grep -i "error\\|exception\\|fatal"`."""


def classify_log_lines(lines: list[str], samples: int = 5) -> LogSignals:
    """Count the seed's log classes in lines that match its grep; a line counts once, most specific class first."""
    counts = {name: 0 for name in _PATTERNS}
    picked: list[str] = []
    for line in lines:
        if not SEED_GREP.search(line) and not _PATTERNS["oom"].search(line):
            continue
        for name, pattern in _PATTERNS.items():
            if pattern.search(line):
                counts[name] += 1
                if len(picked) < samples:
                    picked.append(line.strip()[:300])
                break
    return LogSignals(**counts, samples=picked)


def diagnose(f: Findings, recent_deploy: timedelta = RECENT_DEPLOY) -> Diagnosis:
    """Walk the tree. A deploy younger than `recent_deploy` (strictly: "< 30 min") means roll back immediately."""
    path: list[str] = []
    evidence: list[str] = []

    def done(hypothesis: str, action: str, conclusive: bool = True) -> Diagnosis:
        return Diagnosis(
            path=path, evidence=evidence, hypothesis=hypothesis, recommended_action=action, conclusive=conclusive
        )

    path.append(f"error codes: {f.error_class}")
    if f.error_class == "4xx":
        return done(
            "client errors: possibly expected traffic (a client release, a scraper, an auth change)",
            "check whether this traffic is expected before changing the service",
            conclusive=False,
        )
    if f.error_class == "timeout":
        path.append("connection timeouts: network/infrastructure")
        return _infrastructure(f, path, evidence, done) or done(
            "network or infrastructure problem", "check packet loss, bandwidth and the load balancer", conclusive=False
        )

    path.append("server errors")
    if f.deploy_age is not None and f.deploy_age < recent_deploy:
        path.append("recent deployment: yes")
        evidence.append(f"deployed {int(f.deploy_age.total_seconds() // 60)} min ago")
        return done(
            "the recent deployment introduced a regression",
            f"roll back immediately (< {format_duration(recent_deploy)} deploy window)",
        )
    path.append("recent deployment: no" if f.deploy_age is not None else "recent deployment: unknown")

    path.append("service logs")
    logs, pods = f.logs, f.pods
    if logs.oom or pods.oom_killed:
        evidence.append(f"{logs.oom} OOM log lines, {pods.oom_killed} containers OOMKilled")
        return done(
            "memory leak or undersized memory limit", "scale up (more replicas or memory) and look for the leak"
        )
    if logs.db_connection:
        evidence.append(f"{logs.db_connection} database connection errors in logs")
        db = f.dependencies
        if db.db_checked and db.db_connections is not None and db.db_max_connections:
            evidence.append(f"database connections {db.db_connections}/{db.db_max_connections}")
        return done("database connectivity or connection-pool exhaustion", "check DB health and the pool size")
    if logs.timeout:
        evidence.append(f"{logs.timeout} timeout errors in logs")
        return done("a slow dependency (upstream latency)", "check dependency latency (upstream services, P99)")
    if logs.exception:
        evidence.append(f"{logs.exception} exceptions in logs")
        return done("an exception in a specific code path", "find the broken request type from the exception's stack")
    if pods.crashloop or pods.image_pull:
        evidence.append(f"{pods.crashloop} pods crash-looping, {pods.image_pull} failing to pull images")
        return done("pods are not running", "inspect `kubectl describe pod` events for the failing pods")
    if (by_events := _pod_events(f, evidence, done)) is not None:
        return by_events

    path.append("dependencies")
    db = f.dependencies
    if db.db_checked:
        if db.db_reachable is False:
            evidence.append("database unreachable")
            return done("the database is down or unreachable", "restore database connectivity")
        if db.db_connections is not None and db.db_max_connections and db.db_connections >= 0.9 * db.db_max_connections:
            evidence.append(f"database connections {db.db_connections}/{db.db_max_connections}")
            return done("database connection saturation", "find the connection hog; raise the limit or add pooling")
        if db.db_longest_query_seconds is not None and db.db_longest_query_seconds > SLOW_QUERY_SECONDS:
            evidence.append(f"a query running for {db.db_longest_query_seconds:.0f}s")
            return done("long-running queries are blocking the database", "inspect and cancel the long queries")
        if (lagging := _replication(db, evidence, done)) is not None:
            return lagging
    if db.downstream_error_ratio is not None and db.downstream_error_ratio > 0.01:
        evidence.append(f"downstream error ratio {db.downstream_error_ratio:.1%}")
        return done("a downstream API is failing", "engage the downstream team; degrade gracefully")

    path.append("infrastructure")
    return _infrastructure(f, path, evidence, done) or done(
        "no single cause found", "widen the investigation: bring in SMEs for the service (IC decides)", conclusive=False
    )


def _infrastructure(f: Findings, path: list[str], evidence: list[str], done):  # type: ignore[no-untyped-def]
    infra = f.infra
    if (by_cluster := _cluster_infrastructure(f, evidence, done)) is not None:
        return by_cluster
    if not infra.checked:
        evidence.append("infrastructure not checked")
        return None
    if infra.cpu_percent is not None and infra.cpu_percent > CPU_SATURATED:
        evidence.append(f"CPU {infra.cpu_percent:.0f}% (> {CPU_SATURATED:.0f}%)")
        return done("CPU saturation", "scale out or shed load")
    if (
        infra.oom_events
        or (infra.memory_available_percent is not None and infra.memory_available_percent < 5)
        or (infra.swap_used_percent is not None and infra.swap_used_percent > 50)
    ):
        evidence.append(
            f"memory available {infra.memory_available_percent}%, swap used {infra.swap_used_percent}%, "
            f"{infra.oom_events} OOM events"
        )
        return done("memory pressure on the hosts", "add memory or move workloads")
    if infra.disk_await_ms is not None and infra.disk_await_ms > DISK_AWAIT_MS:
        evidence.append(f"disk await {infra.disk_await_ms:.0f} ms (> {DISK_AWAIT_MS:.0f} ms)")
        return done("disk I/O saturation", "find the I/O hog; move to faster storage")
    if infra.network_errors:
        evidence.append(f"{infra.network_errors} network errors")
        return done("network problems (packet loss or errors)", "check interfaces, packet loss and bandwidth")
    return None


# --- Kubernetes events (`kubectl get events --sort-by=.lastTimestamp | tail -20`) ----------------


MEMORY_EVENTS = ("OOMKilling", "SystemOOM")
CRASH_EVENTS = ("BackOff",)
PROBE_EVENTS = ("Unhealthy",)
VOLUME_EVENTS = ("FailedMount", "FailedAttachVolume")
SCHEDULING_EVENTS = ("FailedScheduling",)
EVICTION_EVENTS = ("Evicted", "Preempted", "EvictionThresholdMet")


def _pod_events(f: Findings, evidence: list[str], done: Callable[[str, str], Diagnosis]) -> Diagnosis | None:
    """The logs said nothing decisive: what the kubelet recorded about the service's pods."""
    ev = f.events
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


def _cluster_infrastructure(
    f: Findings, evidence: list[str], done: Callable[[str, str], Diagnosis]
) -> Diagnosis | None:
    """The cluster's side of the infrastructure branch: pods it cannot place or keeps evicting."""
    ev = f.events
    if ev.checked and ev.count(*SCHEDULING_EVENTS):
        evidence.append(f"Kubernetes events: {ev.shown(*SCHEDULING_EVENTS)}")
        return done(
            "pods cannot be scheduled (the cluster is out of capacity or constraints exclude every node)",
            "add nodes or free capacity; `kubectl describe pod` says what no node offers",
        )
    if ev.checked and ev.count(*EVICTION_EVENTS):
        evidence.append(f"Kubernetes events: {ev.shown(*EVICTION_EVENTS)}")
        return done("pods are being evicted (node pressure)", "relieve the node's memory or disk, or move workloads")
    return _cluster_resources(f.resources, evidence, done)


def _cluster_resources(
    r: ResourceSignals, evidence: list[str], done: Callable[[str, str], Diagnosis]
) -> Diagnosis | None:
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


def _replication(db: DependencySignals, evidence: list[str], done: Callable[[str, str], Diagnosis]) -> Diagnosis | None:
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
