"""The decision tree's Kubernetes and database checks, run beside the others in `run_diagnosis`.

Each check is guarded by its own `workflow.patched` id: incidents that started before it existed
replay without it. The checks run concurrently; one that fails is evidence ("events unavailable:
..."), never fatal.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from warroom.config import DatabaseTarget, KubernetesChecks
    from warroom.contracts.ansible import POSTGRES_HEALTH, PostgresHealthReport, PostgresHealthRequest
    from warroom.contracts.kubernetes import (
        EVENTS,
        RESOURCE_USAGE,
        EventsReport,
        EventsRequest,
        ResourceUsageReport,
        ResourceUsageRequest,
    )
    from warroom.models import DeploymentTarget
    from warroom.policy.diagnosis import Findings
    from warroom.policy.diagnosis_cluster import EventSignals, ResourceSignals
    from workflows._activities import call
    from workflows._patches import patched
    from workflows._runtime import PhaseRuntime

EVENT_SAMPLES = 5
READ_TIMEOUT = timedelta(seconds=15)
"""Events in the diagnosis: as kube_resource_usage, noticed after 15 s when the worker dies mid-call."""


def event_signals(report: EventsReport, samples: int = EVENT_SAMPLES) -> EventSignals:
    """The Warning events as reason → occurrences, the most recent few as "Reason kind/name: message"."""
    reasons: dict[str, int] = {}
    for e in report.events:
        reasons[e.reason] = reasons.get(e.reason, 0) + max(1, e.count)
    shown = [f"{e.reason} {e.object}: {e.message[:200]}" for e in reversed(report.events)][:samples]
    return EventSignals(checked=True, reasons=reasons, samples=shown)


def resource_signals(report: ResourceUsageReport, limits: KubernetesChecks) -> ResourceSignals:
    """The busiest container against its limits, the nodes' pressure and the fullest node's allocation."""
    signals = ResourceSignals(checked=True, limits=limits)
    by_cpu = [c for c in report.containers if c.cpu_percent_of_limit is not None]
    if by_cpu:
        top = max(by_cpu, key=lambda c: c.cpu_percent_of_limit or 0.0)
        signals.cpu_percent_of_limit, signals.cpu_at = top.cpu_percent_of_limit, f"{top.pod}/{top.container}"
    by_memory = [c for c in report.containers if c.memory_percent_of_limit is not None]
    if by_memory:
        top = max(by_memory, key=lambda c: c.memory_percent_of_limit or 0.0)
        signals.memory_percent_of_limit, signals.memory_at = top.memory_percent_of_limit, f"{top.pod}/{top.container}"
    signals.node_pressure = [f"{n.name}: {p}" for n in report.nodes for p in n.pressure]
    if report.nodes:
        fullest = max(report.nodes, key=lambda n: max(n.cpu_requests_percent or 0.0, n.memory_requests_percent or 0.0))
        signals.node_at = fullest.name
        signals.node_cpu_requests_percent = fullest.cpu_requests_percent
        signals.node_memory_requests_percent = fullest.memory_requests_percent
    return signals


def database_signals(name: str, report: PostgresHealthReport, lag_above_seconds: float) -> dict[str, Any]:
    """The playbook's report as the tree's database fields of `DependencySignals`."""
    longest = [q.duration_seconds for q in report.longest_queries if q.duration_seconds is not None]
    return {
        "db_checked": True,
        "db_name": name,
        "db_reachable": report.reachable,
        "db_connections": report.total_connections if report.reachable else None,
        "db_max_connections": report.max_connections,
        "db_longest_query_seconds": max(longest, default=None),
        "db_role": report.role,
        "db_replicas": len(report.replicas) if report.role == "primary" else None,
        "db_replication_lag_seconds": report.replication_lag_seconds,
        "db_replication_lag_above_seconds": lag_above_seconds,
    }


class ClusterFindings:
    """What the Kubernetes and database checks found, folded into the tree's `Findings`."""

    def __init__(self) -> None:
        self.update: dict[str, Any] = {}
        self.dependencies: dict[str, Any] = {}
        self.unavailable: list[str] = []

    def apply(self, findings: Findings) -> Findings:
        update = dict(self.update)
        if self.dependencies:  # only the database's fields: other checks fill the rest of DependencySignals
            update["dependencies"] = findings.dependencies.model_copy(update=self.dependencies)
        return findings.model_copy(update=update) if update else findings


async def run_cluster_checks(rt: PhaseRuntime, target: DeploymentTarget) -> ClusterFindings:
    """The checks this incident's workflow code knows about, concurrently."""
    found = ClusterFindings()
    checks: list[Callable[[], Awaitable[None]]] = []
    limits = rt.runbook.kubernetes_checks

    async def events() -> None:
        request = EventsRequest(
            namespace=target.namespace, deployment=target.deployment, limit=limits.events_tail, include_nodes=True
        )
        # Two list calls: a worker that dies mid-call is noticed after 15 s, not the contract's 3 minutes.
        report = await call(
            EVENTS,
            request,
            summary="Kubernetes Warning events (kubectl get events | tail)",
            start_to_close=READ_TIMEOUT,
        )
        found.update["events"] = event_signals(report)

    async def usage() -> None:
        request = ResourceUsageRequest(namespace=target.namespace, deployment=target.deployment)
        report = await call(RESOURCE_USAGE, request, summary="kubectl top pods; node allocation and conditions")
        found.update["resources"] = resource_signals(report, limits)
        found.unavailable += [f"resource usage: {why}" for why in report.unavailable]

    async def database(name: str, where: DatabaseTarget) -> None:
        request = PostgresHealthRequest(
            host=where.host,
            port=where.port,
            database=where.database,
            user=where.user,
            sslmode=where.sslmode,
            credential=where.credential,
            connect_timeout=where.connect_timeout,
        )
        report = await call(POSTGRES_HEALTH, request, summary=f"database {name} (PostgreSQL health playbook)")
        lag_above = rt.runbook.database_checks.replication_lag_above.total_seconds()
        found.dependencies = database_signals(name, report, lag_above)

    if patched("diagnosis-kubernetes-events"):
        checks.append(_reported(events, "events", found))
    if patched("diagnosis-kubernetes-usage"):
        checks.append(_reported(usage, "resource usage", found))
    # A service the runbook names no database for never asks (its incidents replay either way).
    named = rt.runbook.database_checks.for_service(rt.state.service)
    if named is not None and patched("diagnosis-database"):
        checks.append(_reported(lambda: database(*named), "database", found))
    await asyncio.gather(*(check() for check in checks))
    return found


def _reported(check: Callable[[], Awaitable[None]], name: str, found: ClusterFindings) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        try:
            await check()
        except ActivityError as err:
            found.unavailable.append(f"{name} unavailable ({err.cause or err})")

    return run
