"""The decision tree's Prometheus readings, against a real Prometheus (conftest.py) with the runbook's
own PromQL: each status-code class's share, and which class the tree follows; the dependency calls'
error ratio and P99, and the cache, with the PromQL a team would name."""

from __future__ import annotations

from datetime import timedelta

import pytest
from temporalio.testing import ActivityEnvironment

from activities.diagnosis_metrics import DiagnosisMetricsActivities
from activities.metrics import PrometheusSource, QueryRejected
from tests.metrics.conftest import CACHE_QUERIES, DOWNSTREAM_ERROR_RATIO, LATENCY_P99
from warroom.contracts.metrics import DiagnosisMetricsReading, DiagnosisMetricsRequest
from warroom.policy.error_classes import dominant_error_class
from warroom.runbook import load_runbook

pytestmark = pytest.mark.system("prometheus")
QUERIES = load_runbook().metrics.model_copy(update={"window": timedelta(seconds=5)})


async def read(base: str, service: str, queries=QUERIES) -> DiagnosisMetricsReading:  # type: ignore[no-untyped-def]
    activities = DiagnosisMetricsActivities(PrometheusSource(base, queries))
    return await ActivityEnvironment().run(activities.read_diagnosis_metrics, DiagnosisMetricsRequest(service=service))


@pytest.mark.parametrize(
    ("service", "shares", "dominant"),
    [
        ("order-api", {"5xx": 0.05, "4xx": 0.0, "timeout": 0.0}, "5xx"),  # no 4xx series, but traffic: none served
        ("checkout-api", {"5xx": 0.02, "4xx": 0.10, "timeout": 0.02}, "4xx"),  # 408 is a timeout, not a 4xx
        ("gateway-api", {"5xx": 0.03, "4xx": 0.01, "timeout": 0.06}, "timeout"),  # 504 is a timeout, not a 5xx
    ],
)
async def test_each_class_s_share_of_requests_and_the_dominant_one(prometheus, service, shares, dominant) -> None:
    base, _ = prometheus
    reading = await read(base, service)
    assert reading.service == service
    assert reading.error_classes == {cls: pytest.approx(share, abs=0.002) for cls, share in shares.items()}
    assert dominant_error_class(reading.error_classes) == dominant


@pytest.mark.parametrize("service", ["idle-api", "no-such-service"])
async def test_no_traffic_is_no_reading_and_an_unknown_class(prometheus, service: str) -> None:
    base, _ = prometheus
    reading = await read(base, service)
    assert reading.error_classes == {"5xx": None, "4xx": None, "timeout": None}
    assert dominant_error_class(reading.error_classes) == "unknown"


async def test_a_class_the_runbook_leaves_out_is_not_read(prometheus) -> None:
    base, _ = prometheus
    diagnosis = QUERIES.diagnosis.model_copy(update={"error_classes": {"5xx": QUERIES.diagnosis.error_classes["5xx"]}})
    reading = await read(base, "checkout-api", QUERIES.model_copy(update={"diagnosis": diagnosis}))
    assert reading.error_classes == {"5xx": pytest.approx(0.02, abs=0.002)}


async def test_bad_promql_for_a_class_is_not_retried(prometheus) -> None:
    base, _ = prometheus
    diagnosis = QUERIES.diagnosis.model_copy(update={"error_classes": {"4xx": 'sum(rate(x{service="$service"}'}})
    source = PrometheusSource(base, QUERIES.model_copy(update={"diagnosis": diagnosis}))
    with pytest.raises(QueryRejected):
        await source.instant(diagnosis.error_classes["4xx"], "checkout-api")
    with pytest.raises(QueryRejected):  # and a service that is no DNS label never reaches a query
        await source.instant(QUERIES.diagnosis.error_classes["5xx"], 'x"} or vector(1) #')


async def test_dependency_calls_where_the_runbook_names_their_queries(prometheus) -> None:
    base, _ = prometheus
    named = QUERIES.diagnosis.model_copy(
        update={"downstream_error_ratio": DOWNSTREAM_ERROR_RATIO, "latency_p99": LATENCY_P99}
    )
    reading = await read(base, "order-api", QUERIES.model_copy(update={"diagnosis": named}))
    assert reading.downstream_error_ratio == pytest.approx(0.03, abs=0.002)
    assert reading.latency_p99_seconds == pytest.approx(1.75, abs=0.01)  # histogram_quantile over the buckets
    assert reading.not_configured == ["cache hit ratio", "cache connection errors", "cache memory used"]
    other = await read(base, "checkout-api", QUERIES.model_copy(update={"diagnosis": named}))
    assert (other.downstream_error_ratio, other.latency_p99_seconds) == (None, None)  # no series: no reading


async def test_dependency_checks_the_runbook_names_no_query_for_are_not_configured(prometheus) -> None:
    base, _ = prometheus
    reading = await read(base, "order-api")  # the shipped runbook names none
    assert (reading.downstream_error_ratio, reading.latency_p99_seconds) == (None, None)
    assert reading.not_configured[:2] == ["downstream error ratio", "dependency latency P99"]


async def test_the_cache_where_the_runbook_names_its_queries(prometheus) -> None:
    base, _ = prometheus
    named = QUERIES.diagnosis.model_copy(update=CACHE_QUERIES)
    reading = await read(base, "order-api", QUERIES.model_copy(update={"diagnosis": named}))
    assert reading.cache_hit_ratio == pytest.approx(0.6, abs=0.01)
    assert reading.cache_errors_per_second == pytest.approx(0.5, abs=0.05)
    assert reading.cache_memory_used_ratio == pytest.approx(0.95)
    assert reading.not_configured == ["downstream error ratio", "dependency latency P99"]
    other = await read(base, "checkout-api", QUERIES.model_copy(update={"diagnosis": named}))
    assert (other.cache_hit_ratio, other.cache_errors_per_second, other.cache_memory_used_ratio) == (None, None, None)


async def test_a_runbook_naming_no_cache_query_has_no_cache_configured(prometheus) -> None:
    base, _ = prometheus
    reading = await read(base, "order-api")
    assert {"cache hit ratio", "cache connection errors", "cache memory used"} <= set(reading.not_configured)
    assert (reading.cache_hit_ratio, reading.cache_errors_per_second, reading.cache_memory_used_ratio) == (None,) * 3
