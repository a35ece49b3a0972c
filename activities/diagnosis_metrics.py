"""The decision tree's Prometheus readings in one activity: the status-code classes ("What error
codes?"), the service's dependency calls (downstream error ratio, latency P99) and its cache (hit
ratio, connection errors, memory used), read with the runbook's `metrics.diagnosis` PromQL. The
queries run concurrently; one that finds no series is a missing reading (None), never a zero; an
optional check with no query is reported as not configured."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from temporalio import activity

from activities.metrics import PrometheusSource
from warroom.config import DiagnosisQueries
from warroom.contracts.errors import boundary
from warroom.contracts.metrics import READ_DIAGNOSIS_METRICS, DiagnosisMetricsReading, DiagnosisMetricsRequest
from warroom.policy.diagnosis import CACHE_ERRORS, CACHE_HIT_RATIO, CACHE_MEMORY, DOWNSTREAM, LATENCY


def optional_queries(queries: DiagnosisQueries) -> dict[str, tuple[str, str | None]]:
    """Each optional check: the name the evidence uses → (the reading's field, the runbook's query)."""
    return {
        DOWNSTREAM: ("downstream_error_ratio", queries.downstream_error_ratio),
        LATENCY: ("latency_p99_seconds", queries.latency_p99),
        CACHE_HIT_RATIO: ("cache_hit_ratio", queries.cache_hit_ratio),
        CACHE_ERRORS: ("cache_errors_per_second", queries.cache_errors),
        CACHE_MEMORY: ("cache_memory_used_ratio", queries.cache_memory_used),
    }


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
        optional = optional_queries(queries)
        with boundary():
            classes = list(queries.error_classes.items())
            shares, values = await asyncio.gather(
                asyncio.gather(*(self.source.instant(template, req.service) for _, template in classes)),
                asyncio.gather(*(self._optional(template, req.service) for _, template in optional.values())),
            )
        return DiagnosisMetricsReading(
            service=req.service,
            error_classes={cls: share for (cls, _), share in zip(classes, shares, strict=True)},
            read_at=now,
            not_configured=[name for name, (_, template) in optional.items() if template is None],
            **{field: value for (field, _), value in zip(optional.values(), values, strict=True)},
        )
