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

from warroom.config import DiagnosisQueries, ErrorClass, RollbackRule
from warroom.enums import format_duration
from warroom.policy.diagnosis_cluster import (
    EventSignals,
    ResourceSignals,
    cluster_infrastructure,
    pod_events,
    replication,
)
from warroom.policy.error_classes import describe_error_classes


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
    metrics_checked: bool = Field(False, description="Prometheus was asked for the dependency readings")
    latency_p99_seconds: float | None = Field(None, description="P99 of the service's calls to its dependencies")
    not_configured: list[str] = Field(default_factory=list, description="dependency checks without a runbook query")


class CacheSignals(_Model):
    """The cache's readings; a check without a runbook query is in `not_configured`."""

    hit_ratio: float | None = None
    errors_per_second: float | None = None
    memory_used_ratio: float | None = None
    not_configured: list[str] = Field(default_factory=list)


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
    error_shares: dict[ErrorClass, float | None] = Field(
        default_factory=dict, description="each status-code class's share of requests, where Prometheus was read"
    )
    cache: CacheSignals | None = Field(None, description="None: not checked (incidents from before the cache check)")


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
THRESHOLDS = DiagnosisQueries()
"""The runbook's default dependency thresholds; workflows pass the incident's (`metrics.diagnosis`)."""

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


def diagnose(
    f: Findings, recent_deploy: timedelta = RECENT_DEPLOY, thresholds: DiagnosisQueries = THRESHOLDS
) -> Diagnosis:
    """Walk the tree. A deploy younger than `recent_deploy` (strictly: "< 30 min") means roll back immediately;
    `thresholds` are the runbook's (`metrics.diagnosis`) for the dependency readings."""
    path: list[str] = []
    evidence: list[str] = []

    def done(hypothesis: str, action: str, conclusive: bool = True) -> Diagnosis:
        return Diagnosis(
            path=path, evidence=evidence, hypothesis=hypothesis, recommended_action=action, conclusive=conclusive
        )

    path.append(f"error codes: {f.error_class}")
    if f.error_shares:
        evidence.append(describe_error_classes(f.error_shares))
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
        return _log_timeouts(f.dependencies, evidence, done, thresholds)
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
    cached = _cache(f.cache, evidence, done, thresholds)
    if cached is not None:
        return cached
    if db.downstream_error_ratio is not None and db.downstream_error_ratio > thresholds.downstream_error_above:
        evidence.append(
            f"downstream error ratio {db.downstream_error_ratio:.1%} (> {thresholds.downstream_error_above:.1%})"
        )
        return done("a downstream API is failing", "engage the downstream team; degrade gracefully")
    slow = _slow_downstream(db, evidence, done, thresholds)
    if slow is not None:
        return slow

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


LATENCY = "dependency latency P99"
DOWNSTREAM = "downstream error ratio"
CACHE_HIT_RATIO = "cache hit ratio"
CACHE_ERRORS = "cache connection errors"
CACHE_MEMORY = "cache memory used"
CACHE_CHECKS = (CACHE_ERRORS, CACHE_MEMORY, CACHE_HIT_RATIO)
Done = Callable[..., Diagnosis]


def _unread(name: str, deps: DependencySignals) -> list[str]:
    """Why a dependency reading is missing, once Prometheus was asked (older incidents say nothing)."""
    if not deps.metrics_checked:
        return []
    return [f"{name}: {'not configured' if name in deps.not_configured else 'no reading'}"]


def _p99(seconds: float, limit: timedelta) -> str:
    above = seconds > limit.total_seconds()
    return f"{LATENCY} {seconds:.2f}s ({'>' if above else '≤'} {limit.total_seconds():g}s)"


def _log_timeouts(deps: DependencySignals, evidence: list[str], done: Done, thresholds: DiagnosisQueries) -> Diagnosis:
    """The seed's "Timeout errors → check dependency latency (upstream services)", with the P99 where read."""
    p99, limit = deps.latency_p99_seconds, thresholds.latency_p99_above
    if p99 is None:
        evidence.extend(_unread(LATENCY, deps))
        return done("a slow dependency (upstream latency)", "check dependency latency (upstream services, P99)")
    evidence.append(_p99(p99, limit))
    if p99 > limit.total_seconds():
        return done("a slow dependency (upstream latency)", "find the slow upstream service; engage its team")
    return done(
        "timeouts while dependency latency is normal: the network path or the service's own timeouts and pools",
        "check the network to the dependencies and the service's client timeouts and connection pools",
        conclusive=False,
    )


def _slow_downstream(
    deps: DependencySignals, evidence: list[str], done: Done, thresholds: DiagnosisQueries
) -> Diagnosis | None:
    """The seed's "Downstream APIs: error rate? latency P99?": the error rate is judged before this;
    here the P99, and what was read and found normal, as evidence for the branches that follow."""
    ratio, p99, limit = deps.downstream_error_ratio, deps.latency_p99_seconds, thresholds.latency_p99_above
    if ratio is None:
        evidence.extend(_unread(DOWNSTREAM, deps))
    else:
        evidence.append(f"{DOWNSTREAM} {ratio:.1%} (≤ {thresholds.downstream_error_above:.1%})")
    if p99 is None:
        evidence.extend(_unread(LATENCY, deps))
        return None
    evidence.append(_p99(p99, limit))
    if p99 > limit.total_seconds():
        return done(
            "a slow downstream dependency",
            "engage the downstream team; degrade gracefully (timeouts, circuit breaking)",
        )
    return None


def _cache(
    cache: CacheSignals | None, evidence: list[str], done: Done, thresholds: DiagnosisQueries
) -> Diagnosis | None:
    """The seed's "Cache: hit rate? connection errors? memory usage?", where the runbook names the queries."""
    if cache is None:
        return None
    if set(CACHE_CHECKS) <= set(cache.not_configured):
        evidence.append("cache: not configured")
        return None
    errors, memory, hits = cache.errors_per_second, cache.memory_used_ratio, cache.hit_ratio
    for name, value in zip(CACHE_CHECKS, (errors, memory, hits), strict=True):
        if value is None:
            evidence.append(f"{name}: {'not configured' if name in cache.not_configured else 'no reading'}")
    if errors is not None:
        failing = errors > thresholds.cache_errors_above
        evidence.append(
            f"{CACHE_ERRORS} {errors:.2f}/s ({'>' if failing else '≤'} {thresholds.cache_errors_above:g}/s)"
        )
        if failing:
            return done("the cache is failing (connection errors)", "restore the cache: its health and the client pool")
    if memory is not None:
        full = memory > thresholds.cache_memory_used_above
        evidence.append(
            f"{CACHE_MEMORY} {memory:.1%} ({'>' if full else '≤'} {thresholds.cache_memory_used_above:.1%})"
        )
        if full:
            return done(
                "the cache is full: evictions push load to the backends",
                "add cache memory or shorten TTLs; find what grew",
            )
    if hits is not None:
        cold = hits < thresholds.cache_hit_ratio_below
        evidence.append(f"{CACHE_HIT_RATIO} {hits:.1%} ({'<' if cold else '≥'} {thresholds.cache_hit_ratio_below:.1%})")
        if cold:
            return done(
                "a cold or thrashing cache: misses push load to the backends",
                "find why keys miss (a deploy changing keys, a flush, evictions); warm the cache",
            )
    return None
