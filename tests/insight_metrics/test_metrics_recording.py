"""What the activities and the intake record (warroom/telemetry), read back from the registries."""

from __future__ import annotations

import socket
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from temporalio.client import Client
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.notify import LocalSink, NotifyActivities
from tests.helpers import assert_eventually, incident_input, running_worker
from warroom.client import DATA_CONVERTER
from warroom.intake.responses import CountResponses, responses
from warroom.models import Notification
from warroom.settings import Settings
from warroom.telemetry import metrics as m
from warroom.telemetry.endpoint import WorkerTelemetry
from warroom.telemetry.incidents import count_open_incidents

ROOT = Path(__file__).resolve().parents[2]


def sample(name: str, **labels: str) -> float:
    return m.REGISTRY.get_sample_value(name, labels) or 0.0


# --- Deadlines and decisions: the context keys the workflow passes -----------------------------


def test_a_deadline_counts_once_with_its_lateness() -> None:
    now = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
    context = {m.DEADLINE_KIND: "ack_repage", m.DEADLINE_DUE_AT: (now - timedelta(seconds=90)).isoformat()}
    fired, count = (
        sample("warroom_deadlines_fired_total", kind="ack_repage"),
        sample("warroom_deadline_lateness_seconds_count", channel="page"),
    )
    within_a_minute = sample("warroom_deadline_lateness_seconds_bucket", channel="page", le="60.0")
    m.record_notification("page", context, first_attempt=True, now=now)
    m.record_notification("page", context, first_attempt=False, now=now)  # a retry fired nothing new
    assert sample("warroom_deadlines_fired_total", kind="ack_repage") == fired + 1
    assert sample("warroom_deadline_lateness_seconds_count", channel="page") == count + 1
    assert sample("warroom_deadline_lateness_seconds_bucket", channel="page", le="60.0") == within_a_minute, (
        "90 s late is over the alert's 60 s"
    )
    assert sample("warroom_deadline_lateness_seconds_bucket", channel="page", le="120.0") >= 1


def test_a_message_that_is_no_deadline_records_no_deadline() -> None:
    before = sum(s.value for f in m.REGISTRY.collect() if f.name == "warroom_deadlines_fired" for s in f.samples)
    m.record_notification(
        "incident", {"due": "12:00", m.DEADLINE_DUE_AT: "not a time", m.DEADLINE_KIND: "x"}, first_attempt=True
    )
    m.record_notification("incident", {m.DEADLINE_DUE_AT: "2026-12-06T12:00:00+00:00"}, first_attempt=True)
    after = sum(s.value for f in m.REGISTRY.collect() if f.name == "warroom_deadlines_fired" for s in f.samples)
    assert after == before


def test_a_step_decision_records_its_policy_and_latency() -> None:
    denied = sample("warroom_step_decisions_total", decision="denied", policy="ic")
    slow = sample("warroom_step_decision_seconds_bucket", decision="denied", policy="ic", le="60.0")
    context = {m.DECISION: "denied", m.DECISION_POLICY: "ic", m.DECISION_SECONDS: 95.5}
    m.record_notification("incident", context, first_attempt=True)
    m.record_notification("incident", {**context, m.DECISION_POLICY: "whatever"}, first_attempt=True)  # not a label
    assert sample("warroom_step_decisions_total", decision="denied", policy="ic") == denied + 1
    assert sample("warroom_step_decision_seconds_bucket", decision="denied", policy="ic", le="60.0") == slow
    assert sample("warroom_step_decision_seconds_sum", decision="denied", policy="ic") >= 95.5


# --- The notify activity: sent and failed per channel ------------------------------------------


class Unreachable:
    """A channel whose every delivery fails, as a chat API that is down does."""

    async def deliver(self, notification: Notification, text: str) -> str:
        raise ApplicationError("chat API down", type="ChannelUnavailable")


async def test_the_notify_activity_counts_messages_sent_and_failed_per_channel(tmp_path: Path) -> None:
    note = Notification(
        incident_id="inc-1",
        channel="stakeholders",
        template="ticket_link",
        context={"ticket_key": "OPS-1", "ticket_url": "https://t"},
    )
    sent, failed = (
        sample("warroom_notifications_sent_total", channel="stakeholders"),
        sample("warroom_notifications_failed_total", channel="stakeholders"),
    )
    env = ActivityEnvironment()
    await env.run(NotifyActivities(LocalSink(tmp_path, echo=False)).notify, note)
    with pytest.raises(ApplicationError):
        await env.run(NotifyActivities(Unreachable()).notify, note)
    assert sample("warroom_notifications_sent_total", channel="stakeholders") == sent + 1
    assert sample("warroom_notifications_failed_total", channel="stakeholders") == failed + 1
    assert sample("warroom_notifications_failed_total", channel="email") >= 0 and any(
        s.labels.get("channel") == "email"
        for f in m.REGISTRY.collect()
        if f.name == "warroom_notifications_failed"
        for s in f.samples
    ), "every channel has a series before anything failed on it"


# --- Rollbacks: started once, failed only for good -------------------------------------------


def _attempt(n: int) -> ActivityEnvironment:
    env = ActivityEnvironment()
    env.info = env.info.__class__(
        **{**env.info.__dict__, "attempt": n, "retry_policy": RetryPolicy(maximum_attempts=3)}
    )
    return env


def _rollback(fail: ApplicationError | None) -> None:
    with m.rollback_recorded():
        if fail is not None:
            raise fail


def test_rollbacks_count_started_once_and_failed_only_when_no_retry_follows() -> None:
    started = sample("warroom_rollbacks_started_total")
    ok, failed = (
        sample("warroom_rollbacks_finished_total", outcome="succeeded"),
        sample("warroom_rollbacks_finished_total", outcome="failed"),
    )
    retryable = ApplicationError("API 503")
    with pytest.raises(ApplicationError):
        _attempt(1).run(_rollback, retryable)  # attempt 1 of 3: retried, not failed yet
    assert sample("warroom_rollbacks_finished_total", outcome="failed") == failed
    _attempt(2).run(_rollback, None)
    assert sample("warroom_rollbacks_started_total") == started + 1, "the retry is the same rollback"
    assert sample("warroom_rollbacks_finished_total", outcome="succeeded") == ok + 1
    with pytest.raises(ApplicationError):
        _attempt(3).run(_rollback, retryable)  # the last attempt
    with pytest.raises(ApplicationError):
        _attempt(1).run(_rollback, ApplicationError("contraindicated", non_retryable=True))
    assert sample("warroom_rollbacks_finished_total", outcome="failed") == failed + 2
    assert sample("warroom_rollbacks_started_total") == started + 2


def test_clean_window_verdicts_and_open_incidents_replace_their_counts() -> None:
    clean = sample("warroom_clean_window_verdicts_total", verdict="clean")
    m.record_clean_window(True)
    assert sample("warroom_clean_window_verdicts_total", verdict="clean") == clean + 1
    m.set_open_incidents({("P1", "command"): 2, ("unassessed", "detection"): 1})
    assert sample("warroom_open_incidents", severity="P1", phase="command") == 2
    m.set_open_incidents({("P2", "resolve"): 1})
    assert sample("warroom_open_incidents", severity="P1", phase="command") == 0, "no stale count stays"
    assert sample("warroom_open_incidents", severity="P2", phase="resolve") == 1
    assert sample("warroom_open_incidents", severity="P4", phase="retrospective") == 0


async def test_open_incidents_are_counted_from_visibility(dev_env: WorkflowEnvironment, tmp_path: Path) -> None:
    before = sum((await count_open_incidents(dev_env.client)).values())
    async with running_worker(dev_env.client, tmp_path) as harness:
        await harness.start(incident_input(publish_search_attributes=True))

        async def counted() -> None:
            counts = await count_open_incidents(dev_env.client)
            assert sum(counts.values()) == before + 1, counts
            assert all(s in m.SEVERITIES and p in m.PHASES for s, p in counts), counts

        await assert_eventually(counted, timeout=20)


# --- The intake's responses by status class ---------------------------------------------------


async def test_intake_responses_are_counted_by_status_class_an_uncaught_error_as_5xx() -> None:
    from prometheus_client import CollectorRegistry

    def boom(request: object) -> PlainTextResponse:
        raise RuntimeError("a bug")

    registry = CollectorRegistry()
    app = Starlette(
        routes=[
            Route("/ok", lambda request: PlainTextResponse("ok")),
            Route("/boom", boom),
        ]
    )
    counted = CountResponses(app, registry)
    transport = httpx.ASGITransport(app=counted, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://intake") as http:
        assert (await http.get("/ok")).status_code == 200
        assert (await http.get("/missing")).status_code == 404
        assert (await http.get("/boom")).status_code == 500
    counter = responses(registry)
    values = {
        s.labels["status_class"]: s.value for s in next(iter(counter.collect())).samples if s.name.endswith("_total")
    }
    assert values == {"1xx": 0, "2xx": 1, "3xx": 0, "4xx": 1, "5xx": 1}


# --- The worker's endpoint: warroom's registry and the SDK's metrics on one port --------------


async def test_the_endpoint_serves_warrooms_and_the_sdks_metrics(dev_env: WorkflowEnvironment) -> None:
    telemetry = WorkerTelemetry.start("127.0.0.1:0")
    assert telemetry is not None
    try:
        target = dev_env.client.service_client.config.target_host
        client = await Client.connect(target, data_converter=DATA_CONVERTER, runtime=telemetry.runtime)
        await client.count_workflows()  # one request the SDK counts
        async with httpx.AsyncClient() as http:
            text = (await http.get(f"http://{telemetry.address}/metrics")).text
        assert 'warroom_notifications_failed_total{channel="page"}' in text
        assert "temporal_request_total{" in text, text[-2000:]
        assert "process_cpu_seconds_total" in text
        # One valid exposition: every family parses, and no name is exposed twice.
        names = [family.name for family in text_string_to_metric_families(text)]
        assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)
        async with httpx.AsyncClient() as http:
            assert (await http.get(f"http://{telemetry.address}/other")).status_code == 404
    finally:
        telemetry.close()


def test_a_busy_metrics_port_leaves_the_worker_without_metrics_not_down() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        assert WorkerTelemetry.start(f"127.0.0.1:{busy.getsockname()[1]}") is None


def test_the_metrics_address_setting() -> None:
    assert Settings().worker_metrics_address == "127.0.0.1:9464"
    assert Settings(worker_metrics_address="").worker_metrics_address == ""
    assert Settings(worker_metrics_address="0.0.0.0:9464").worker_metrics_address == "0.0.0.0:9464"
    with pytest.raises(ValidationError, match="worker_metrics_address"):
        Settings(worker_metrics_address="9464")


# --- The rules file and the Prometheus configuration that loads it ----------------------------


@pytest.mark.system("prometheus")
def test_promtool_accepts_the_rules_and_the_deploy_config() -> None:
    for args in (
        ["promtool", "check", "rules", str(ROOT / "deploy" / "prometheus-rules.yml")],
        ["promtool", "check", "config", str(ROOT / "deploy" / "prometheus.yml")],
    ):
        done = subprocess.run(args, capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
    assert (
        "SUCCESS: 5 rules found"
        in subprocess.run(
            ["promtool", "check", "rules", str(ROOT / "deploy" / "prometheus-rules.yml")],
            capture_output=True,
            text=True,
        ).stdout
    )
