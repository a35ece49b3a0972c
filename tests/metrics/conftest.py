"""A real Prometheus scraping a real exporter on loopback, one per test module.

The exporter serves `order-api` (100 req/s, `error_share` of them 503 from `errors_since` on) and
services whose traffic has a fixed status-code mix from the start (`STEADY`), for the decision
tree's error classes.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import pytest_asyncio
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

from tests.helpers import free_port
from tests.prometheus_server import start_prometheus

PROMETHEUS = shutil.which("prometheus")

STEADY: dict[str, dict[str, float]] = {
    # requests per second by status code
    "checkout-api": {"200": 86, "404": 9, "401": 1, "500": 2, "504": 1, "408": 1},  # 4xx 10 %, 5xx 2 %, timeouts 2 %
    "gateway-api": {"200": 90, "504": 6, "503": 3, "400": 1},  # timeouts 6 %, 5xx 3 %, 4xx 1 %
    "idle-api": {"200": 0, "503": 0},  # series, but no traffic: no share to read
}
DEPENDENCY_CALLS: dict[str, dict[str, float]] = {"order-api": {"200": 97, "503": 3}}  # 3 % downstream errors
DEPENDENCY_LATENCY: dict[str, dict[str, float]] = {
    # calls per second at or under each bucket's bound (cumulative): P99 interpolates to 1.75 s
    "order-api": {"0.1": 90, "0.5": 95, "1.0": 98, "2.5": 100, "+Inf": 100},
}
CACHE: dict[str, dict[str, float]] = {
    # per second, except memory_used (a ratio): 60 % hits, half a connection error a second, 95 % full
    "order-api": {"hits": 60, "lookups": 100, "connection_errors": 0.5, "memory_used": 0.95},
}
CACHE_QUERIES = {
    "cache_hit_ratio": 'sum(rate(cache_hits_total{service="$service"}[$window]))'
    ' / sum(rate(cache_lookups_total{service="$service"}[$window]))',
    "cache_errors": 'sum(rate(cache_connection_errors_total{service="$service"}[$window]))',
    "cache_memory_used": 'max(cache_memory_used_ratio{service="$service"})',
}
DOWNSTREAM_ERROR_RATIO = (
    'sum(rate(http_client_requests_total{service="$service",code=~"5.."}[$window]))'
    ' / sum(rate(http_client_requests_total{service="$service"}[$window]))'
)
LATENCY_P99 = 'histogram_quantile(0.99, sum by (le) (rate(http_client_request_duration_seconds_bucket{service="$service"}[$window])))'


class OrderApi:
    """Counters of a service serving 100 req/s; `error_share` of them 503 from `errors_since` on."""

    def __init__(self) -> None:
        self.started = time.time()
        self.errors_since: float | None = None
        self.error_share = 0.05

    def collect(self) -> Iterator[Metric]:
        now = time.time()
        total = 100 * (now - self.started)
        errors = 100 * self.error_share * (now - self.errors_since) if self.errors_since else 0.0
        family = CounterMetricFamily("http_requests", "requests served", labels=["service", "code"])
        family.add_metric(["order-api", "200"], total - errors)
        family.add_metric(["order-api", "503"], errors)
        for service, rates in STEADY.items():
            for code, per_second in rates.items():
                family.add_metric([service, code], per_second * (now - self.started))
        yield family
        calls = CounterMetricFamily("http_client_requests", "calls to dependencies", labels=["service", "code"])
        for service, rates in DEPENDENCY_CALLS.items():
            for code, per_second in rates.items():
                calls.add_metric([service, code], per_second * (now - self.started))
        yield calls
        latency = HistogramMetricFamily(
            "http_client_request_duration_seconds", "dependency call latency", labels=["service"]
        )
        for service, buckets in DEPENDENCY_LATENCY.items():
            counts = [(le, per_second * (now - self.started)) for le, per_second in buckets.items()]
            latency.add_metric([service], counts, sum_value=0.3 * counts[-1][1])
        yield latency
        for name in ("hits", "lookups", "connection_errors"):
            counter = CounterMetricFamily(f"cache_{name}", f"cache {name}", labels=["service"])
            for service, cache in CACHE.items():
                counter.add_metric([service], cache[name] * (now - self.started))
            yield counter
        memory = GaugeMetricFamily("cache_memory_used_ratio", "cache memory used / limit", labels=["service"])
        for service, cache in CACHE.items():
            memory.add_metric([service], cache["memory_used"])
        yield memory


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def prometheus(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[tuple[str, OrderApi]]:
    assert PROMETHEUS, "needs Debian's `prometheus`"
    service = OrderApi()
    registry = CollectorRegistry()
    registry.register(service)  # type: ignore[arg-type]
    exporter_port = free_port()
    server, thread = start_http_server(exporter_port, addr="127.0.0.1", registry=registry)
    root = tmp_path_factory.mktemp("prometheus")
    proc, base = await start_prometheus(
        root,
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        f"scrape_configs:\n  - job_name: order-api\n    static_configs: [{{targets: ['127.0.0.1:{exporter_port}']}}]\n",
    )
    try:
        async with httpx.AsyncClient() as http:
            for _ in range(300):  # Prometheus scrapes a few seconds after it is ready
                answer = (await http.get(f"{base}/api/v1/query", params={"query": "http_requests_total[10s]"})).json()
                if answer["data"]["result"] and len(answer["data"]["result"][0]["values"]) >= 3:
                    break
                await asyncio.sleep(0.2)
        await asyncio.sleep(2)  # healthy traffic first: the baseline
        service.errors_since = time.time()
        await asyncio.sleep(7)  # then a full window of 5 % errors
        yield base, service
    finally:
        proc.terminate()
        proc.wait(10)
        server.shutdown()
