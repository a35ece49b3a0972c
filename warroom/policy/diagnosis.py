"""The runbook's diagnostic decision tree for "Elevated Error Rate", as a pure function.

What error codes? → 5xx: server errors (recent deployment? → logs → dependencies → infrastructure);
4xx: check whether it is expected traffic; timeouts: network/infrastructure. The checks behind
`Findings` run in parallel as activities; this walks the tree over their results and says which
branch it took, on what evidence, the hypothesis, and the recommended action.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from warroom.config import RollbackRule
from warroom.enums import format_duration
from warroom.policy.diagnosis_cluster import (
    EventSignals,
    ResourceSignals,
    cluster_infrastructure,
    pod_events,
    replication,
)


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
    if (by_events := pod_events(f.events, evidence, done)) is not None:
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
        if (lagging := replication(db, evidence, done)) is not None:
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
    if (by_cluster := cluster_infrastructure(f.events, f.resources, evidence, done)) is not None:
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
