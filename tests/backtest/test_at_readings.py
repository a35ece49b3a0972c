"""`audit --at` lists the last readings taken by then: a real Prometheus (tests/metrics/conftest.py)
read by Command's diagnosis on the dev server; before the reading, there is none."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from activities.metrics import PrometheusSource
from tests.helpers import incident_input, running_worker
from tests.metrics.conftest import prometheus  # noqa: F401  (the fixture, shared with tests/metrics)
from tests.rig import timeline_has
from warroom.audit import incident_histories
from warroom.audit_at import READINGS, snapshot_at
from warroom.contracts.metrics import READ_DIAGNOSIS_METRICS
from warroom.enums import Severity
from warroom.models import DeploymentTarget
from warroom.runbook import load_runbook

pytestmark = pytest.mark.system("prometheus")


async def test_the_last_readings_are_those_taken_by_then(
    prometheus: tuple[str, object],  # noqa: F811
    dev_env: WorkflowEnvironment,
    tmp_path: Path,
) -> None:
    runbook = load_runbook()
    window = runbook.metrics.model_copy(update={"window": timedelta(seconds=5)})
    async with running_worker(dev_env.client, tmp_path, metrics=PrometheusSource(prometheus[0], window)) as harness:
        handle = await harness.start(
            incident_input(
                service="order-api",
                runbook=runbook,
                declared=True,
                declared_by="alice",
                severity=Severity.P2,
                commander="alice",
                target=DeploymentTarget(namespace="production", deployment="order-api"),
            )
        )
        diagnosed = await timeline_has(handle, "diagnosis", 60)
        histories = await incident_histories(dev_env.client, handle.id)
    [diagnosis] = [e for e in diagnosed.timeline if e.kind == "diagnosis"]

    before = await snapshot_at(histories, diagnosed.opened_at)
    assert READ_DIAGNOSIS_METRICS.name not in {r.activity for r in before.readings}

    after = await snapshot_at(histories, datetime.now(UTC))
    names = [r.activity for r in after.readings]
    assert READ_DIAGNOSIS_METRICS.name in names and set(names) <= READINGS, names
    [reading] = [r for r in after.readings if r.activity == READ_DIAGNOSIS_METRICS.name]
    assert reading.workflow == "command" and reading.at <= diagnosis.at + timedelta(seconds=5)
    assert isinstance(reading.value, dict) and reading.value["error_classes"]["5xx"] == pytest.approx(0.05, abs=0.01)
    assert len(names) == len(set(names)), "one reading of each kind: the last"
