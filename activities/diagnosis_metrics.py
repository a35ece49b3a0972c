"""The decision tree's Prometheus readings in one activity: the status-code classes ("What error
codes?") and the service's dependency calls (downstream error ratio, latency P99), read with the
runbook's `metrics.diagnosis` PromQL. The queries run concurrently; one that finds no series is a
missing reading (None), never a zero; an optional check with no query is reported as not configured."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from temporalio import activity

from activities.metrics import PrometheusSource
from warroom.contracts.errors import boundary
from warroom.contracts.metrics import READ_DIAGNOSIS_METRICS, DiagnosisMetricsReading, DiagnosisMetricsRequest


class DiagnosisMetricsActivities:
    """Activity holder: the worker injects the same source as the other metrics activities."""

    def __init__(self, source: PrometheusSource) -> None:
        self.source = source

    async def _optional(self, template: str | None, service: str) -> float | None:
        return None if template is None else await self.source.instant(template, service)

    @activity.defn(name=READ_DIAGNOSIS_METRICS.name)
    async def read_diagnosis_metrics(self, req: DiagnosisMetricsRequest) -> DiagnosisMetricsReading:
        now = datetime.now(UTC)
        queries = self.source.queries.diagnosis
        optional = {
            "downstream error ratio": queries.downstream_error_ratio,
            "dependency latency P99": queries.latency_p99,
        }
        with boundary():
            classes = list(queries.error_classes.items())
            shares, (downstream, p99) = await asyncio.gather(
                asyncio.gather(*(self.source.instant(template, req.service) for _, template in classes)),
                asyncio.gather(*(self._optional(template, req.service) for template in optional.values())),
            )
        return DiagnosisMetricsReading(
            service=req.service,
            error_classes={cls: share for (cls, _), share in zip(classes, shares, strict=True)},
            read_at=now,
            downstream_error_ratio=downstream,
            latency_p99_seconds=p99,
            not_configured=[name for name, template in optional.items() if template is None],
        )
