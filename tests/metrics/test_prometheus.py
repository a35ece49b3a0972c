"""The metrics path against a real Prometheus scraping a real exporter on loopback (conftest.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from temporalio.testing import ActivityEnvironment

from activities.metrics import MetricsActivities, MetricsUnavailable, PrometheusSource, QueryRejected, render_query
from tests.helpers import free_port
from warroom.config import MetricsQueries
from warroom.contracts.metrics import CleanWindowRequest, ErrorRatioRequest

pytestmark = pytest.mark.system("prometheus")
QUERIES = MetricsQueries(window=timedelta(seconds=5), step=timedelta(seconds=1))


async def test_error_ratio_now_and_the_pre_deploy_baseline(prometheus) -> None:
    base, service = prometheus
    source = PrometheusSource(base, QUERIES)
    deployed_at = datetime.fromtimestamp(service.errors_since, tz=UTC)
    assert await source.error_ratio("order-api") == pytest.approx(0.05, abs=0.002)
    assert await source.error_ratio("order-api", deployed_at - timedelta(seconds=1)) == pytest.approx(0.0, abs=1e-9)
    assert await source.error_ratio("no-such-service") is None


async def test_the_series_since_mitigation_shows_the_errors(prometheus) -> None:
    base, service = prometheus
    source = PrometheusSource(base, QUERIES)
    now = datetime.now(UTC)
    samples = await source.error_ratio_series("order-api", now - timedelta(seconds=10), now)
    assert len(samples) >= 5
    assert max(s.error_ratio for s in samples) == pytest.approx(0.05, abs=0.002)
    assert min(s.error_ratio for s in samples) < 0.05


async def test_the_activity_reads_current_baseline_and_burn_rate(prometheus) -> None:
    base, service = prometheus
    deployed_at = datetime.fromtimestamp(service.errors_since, tz=UTC) + timedelta(seconds=59)
    activities = MetricsActivities(PrometheusSource(base, QUERIES))
    reading = await ActivityEnvironment().run(
        activities.read_error_ratio, ErrorRatioRequest(service="order-api", deployed_at=deployed_at)
    )
    assert reading.error_ratio == pytest.approx(0.05, abs=0.002)
    assert reading.burn_rate == pytest.approx(50, rel=0.05)  # 5 % errors against a 99.9 % SLO
    assert reading.baseline_error_ratio == pytest.approx(0.0, abs=1e-9)


def clean_window_request(deployed_at: datetime | None, declare_threshold: float) -> CleanWindowRequest:
    """The last 5 s of a service at 5 % errors, judged over a 2 s window."""
    return CleanWindowRequest(
        service="order-api",
        mitigation_applied_at=datetime.now(UTC) - timedelta(seconds=5),
        baseline_error_ratio=declare_threshold,
        window=timedelta(seconds=2),
        deployed_at=deployed_at,
        baseline_tolerance=0.001,
    )


async def test_with_a_deploy_clean_means_the_pre_deploy_baseline(prometheus) -> None:
    """The same 5 % that is under a 10 % declare threshold is far above the 0 % before the deploy."""
    base, service = prometheus
    queries = QUERIES.model_copy(update={"baseline_offset": timedelta(seconds=1)})
    activities = MetricsActivities(PrometheusSource(base, queries))
    deployed_at = datetime.fromtimestamp(service.errors_since, tz=UTC)
    verdict = await ActivityEnvironment().run(activities.check_clean_window, clean_window_request(deployed_at, 0.10))
    assert verdict.clean is False and verdict.baseline == "pre-deploy baseline 0.0% (+0.1%)"
    assert "above pre-deploy baseline 0.0% (+0.1%)" in verdict.reason


async def test_without_a_deploy_clean_means_under_the_declare_threshold(prometheus) -> None:
    base, _ = prometheus
    activities = MetricsActivities(PrometheusSource(base, QUERIES))
    verdict = await ActivityEnvironment().run(activities.check_clean_window, clean_window_request(None, 0.10))
    assert verdict.clean is True and verdict.baseline == "declare threshold 10.0%"
    verdict = await ActivityEnvironment().run(activities.check_clean_window, clean_window_request(None, 0.01))
    assert verdict.clean is False and "above declare threshold 1.0%" in verdict.reason


async def test_a_deploy_with_no_reading_before_it_falls_back_to_the_declare_threshold(prometheus) -> None:
    """Prometheus has no sample a minute before this deploy (it was not running yet): nothing to compare with."""
    base, service = prometheus
    activities = MetricsActivities(PrometheusSource(base, QUERIES))  # the baseline is read 1 min before
    deployed_at = datetime.fromtimestamp(service.errors_since, tz=UTC)
    verdict = await ActivityEnvironment().run(activities.check_clean_window, clean_window_request(deployed_at, 0.10))
    assert verdict.clean is True and verdict.baseline == "declare threshold 10.0% (no reading before the deploy)"


async def test_users_affected_where_the_runbook_names_a_metric(prometheus) -> None:
    base, _ = prometheus
    assert await PrometheusSource(base, QUERIES).users_affected("order-api") is None  # none named: unknown, not 0
    named = QUERIES.model_copy(
        update={"users_affected": 'max(http_requests_total{service="$service",code="503"}) * 0 + 0.03'}
    )
    assert await PrometheusSource(base, named).users_affected("order-api") == pytest.approx(0.03)


async def test_bad_promql_in_the_runbook_is_not_retried(prometheus) -> None:
    base, _ = prometheus
    broken = QUERIES.model_copy(update={"error_ratio": 'sum(rate(http_requests_total{service="$service"}[$window]'})
    with pytest.raises(QueryRejected):
        await PrometheusSource(base, broken).error_ratio("order-api")


async def test_prometheus_down_is_retryable() -> None:
    with pytest.raises(MetricsUnavailable):
        await PrometheusSource(f"http://127.0.0.1:{free_port()}", QUERIES).error_ratio("order-api")


@pytest.mark.parametrize("hostile", ['x"} or vector(1) #', "order-api\n", "../etc", "A" * 70, ""])
def test_only_a_dns_label_reaches_a_query(hostile: str) -> None:
    with pytest.raises(ValueError):
        render_query(QUERIES.error_ratio, hostile, QUERIES.window)
