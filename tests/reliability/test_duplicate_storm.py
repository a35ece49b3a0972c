"""Duplicate deliveries end in exactly one incident, and every copy is accounted for.

Senders repeat themselves: Alertmanager re-sends a group, two independent Alertmanagers both
notify, PagerDuty redelivers an event it did not see acknowledged in time. Proven here against the
real intake, a real worker and the session's dev server:

* 100 byte-identical Alertmanager webhooks at once: one incident; all 200 alerts they carry are
  in its `alerts_received` and in `warroom_intake_alerts_received_total`, and all but the first
  firing one are counted as repeats (`alerts_repeated`, `warroom_intake_alerts_repeated_total`);
* two real, unclustered Alertmanagers given the same alert: one incident, each one's successful
  delivery recorded once (counted against Alertmanager's own metrics), the second as a repeat;
* one signed PagerDuty event delivered 8 times (5 overlapping, as retries after a timeout do, then
  3 more): one incident, one alert recorded, every copy answered 2xx, 7 counted as duplicates.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from tests.helpers import Harness, assert_eventually, not_yet, running_worker, state_of
from tests.intake.support import Intake, alertmanager_config, open_intake, payload, running_alertmanager, scrape

pytestmark = [pytest.mark.e2e, pytest.mark.system("prometheus-alertmanager")]
COPIES = 100
FIRING = "4e6d8a0b9c1f2e33"
"""The firing alert of the documented Alertmanager example (its other alert is already resolved)."""


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def worker(dev_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Harness]:
    async with running_worker(dev_env.client, tmp_path_factory.mktemp("storm-worker")) as harness:
        yield harness


@pytest_asyncio.fixture(loop_scope="session")
async def intake(dev_env: WorkflowEnvironment, worker: Harness) -> AsyncIterator[Intake]:
    """A fresh intake (fresh metrics) per test. A 30 s Temporal timeout: 200 updates queue on one
    workflow, and a 503 here would be a slow shared machine, not a dedup failure."""
    async with open_intake(dev_env.client, worker.queue, temporal_timeout=30.0) as running_intake:
        running_intake.http.timeout = httpx.Timeout(60)
        yield running_intake


async def intake_counters(intake: Intake, source: str) -> dict[str, float]:
    """The intake's counters for `source`, read over HTTP from its /metrics like Prometheus does."""
    names = ("alerts_received", "incidents_started", "alerts_deduplicated", "alerts_repeated", "duplicate_deliveries")
    return {name: await scrape(intake.url, f"warroom_intake_{name}_total", source=source) for name in names}


async def test_one_webhook_posted_100_times_at_once_is_one_incident_that_counts_every_copy(intake: Intake) -> None:
    body = json.dumps(payload("alertmanager")).encode()  # one body: every copy is byte-identical

    answers = await asyncio.gather(*(intake.post("alertmanager", body) for _ in range(COPIES)))

    assert [a.status_code for a in answers] == [200] * COPIES, {a.status_code: a.text for a in answers}
    workflow_ids = {a.json()["workflow_id"] for a in answers}
    assert len(workflow_ids) == 1, "one group, one incident"
    assert set(intake.calls.workflow_ids) == workflow_ids
    assert sum(a.json()["new_incident"] for a in answers) == 1
    assert {a.json()["accepted"] for a in answers} == {2}, "each copy carries the example's two alerts"

    state = await state_of(intake.client.get_workflow_handle(workflow_ids.pop()))
    alerts = 2 * COPIES
    assert state.alerts_received == alerts
    assert state.alerts_repeated == alerts - 1, "only the first copy's firing alert changed anything"
    assert state.firing_alerts == [FIRING]
    kinds = [entry.kind for entry in state.timeline]
    assert kinds.count("opened") == 1 and kinds.count("alert_firing") == 1

    counters = await intake_counters(intake, "alertmanager")
    assert counters == {
        "alerts_received": alerts,
        "incidents_started": 1,
        "alerts_deduplicated": alerts - 1,
        "alerts_repeated": alerts - 1,
        "duplicate_deliveries": 0,
    }
    assert len(intake.app.state.intake.recorder.per_incident) == 0, "no gate outlives the work it queued"
    print(
        f"\n[reliability] duplicate storm: {COPIES} identical Alertmanager webhooks at once ({alerts} alerts) "
        f"all answered 200 -> 1 incident, alerts_received {state.alerts_received}, repeats {state.alerts_repeated}"
    )


async def delivered(alertmanager: str) -> float:
    """Webhook requests this Alertmanager saw answered 2xx, by its own metrics."""
    sent = await scrape(alertmanager, "alertmanager_notification_requests_total", integration="webhook")
    failed = await scrape(alertmanager, "alertmanager_notification_requests_failed_total", integration="webhook")
    return sent - failed


async def test_two_independent_alertmanagers_with_the_same_alert_are_one_incident_with_both_deliveries(
    intake: Intake, tmp_path: Path
) -> None:
    run = uuid.uuid4().hex[:8]
    alert = {
        "labels": {"alertname": "HighErrorRate", "run": run, "service": "order-api", "instance": "pod-1"},
        "annotations": {"summary": "Order API returning 503s", "error_rate": "0.5%"},
        "startsAt": (datetime.now(UTC) - timedelta(minutes=1)).isoformat(),
    }
    config = alertmanager_config(intake.url, group_interval="10s")

    async with running_alertmanager(config, tmp_path) as one, running_alertmanager(config, tmp_path) as two:
        for alertmanager in (one, two):
            async with httpx.AsyncClient(base_url=alertmanager) as am:
                assert (await am.post("/api/v2/alerts", json=[alert])).status_code == 200

        async def both_delivered() -> None:
            assert await delivered(one) >= 1 and await delivered(two) >= 1 or not_yet()

        await assert_eventually(both_delivered, timeout=30, interval=0.3)
        await asyncio.sleep(1)  # anything either would send next would show up now
        deliveries = [await delivered(one), await delivered(two)]
        refused = [await scrape(am, "alertmanager_notification_requests_failed_total") for am in (one, two)]

    assert deliveries == [1, 1] and refused == [0, 0]
    assert len(set(intake.calls.workflow_ids)) == 1, "the same group from two Alertmanagers is one incident"
    state = await state_of(intake.client.get_workflow_handle(intake.calls.workflow_ids[0]))
    assert state.alerts_received == 2, "both deliveries recorded"
    assert state.alerts_repeated == 1 and len(state.firing_alerts) == 1
    counters = await intake_counters(intake, "alertmanager")
    assert counters == {
        "alerts_received": 2,
        "incidents_started": 1,
        "alerts_deduplicated": 1,
        "alerts_repeated": 1,
        "duplicate_deliveries": 0,
    }
    print(
        f"\n[reliability] two independent Alertmanagers, one alert: deliveries {deliveries} -> 1 incident, "
        f"alerts_received {state.alerts_received}, repeats {state.alerts_repeated}"
    )


async def test_pagerduty_redelivering_one_signed_event_records_it_once_and_acknowledges_every_copy(
    intake: Intake,
) -> None:
    raw = json.dumps(payload("pagerduty")).encode()  # same event.id, same signature on every copy

    overlapping = await asyncio.gather(*(intake.post("pagerduty", raw) for _ in range(5)))
    later = [await intake.post("pagerduty", raw) for _ in range(3)]
    answers = [*overlapping, *later]

    assert [a.status_code for a in answers] == [200] * 8, [a.text for a in answers]
    recorded = [a.json() for a in answers if not a.json()["duplicate"]]
    assert len(recorded) == 1 and recorded[0]["accepted"] == 1 and recorded[0]["new_incident"] is True
    assert all(a.json()["accepted"] == 0 for a in answers if a.json()["duplicate"])
    assert len(intake.calls) == 1, "one call to Temporal for eight copies"
    state = await state_of(intake.client.get_workflow_handle(recorded[0]["workflow_id"]))
    assert state.alerts_received == 1 and state.alerts_repeated == 0
    counters = await intake_counters(intake, "pagerduty")
    assert counters == {
        "alerts_received": 1,
        "incidents_started": 1,
        "alerts_deduplicated": 0,
        "alerts_repeated": 0,
        "duplicate_deliveries": 7,
    }
    assert len(intake.app.state.intake.in_flight) == 0
    print(
        f"\n[reliability] PagerDuty redelivery: 1 event delivered 8 times (5 overlapping) -> all 200, "
        f"1 incident, alerts_received {state.alerts_received}, duplicates counted {counters['duplicate_deliveries']:.0f}"
    )
