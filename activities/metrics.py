"""Metric readings over the Prometheus HTTP API (httpx): error ratio now and at a past instant
(the pre-deploy baseline), burn rate, and the series behind the clean-metrics window.

PromQL comes from the runbook (`metrics:`) with `$service` and `$window` filled only by values
validated here, so alert text never reaches a query. The activities' models and names are in
`warroom.contracts.metrics`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from string import Template
from typing import TYPE_CHECKING, Any

from temporalio import activity

from warroom.config import MetricsQueries
from warroom.contracts import metrics as contract
from warroom.contracts.errors import ActivityFailure, boundary
from warroom.contracts.metrics import CleanWindowRequest, ErrorRatioReading, ErrorRatioRequest
from warroom.contracts.steps import PROMQL_CHECK, PromqlCheckRequest, PromqlCheckResult
from warroom.enums import format_duration
from warroom.policy.clean_window import CleanWindowVerdict, MetricSample, clean_window_verdict, judged_against
from warroom.telemetry import metrics as telemetry

if TYPE_CHECKING:  # httpx loads when first used: a worker with no HTTP integration never imports it
    import httpx

_SERVICE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


class MetricsUnavailable(ActivityFailure):
    """Prometheus could not answer; a retry may help."""

    type = "MetricsUnavailable"
    retryable = True


class QueryRejected(ActivityFailure):
    """Prometheus rejected the query (bad PromQL in the runbook); a retry cannot help."""

    type = "QueryRejected"


def render_query(template: str, service: str, window: timedelta) -> str:
    """Fill a runbook PromQL template with a validated service name and a duration."""
    if not _SERVICE.fullmatch(service):
        raise ValueError(f"service {service!r} is not a DNS label; refusing to put it in a query")
    return Template(template).substitute(service=service, window=format_duration(window))


class PrometheusSource:
    """The `MetricsSource` for Prometheus' HTTP API."""

    def __init__(
        self, base_url: str, queries: MetricsQueries, http: httpx.AsyncClient | None = None, timeout: float = 10.0
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.queries = queries
        if http is None:
            import httpx

            http = httpx.AsyncClient(timeout=timeout)
        self._http = http

    async def _get(self, path: str, params: dict[str, str]) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = (await self._data(path, params))["result"]
        return result

    async def _data(self, path: str, params: dict[str, str]) -> dict[str, Any]:
        import httpx

        try:
            response = await self._http.get(f"{self.base_url}{path}", params=params)
        except httpx.HTTPError as exc:
            raise MetricsUnavailable(f"Prometheus at {self.base_url} unreachable: {exc}") from None
        if response.status_code in (400, 422):
            raise QueryRejected(f"Prometheus rejected the query: {response.json().get('error', response.text)[:300]}")
        if response.status_code >= 400:
            raise MetricsUnavailable(f"Prometheus answered {response.status_code}")
        body = response.json()
        if body.get("status") != "success":
            raise QueryRejected(f"Prometheus: {body.get('error', 'query failed')}")
        data: dict[str, Any] = body["data"]
        return data

    async def error_ratio(self, service: str, at: datetime | None = None) -> float | None:
        """The service's error ratio at `at` (default now); None when there is no traffic to judge by."""
        params = {"query": render_query(self.queries.error_ratio, service, self.queries.window)}
        if at is not None:
            params["time"] = f"{at.timestamp():.3f}"
        result = await self._get("/api/v1/query", params)
        if not result:
            return None
        value = float(result[0]["value"][1])
        return None if math.isnan(value) else value

    async def users_affected(self, service: str) -> float | None:
        """Share of users seeing errors, where the runbook names a metric for it (`metrics.users_affected`)."""
        if not self.queries.users_affected:
            return None
        result = await self._get(
            "/api/v1/query", {"query": render_query(self.queries.users_affected, service, self.queries.window)}
        )
        if not result:
            return None
        value = float(result[0]["value"][1])
        return None if math.isnan(value) else value

    async def instant(self, template: str, service: str) -> float | None:
        """One runbook query's value now; None when it has no series (or NaN: nothing to divide by)."""
        try:
            query = render_query(template, service, self.queries.window)
        except ValueError as exc:
            raise QueryRejected(str(exc)) from None
        result = await self._get("/api/v1/query", {"query": query})
        if not result:
            return None
        value = float(result[0]["value"][1])
        return None if math.isnan(value) else value

    async def values(self, query: str) -> list[float]:
        """A literal instant query's values now, one per series (a scalar is one); NaN dropped.
        The query is runbook config, sent as written: no alert text is ever put in it."""
        data = await self._data("/api/v1/query", {"query": query})
        if data["resultType"] == "scalar":
            raw = [data["result"][1]]
        elif data["resultType"] == "vector":
            raw = [series["value"][1] for series in data["result"]]
        else:
            raise QueryRejected(f"the query returns a {data['resultType']}, not an instant vector or a scalar")
        return [value for value in map(float, raw) if not math.isnan(value)]

    async def error_ratio_series(self, service: str, start: datetime, end: datetime) -> list[MetricSample]:
        params = {
            "query": render_query(self.queries.error_ratio, service, self.queries.window),
            "start": f"{start.timestamp():.3f}",
            "end": f"{end.timestamp():.3f}",
            "step": f"{max(1, int(self.queries.step.total_seconds()))}s",
        }
        result = await self._get("/api/v1/query_range", params)
        samples: list[MetricSample] = []
        for series in result[:1]:
            for stamp, raw in series["values"]:
                value = float(raw)
                if not math.isnan(value):
                    samples.append(
                        MetricSample(at=datetime.fromtimestamp(float(stamp), tz=start.tzinfo), error_ratio=value)
                    )
        return samples

    def burn_rate(self, error_ratio: float) -> float:
        return error_ratio / (1 - self.queries.slo_target)

    async def aclose(self) -> None:
        await self._http.aclose()


# --- Activities ------------------------------------------------------------------------------


class MetricsActivities:
    """Activity holder: the worker injects the source chosen by config."""

    def __init__(self, source: PrometheusSource) -> None:
        self.source = source

    @activity.defn(name=contract.READ_ERROR_RATIO.name)
    async def read_error_ratio(self, req: ErrorRatioRequest) -> ErrorRatioReading:
        now = datetime.now(UTC)
        with boundary(), _invalid_service_rejected():
            current = await self.source.error_ratio(req.service)
            baseline_at = req.deployed_at - self.source.queries.baseline_offset if req.deployed_at else None
            baseline = await self.source.error_ratio(req.service, baseline_at) if baseline_at else None
            users = await self.source.users_affected(req.service)
        return ErrorRatioReading(
            service=req.service,
            error_ratio=current,
            burn_rate=self.source.burn_rate(current) if current is not None else None,
            users_affected=users,
            baseline_error_ratio=baseline,
            baseline_at=baseline_at,
            read_at=now,
        )

    @activity.defn(name=contract.CHECK_CLEAN_WINDOW.name)
    async def check_clean_window(self, req: CleanWindowRequest) -> CleanWindowVerdict:
        now = datetime.now(UTC)
        with boundary(), _invalid_service_rejected():
            pre_deploy = None
            if req.deployed_at is not None:
                baseline_at = req.deployed_at - self.source.queries.baseline_offset
                pre_deploy = await self.source.error_ratio(req.service, baseline_at)
            samples = await self.source.error_ratio_series(req.service, req.mitigation_applied_at, now)
        threshold, words = judged_against(
            pre_deploy, req.baseline_tolerance, req.baseline_error_ratio, has_deploy=req.deployed_at is not None
        )
        verdict = clean_window_verdict(
            now=now,
            window=req.window,
            mitigation_applied_at=req.mitigation_applied_at,
            baseline_error_ratio=threshold,
            samples=samples,
            last_firing_alert_at=req.last_firing_alert_at,
            baseline=words,
        )
        telemetry.record_clean_window(verdict.clean)
        return verdict

    @activity.defn(name=PROMQL_CHECK.name)
    async def promql_check(self, req: PromqlCheckRequest) -> PromqlCheckResult:
        """A step's verification: does the runbook entry's query now read inside its bound?"""
        with boundary():
            values = await self.source.values(req.query)
        return judge_promql(req, values)


def judge_promql(req: PromqlCheckRequest, values: list[float]) -> PromqlCheckResult:
    """Every series must be inside the bound; the value shown is the one furthest from it.
    No series is never a pass: a metric that is not scraped does not prove the step worked."""
    if not values:
        return PromqlCheckResult(
            passed=False, value=None, message="the query returned no series (or only NaN): nothing to judge"
        )
    worst = max(values) if req.below is not None else min(values)
    bounds = []
    if req.below is not None:
        bounds.append(("below", req.below, max(values) < req.below))
    if req.above is not None:
        bounds.append(("above", req.above, min(values) > req.above))
    if not bounds:
        return PromqlCheckResult(passed=True, value=worst, message=f"{_n(worst)} (no bound set: any series passes)")
    failed = [(word, bound) for word, bound, ok in bounds if not ok]
    if failed:
        word, bound = failed[0]
        worst = max(values) if word == "below" else min(values)
    series = f" (worst of {len(values)} series)" if len(values) > 1 else ""
    if failed:
        return PromqlCheckResult(
            passed=False, value=worst, message=f"{_n(worst)}{series} is not {word} {_n(bound)}: not yet"
        )
    inside = " and ".join(f"{word} {_n(bound)}" for word, bound, _ in bounds)
    return PromqlCheckResult(passed=True, value=worst, message=f"{_n(worst)}{series} is {inside}")


def _n(value: float) -> str:
    return f"{value:.6g}"


@contextmanager
def _invalid_service_rejected() -> Iterator[None]:
    """`render_query` refuses a service that is no DNS label (ValueError): a query never sent."""
    try:
        yield
    except ValueError as exc:
        raise QueryRejected(str(exc)) from None
