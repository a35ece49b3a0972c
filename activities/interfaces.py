"""Interfaces the later integrations implement: metric readings and cluster actions.

Workflows never see these; they call activities, and activities talk to these protocols. The
Prometheus reader and the Kubernetes gateway (official client) are separate issues; keeping the
seams here lets the Resolve phase and its tests stay unchanged when they land.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from warroom.policy.clean_window import MetricSample


class MetricsSource(Protocol):
    """Reads a service's error ratio; used for the rollback rule and the clean-metrics window."""

    async def error_ratio(self, service: str, at: datetime) -> float | None: ...

    async def error_ratio_series(self, service: str, start: datetime, end: datetime) -> list[MetricSample]: ...


class ClusterGateway(Protocol):
    """The few Kubernetes actions the runbook needs: when a deploy happened and rolling it back."""

    async def last_deploy_time(self, namespace: str, deployment: str) -> datetime | None: ...

    async def rollback(self, namespace: str, deployment: str, to_revision: int | None = None) -> str: ...
