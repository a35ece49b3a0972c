"""The decision tree's Prometheus readings inside Command's diagnosis: status-code classes ("What
error codes?"), the service's dependency calls (downstream error ratio, latency P99) and its cache,
read by one activity alongside the other checks and folded into the tree's `Findings`.

A reading that failed is evidence ("prometheus readings unavailable"), and the error class is then
"unknown": never inferred from the error ratio.
"""

from __future__ import annotations

import asyncio

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from warroom.contracts.metrics import READ_DIAGNOSIS_METRICS, DiagnosisMetricsReading, DiagnosisMetricsRequest
    from warroom.policy.diagnosis import CACHE_CHECKS, CacheSignals, Findings
    from warroom.policy.error_classes import dominant_error_class
    from workflows._activities import call
    from workflows._patches import patched
    from workflows._runtime import PhaseRuntime

PrometheusResult = DiagnosisMetricsReading | ActivityError


async def _read(request: DiagnosisMetricsRequest) -> PrometheusResult:
    """The readings, or the ActivityError as a value (see `_diagnosis._check`: a failed check is evidence)."""
    try:
        return await call(READ_DIAGNOSIS_METRICS, request, summary="error classes, dependency calls and cache")
    except ActivityError as err:
        return err


def prometheus_check(rt: PhaseRuntime) -> asyncio.Task[PrometheusResult] | None:
    """Start the readings alongside the other checks.

    👉 Incidents recorded before the tree read them replay without the call (None)."""
    if not patched("diagnosis-prometheus-classes"):
        return None
    return asyncio.create_task(_read(DiagnosisMetricsRequest(service=rt.state.service)))


def with_prometheus(findings: Findings, result: PrometheusResult, unavailable: list[str]) -> Findings:
    """The error class is the dominant status-code class read; the dependency and cache readings join
    the findings (`unavailable` gains the reason when the activity failed)."""
    if isinstance(result, ActivityError):  # said once, not once per reading it would have had
        unavailable.append(f"prometheus readings unavailable ({result.cause})")
        return findings.model_copy(update={"error_class": "unknown"})
    deps = findings.dependencies.model_copy(update={"metrics_checked": True})
    cache = CacheSignals(
        hit_ratio=result.cache_hit_ratio,
        errors_per_second=result.cache_errors_per_second,
        memory_used_ratio=result.cache_memory_used_ratio,
        not_configured=[name for name in result.not_configured if name in CACHE_CHECKS],
    )
    deps = deps.model_copy(
        update={
            "downstream_error_ratio": result.downstream_error_ratio,
            "latency_p99_seconds": result.latency_p99_seconds,
            "not_configured": [name for name in result.not_configured if name not in CACHE_CHECKS],
        }
    )
    return findings.model_copy(
        update={
            "error_class": dominant_error_class(result.error_classes),
            "error_shares": result.error_classes,
            "dependencies": deps,
            "cache": cache,
        }
    )
