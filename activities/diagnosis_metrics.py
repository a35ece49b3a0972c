"""The decision tree's Prometheus readings in one activity: the status-code classes ("What error
codes?"), read with the runbook's `metrics.diagnosis` PromQL. The queries run concurrently; one
that finds no series is a missing reading (None), never a zero."""

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

    @activity.defn(name=READ_DIAGNOSIS_METRICS.name)
    async def read_diagnosis_metrics(self, req: DiagnosisMetricsRequest) -> DiagnosisMetricsReading:
        now = datetime.now(UTC)
        queries = self.source.queries.diagnosis
        with boundary():
            classes = list(queries.error_classes.items())
            shares = await asyncio.gather(*(self.source.instant(template, req.service) for _, template in classes))
        return DiagnosisMetricsReading(
            service=req.service,
            error_classes={cls: share for (cls, _), share in zip(classes, shares, strict=True)},
            read_at=now,
        )
