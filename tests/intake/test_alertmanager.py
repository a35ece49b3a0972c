"""Acceptance: a real Alertmanager posts to the intake, with bearer auth, and incidents follow.

Alerts go into Alertmanager through its own API (`POST /api/v2/alerts`), exactly as Prometheus
sends them; Alertmanager groups them and calls the intake's webhook. Nothing is faked between
Alertmanager and the incident workflow.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from tests.helpers import assert_eventually
from tests.intake.support import alertmanager_config, running_alertmanager
from workflows.incident import IncidentWorkflow

pytestmark = pytest.mark.system("prometheus-alertmanager")


@pytest_asyncio.fixture(loop_scope="session")
async def alertmanager(intake, tmp_path: Path) -> AsyncIterator[str]:
    """Alertmanager 0.25 on loopback, its webhook receiver pointing at the running intake."""
    async with running_alertmanager(alertmanager_config(intake.url), tmp_path) as base:
        yield base


def _alert(run: str, instance: str, *, resolved: bool = False) -> dict[str, object]:
    now = datetime.now(UTC)
    alert: dict[str, object] = {
        "labels": {"alertname": "HighErrorRate", "run": run, "service": "order-api", "instance": instance},
        "annotations": {"summary": "Order API returning 503s", "error_rate": "0.5%"},
        "startsAt": (now - timedelta(minutes=1)).isoformat(),
        "generatorURL": "http://prometheus.example.com:9090/graph",
    }
    if resolved:
        alert["endsAt"] = (now - timedelta(seconds=1)).isoformat()
    return alert


async def test_alertmanager_groups_become_one_incident_that_sees_joins_and_resolutions(intake, alertmanager):
    run = uuid.uuid4().hex[:8]
    async with httpx.AsyncClient(base_url=alertmanager) as am:

        async def post(*alerts: dict[str, object]) -> None:
            response = await am.post("/api/v2/alerts", json=list(alerts))
            assert response.status_code == 200, response.text

        await post(_alert(run, "pod-1"))

        async def opened() -> str:
            assert intake.calls.workflow_ids, "the intake has not recorded an alert yet"
            return intake.calls.workflow_ids[0]

        workflow_id = await assert_eventually(opened, timeout=20)
        handle = intake.client.get_workflow_handle(workflow_id)
        incident = await handle.query(IncidentWorkflow.current_state)
        assert incident.service == "order-api" and len(incident.firing_alerts) == 1
        assert incident.declared_at is None, "0.5% errors stays in Detection (the runbook declares above 1%)"

        await post(_alert(run, "pod-2"))

        async def joined() -> None:
            state = await handle.query(IncidentWorkflow.current_state)
            assert len(state.firing_alerts) == 2

        await assert_eventually(joined, timeout=20)
        assert set(intake.calls.workflow_ids) == {workflow_id}, "one group, one incident"

        await post(_alert(run, "pod-1", resolved=True), _alert(run, "pod-2", resolved=True))

        async def resolved() -> None:
            state = await handle.query(IncidentWorkflow.current_state)
            assert state.firing_alerts == []
            assert sum(1 for entry in state.timeline if entry.kind == "alert_resolved") == 2

        await assert_eventually(resolved, timeout=20)

    assert intake.metric("warroom_intake_requests_rejected_total", source="alertmanager", reason="unauthenticated") == 0
    assert intake.metric("warroom_intake_incidents_started_total", source="alertmanager") == 1
