"""The PromQL verification after a step, against the real Prometheus of conftest.py: order-api at
5 % errors of 100 req/s, checkout-api with six status codes at fixed rates."""

from __future__ import annotations

from datetime import timedelta

import pytest
from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.metrics import MetricsActivities, PrometheusSource
from tests.helpers import free_port
from warroom.config import MetricsQueries
from warroom.contracts.steps import METRICS, PromqlCheckRequest, PromqlCheckResult

pytestmark = pytest.mark.system("prometheus")
QUERIES = MetricsQueries(window=timedelta(seconds=5), step=timedelta(seconds=1))
ERRORS = (
    'sum(rate(http_requests_total{service="order-api",code=~"5.."}[5s]))'
    ' / sum(rate(http_requests_total{service="order-api"}[5s]))'
)
CODES = 'sum by (code) (rate(http_requests_total{service="checkout-api"}[5s]))'  # 86, 9, 2, 1, 1, 1 per second


async def check(base: str, query: str, below: float | None = None, above: float | None = None) -> PromqlCheckResult:
    activities = MetricsActivities(PrometheusSource(base, QUERIES))
    req = PromqlCheckRequest(query=query, below=below, above=above)
    result: PromqlCheckResult = await ActivityEnvironment().run(activities.promql_check, req)
    return result


async def test_a_reading_inside_its_bound_passes(prometheus) -> None:
    result = await check(prometheus[0], ERRORS, below=0.10)
    assert result.passed and result.value == pytest.approx(0.05, abs=0.002)
    assert result.message.startswith("0.05") and result.message.endswith("is below 0.1")


async def test_a_reading_outside_its_bound_fails_saying_so(prometheus) -> None:
    result = await check(prometheus[0], ERRORS, below=0.01)
    assert not result.passed and result.value == pytest.approx(0.05, abs=0.002)
    assert result.message.endswith("is not below 0.01: not yet")
    traffic = await check(prometheus[0], 'sum(rate(http_requests_total{service="order-api"}[5s]))', above=50, below=200)
    assert traffic.passed and traffic.value == pytest.approx(100, rel=0.02)
    assert traffic.message.endswith("is below 200 and above 50")


async def test_no_series_never_passes(prometheus) -> None:
    result = await check(prometheus[0], 'sum(rate(http_requests_total{service="no-such-service"}[5s]))', below=1)
    assert (result.passed, result.value) == (False, None)
    assert "no series" in result.message
    nan = await check(prometheus[0], 'sum(rate(http_requests_total{service="idle-api"}[5s])) / 0 * 0', below=1)
    assert (nan.passed, nan.value) == (False, None)


async def test_every_series_must_pass_and_the_worst_is_shown(prometheus) -> None:
    high = await check(prometheus[0], CODES, below=50)
    assert not high.passed and high.value == pytest.approx(86, rel=0.02)
    assert "(worst of 6 series)" in high.message
    low = await check(prometheus[0], CODES, above=0.5)
    assert low.passed and low.value == pytest.approx(1, rel=0.05)
    assert (await check(prometheus[0], CODES, above=1.5)).passed is False


async def test_a_scalar_and_a_query_with_no_bound(prometheus) -> None:
    scalar = await check(prometheus[0], "scalar(vector(0.25))", below=0.5)
    assert (scalar.passed, scalar.value) == (True, 0.25)
    unbounded = await check(prometheus[0], 'up{job="order-api"}')
    assert (unbounded.passed, unbounded.value) == (True, 1.0)
    assert "no bound set" in unbounded.message


@pytest.mark.parametrize("query", ['sum(rate(http_requests_total{service="order-api"}[5s])', "http_requests_total[5s]"])
async def test_bad_promql_or_a_range_is_rejected_not_retried(prometheus, query: str) -> None:
    with pytest.raises(ApplicationError) as caught:
        await check(prometheus[0], query, below=1)
    assert (caught.value.type, caught.value.non_retryable) == ("QueryRejected", True)


async def test_prometheus_down_is_retryable() -> None:
    with pytest.raises(ApplicationError) as caught:
        await check(f"http://127.0.0.1:{free_port()}", ERRORS, below=1)
    assert (caught.value.type, caught.value.non_retryable) == ("MetricsUnavailable", False)


def test_registered_under_the_contract_s_name() -> None:
    activities = MetricsActivities(PrometheusSource("http://127.0.0.1:1", QUERIES))
    assert [activity._Definition.must_from_callable(activities.promql_check).name] == [c.name for c in METRICS]
