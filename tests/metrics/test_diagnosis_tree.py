"""The decision tree in a running incident, from real readings: Command's diagnosis reads the
status-code classes, dependency calls and cache from a real Prometheus (conftest.py) and follows
the dominant class. Time-skipping
server; the cluster is not configured, so the Kubernetes checks are evidence of that."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from activities.metrics import PrometheusSource
from tests.helpers import incident_input, running_worker
from tests.rig import timeline_has
from warroom.enums import Severity
from warroom.models import DeploymentTarget, TimelineEntry
from warroom.runbook import load_runbook

pytestmark = pytest.mark.system("prometheus")


async def diagnosis_of(service: str, base: str | None, env: WorkflowEnvironment, root: Path) -> TimelineEntry:
    """Open a P2 on `service` with a Deployment target; the diagnosis Command posts to the timeline.
    Without `base` the worker has no Prometheus."""
    runbook = load_runbook()
    window = runbook.metrics.model_copy(update={"window": timedelta(seconds=5)})
    source = PrometheusSource(base, window) if base else None
    async with running_worker(env.client, root, metrics=source) as harness:
        handle = await harness.start(
            incident_input(
                service=service,
                summary=f"{service} errors",
                runbook=runbook,
                declared=True,
                declared_by="alice",
                severity=Severity.P2,
                commander="alice",
                target=DeploymentTarget(namespace="production", deployment=service),
            )
        )
        state = await timeline_has(handle, "diagnosis", 120)
    [diagnosis] = [e for e in state.timeline if e.kind == "diagnosis"]
    return diagnosis


async def test_a_service_answering_4xx_reaches_the_tree_s_4xx_branch(
    prometheus, skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    diagnosis = await diagnosis_of("checkout-api", prometheus[0], skipping_env, tmp_path)
    assert diagnosis.data["path"] == "error codes: 4xx", diagnosis.data
    assert diagnosis.data["conclusive"] == "no"
    assert diagnosis.data["evidence"].startswith("error classes: 5xx 2.0%, 4xx 10.0%, timeout 2.0%")
    assert "check whether this traffic is expected" in diagnosis.message
    assert "prometheus readings unavailable" not in diagnosis.data["evidence"]


async def test_a_service_timing_out_reaches_the_tree_s_network_branch(
    prometheus, skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    diagnosis = await diagnosis_of("gateway-api", prometheus[0], skipping_env, tmp_path)
    assert diagnosis.data["path"] == "error codes: timeout → connection timeouts: network/infrastructure"
    assert diagnosis.data["evidence"].startswith("error classes: 5xx 3.0%, 4xx 1.0%, timeout 6.0%")


async def test_server_errors_walk_the_dependencies_saying_what_is_not_configured(
    prometheus, skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """order-api answers 503s; the cluster is not configured (no deploy age, no logs), so the tree walks
    on to the dependencies, where the shipped runbook names no downstream, P99 or cache query."""
    diagnosis = await diagnosis_of("order-api", prometheus[0], skipping_env, tmp_path)
    path, evidence = diagnosis.data["path"], diagnosis.data["evidence"].split("; ")
    assert path.startswith(
        "error codes: 5xx → server errors → recent deployment: unknown → service logs → dependencies"
    )
    assert evidence[0] == "error classes: 5xx 5.0%, 4xx 0.0%, timeout 0.0%"
    assert evidence[1:4] == [
        "cache: not configured",
        "downstream error ratio: not configured",
        "dependency latency P99: not configured",
    ]


async def test_without_prometheus_the_class_is_unknown_never_guessed(
    skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    diagnosis = await diagnosis_of("order-api", None, skipping_env, tmp_path)
    assert diagnosis.data["path"].startswith("error codes: unknown → server errors")
    evidence = diagnosis.data["evidence"]
    assert "prometheus readings unavailable" in evidence and "not configured on this worker" in evidence
    assert "error classes:" not in evidence  # no class was read
    assert "no reading" not in evidence and "cache" not in evidence  # the one failure is said once
