"""Traces fixtures: the SDK's in-memory exporter installed as warroom's tracing, and a sandbox cluster.

Every span goes to `InMemorySpanExporter` as it ends (a SimpleSpanProcessor), so a test reads the
whole tree; the provider is uninstalled afterwards, so no other test runs traced.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from sandbox.cluster import RunningCluster, load_scenario, serve
from warroom.telemetry import tracing

NS = "production"
SCENARIO = {
    "name": "traces",
    "tick_seconds": 0.05,
    "defaults": {"start_seconds": 0.05, "ready_seconds": 0.1, "logs": ["INFO GET /orders 200"]},
    "namespaces": [NS],
    "deployments": [
        {
            "name": "order-api",
            "namespace": NS,
            "replicas": 2,
            "history": [{"image": "registry.example.com/order-api:v2.14.2", "at": "-3h"}],
        }
    ],
}


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """warroom's tracing on, exporting to memory, for one test."""
    assert tracing.active() is None, "a test left tracing installed"
    _, exporter = tracing.install_in_memory()
    try:
        yield exporter
    finally:
        tracing.shutdown()


@pytest.fixture
def cluster() -> Iterator[RunningCluster]:
    """The sandbox's Kubernetes API emulator with order-api in production (real HTTP on loopback)."""
    with serve(load_scenario(SCENARIO)) as running:
        yield running
