"""Temporal down while alerts arrive: nothing is acknowledged that was not recorded, nothing is lost.

A dev server of the test's own (restartable, same database file), a worker and the intake
connected to it, and a real Alertmanager routing to the intake. With the server stopped, the
alert fired into Alertmanager is refused 503 (Alertmanager's own metrics show the failed
attempts), a webhook POSTed directly gets 503 with Retry-After, and the intake answers not one
request 2xx. Once the server is back, Alertmanager's retry delivers the alert and the incident
opens, with the alert in it once (a retry that landed twice is counted as a repeat); every 2xx the
intake gave is in the incident's history. Every refusal the intake counted is one Alertmanager saw
fail, bar the direct POST.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from temporalio.client import Client
from temporalio.service import RPCError

from tests.devserver import DevServer
from tests.helpers import assert_eventually, not_yet, running_worker, state_of
from tests.intake.support import Intake, alertmanager_config, open_intake, payload, running_alertmanager, scrape
from warroom.client import connect
from warroom.intake import identity
from warroom.models import IncidentState
from warroom.settings import Settings

pytestmark = [pytest.mark.e2e, pytest.mark.system("prometheus-alertmanager")]
TEMPORAL_TIMEOUT = 3.0
"""The intake's wait for Temporal before answering 503: short, so Alertmanager (which gives one
notification at most 10 s, retries included) sees several refusals rather than one hung request."""
RETRY_AFTER = 2


def answered(intake: Intake, code: str) -> float:
    """Alertmanager-endpoint requests the intake answered with `code` (its latency histogram's count)."""
    return intake.metric("warroom_intake_request_duration_seconds_count", source="alertmanager", code=code)


async def webhook_requests(alertmanager: str) -> tuple[float, float]:
    """(sent, failed) webhook requests, retries included, by Alertmanager's own metrics."""
    sent = await scrape(alertmanager, "alertmanager_notification_requests_total", integration="webhook")
    failed = await scrape(alertmanager, "alertmanager_notification_requests_failed_total", integration="webhook")
    return sent, failed


async def incident(client: Client, workflow_id: str) -> IncidentState:
    """The incident's state, or AssertionError while it does not exist or Temporal is not answering."""
    try:
        return await asyncio.wait_for(state_of(client.get_workflow_handle(workflow_id)), 5)
    except (RPCError, TimeoutError) as exc:
        raise AssertionError(f"no incident yet: {exc}") from None


async def test_an_alert_refused_while_temporal_is_down_opens_its_incident_once_temporal_is_back(tmp_path: Path) -> None:
    server = DevServer(tmp_path / "temporal.db")
    await server.start()
    try:
        client = await connect(Settings(temporal_address=server.address), wait=30)
        async with (
            running_worker(client, tmp_path / "worker") as harness,
            open_intake(client, harness.queue, temporal_timeout=TEMPORAL_TIMEOUT, retry_after=RETRY_AFTER) as intake,
            running_alertmanager(alertmanager_config(intake.url, group_interval="3s"), tmp_path) as alertmanager,
        ):
            assert (await intake.http.get("/healthz")).json()["temporal"] == "reachable"
            run = uuid.uuid4().hex[:8]
            alert = {
                "labels": {"alertname": "HighErrorRate", "run": run, "service": "order-api"},
                "annotations": {"summary": "Order API returning 503s", "error_rate": "0.5%"},
                "startsAt": (datetime.now(UTC) - timedelta(minutes=1)).isoformat(),
            }
            probe = payload("alertmanager")
            probe_id = identity.workflow_id("alertmanager", probe["groupKey"])

            server.stop()
            try:
                async with httpx.AsyncClient(base_url=alertmanager) as am:
                    assert (await am.post("/api/v2/alerts", json=[alert])).status_code == 200
                direct = await intake.post("alertmanager", probe)

                async def alertmanager_was_refused() -> None:
                    assert (await webhook_requests(alertmanager))[1] >= 1 or not_yet()

                await assert_eventually(alertmanager_was_refused, timeout=30, interval=0.3)
                refused = intake.metric(
                    "warroom_intake_requests_rejected_total", source="alertmanager", reason="temporal_unavailable"
                )
                acknowledged_while_down = answered(intake, "200")
            except BaseException:
                await server.start()  # let the cleanup reach Temporal
                raise

            assert direct.status_code == 503, direct.text
            assert direct.headers["Retry-After"] == str(RETRY_AFTER) and "not recorded" in direct.json()["detail"]
            assert refused >= 2, "the direct POST and at least one of Alertmanager's attempts"
            assert acknowledged_while_down == 0, "a 2xx while Temporal was down would acknowledge an unrecorded alert"

            await server.start()

            async def opened() -> IncidentState:
                ours = set(intake.calls.workflow_ids) - {probe_id}
                assert len(ours) == 1, f"one group, one incident: {ours}"
                return await incident(client, ours.pop())

            state = await assert_eventually(opened, timeout=40, interval=0.3)

            async def alertmanager_delivered() -> None:
                sent, failed = await webhook_requests(alertmanager)
                assert sent - failed >= 1 or not_yet()

            await assert_eventually(alertmanager_delivered, timeout=20, interval=0.3)
            await asyncio.sleep(1)  # a retry racing the first success would show up now
            failed = (await webhook_requests(alertmanager))[1]
            state = await incident(client, state.workflow_id)

        acknowledged = answered(intake, "200")
        refused = intake.metric(
            "warroom_intake_requests_rejected_total", source="alertmanager", reason="temporal_unavailable"
        )
        assert failed == refused - 1, "each 503 but the direct POST's was one of Alertmanager's failed attempts"
        assert 1 <= acknowledged <= state.alerts_received, "every alert answered 2xx is in the incident's history"
        assert state.alerts_received - state.alerts_repeated == 1 and len(state.firing_alerts) == 1
        print(
            f"\n[reliability] Temporal down: {refused:.0f} deliveries refused 503 (Retry-After {RETRY_AFTER}s), "
            f"0 answered 2xx, Alertmanager saw {failed:.0f} failed attempts; after restart its retry opened the "
            f"incident (alerts_received {state.alerts_received}, repeats {state.alerts_repeated})"
        )
    finally:
        server.stop()
