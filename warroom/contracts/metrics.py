"""The metrics activities' contracts: the error ratio now and before a deploy, the clean window, and
the decision tree's readings.

Failure types: `QueryRejected` (bad PromQL in the runbook, or a service that is no DNS label;
non-retryable), `MetricsUnavailable` (Prometheus did not answer; retryable), and `NotConfigured`
on a worker without a Prometheus URL.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, Field

from warroom.config import ErrorClass
from warroom.contracts.base import CHECK_RETRY, READ_RETRY, ActivityContract, AnyContract
from warroom.policy.clean_window import CleanWindowVerdict


class ErrorRatioRequest(BaseModel):
    service: str = Field(..., max_length=63)
    deployed_at: datetime | None = Field(None, description="also read the baseline just before this instant")


class ErrorRatioReading(BaseModel):
    service: str
    error_ratio: float | None
    burn_rate: float | None
    users_affected: float | None = None
    baseline_error_ratio: float | None = None
    baseline_at: datetime | None = None
    read_at: datetime


class CleanWindowRequest(BaseModel):
    """`baseline_error_ratio` is the declare threshold; with `deployed_at` the activity reads the
    pre-deploy error ratio and judges against it (plus `baseline_tolerance`) instead."""

    service: str = Field(..., max_length=63)
    mitigation_applied_at: datetime
    baseline_error_ratio: float = Field(..., ge=0, le=1)
    window: timedelta
    last_firing_alert_at: datetime | None = None
    deployed_at: datetime | None = None
    baseline_tolerance: float = Field(0.0, ge=0, le=1)


class DiagnosisMetricsRequest(BaseModel):
    service: str = Field(..., max_length=63)


class DiagnosisMetricsReading(BaseModel):
    """The decision tree's Prometheus readings, by the worker's runbook (`metrics.diagnosis`).

    `error_classes` holds each configured class's share of requests (None: no reading);
    `not_configured` names the optional checks the runbook has no query for."""

    service: str
    error_classes: dict[ErrorClass, float | None]
    read_at: datetime
    downstream_error_ratio: float | None = None
    latency_p99_seconds: float | None = None
    cache_hit_ratio: float | None = None
    cache_errors_per_second: float | None = None
    cache_memory_used_ratio: float | None = None
    not_configured: list[str] = Field(default_factory=list)


_READ = timedelta(seconds=30)

READ_ERROR_RATIO = ActivityContract("read_error_ratio", ErrorRatioRequest, ErrorRatioReading, _READ, READ_RETRY)
CHECK_CLEAN_WINDOW = ActivityContract("check_clean_window", CleanWindowRequest, CleanWindowVerdict, _READ, CHECK_RETRY)
# Beside the diagnosis' other checks: a worker that dies mid-call is noticed after 15 s (as a
# playbook's missed heartbeat is), before the rollback's veto window overtakes the diagnosis.
READ_DIAGNOSIS_METRICS = ActivityContract(
    "read_diagnosis_metrics", DiagnosisMetricsRequest, DiagnosisMetricsReading, timedelta(seconds=15), READ_RETRY
)

ALL: tuple[AnyContract, ...] = (READ_ERROR_RATIO, CHECK_CLEAN_WINDOW, READ_DIAGNOSIS_METRICS)
