"""The decision tree in a running incident, from real readings: Command's diagnosis reads the
status-code classes from a real Prometheus (conftest.py) and follows the dominant one. Time-skipping
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
from warroom.models import DeploymentTarget
from warroom.runbook import load_runbook

pytestmark = pytest.mark.system("prometheus")


async def test_a_service_answering_4xx_reaches_the_tree_s_4xx_branch(
    prometheus, skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    base, _ = prometheus
    runbook = load_runbook()
    source = PrometheusSource(base, runbook.metrics.model_copy(update={"window": timedelta(seconds=5)}))
    async with running_worker(skipping_env.client, tmp_path, metrics=source) as harness:
        handle = await harness.start(
            incident_input(
                service="checkout-api",
                summary="checkout-api errors",
                runbook=runbook,
                declared=True,
                declared_by="alice",
                severity=Severity.P2,
                commander="alice",
                target=DeploymentTarget(namespace="production", deployment="checkout-api"),
            )
        )
        state = await timeline_has(handle, "diagnosis", 120)
    [diagnosis] = [e for e in state.timeline if e.kind == "diagnosis"]
    assert diagnosis.data["path"] == "error codes: 4xx", diagnosis.data
    assert diagnosis.data["conclusive"] == "no"
    assert diagnosis.data["evidence"].startswith("error classes: 5xx 2.0%, 4xx 10.0%, timeout 2.0%")
    assert "check whether this traffic is expected" in diagnosis.message
    assert "prometheus readings unavailable" not in diagnosis.data["evidence"]
