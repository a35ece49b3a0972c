"""The router: each channel to its configured adapters, the local sink as fallback and as the record;
and the notify activity end to end (real templates, real incident context) through it."""

from __future__ import annotations

import email
from datetime import timedelta
from email import policy
from pathlib import Path

import pytest
from pydantic import ValidationError
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.channels import ChannelSettings, build_router
from activities.notify import LocalSink, NotifyActivities
from tests.comms.fakes import (
    SLACK_TOKEN,
    SMTP_PASSWORD,
    SMTP_USER,
    Mailbox,
    Sleeps,
    Vendors,
    assert_no_secrets,
    reply,
    vendor_settings,
)
from tests.helpers import utc
from warroom.enums import Role, Severity
from warroom.messages import internal_context, public_context
from warroom.models import IncidentState, Notification
from warroom.runbook import load_runbook
from warroom.statuspage.store import StatusStore

RUNBOOK = load_runbook()
NOW = utc(2026, 11, 28, 14, 23)
STATE = IncidentState(
    incident_id="order-api-20261128-140700",
    service="order-api",
    summary="Order API returning 503s",
    severity=Severity.P1,
    channel="#incident-2026-11-28-order-api-1407",
    roles={Role.INCIDENT_COMMANDER: "alice", Role.OPERATIONS_LEAD: "bob"},
    opened_at=NOW - timedelta(minutes=16),
    declared_at=NOW - timedelta(minutes=15),
)
CHANNEL = "incident-2026-11-28-order-api-1407"


def internal(channel: str, template: str, audience: list[str] | None = None, **extra: object) -> Notification:
    return Notification(
        incident_id=STATE.incident_id,
        channel=channel,
        template=template,  # type: ignore[arg-type]
        audience=audience or [],
        context=internal_context(STATE, RUNBOOK, NOW, **extra),
    )  # type: ignore[arg-type]


def public(
    template: str, channel: str = "status_page", audience: list[str] | None = None, **extra: object
) -> Notification:
    return Notification(
        incident_id=STATE.incident_id,
        channel=channel,
        template=template,  # type: ignore[arg-type]
        audience=audience or ["status-page"],
        context=public_context(STATE, RUNBOOK, NOW, True, **extra),
    )  # type: ignore[arg-type]


def test_the_route_table_follows_what_is_configured(tmp_path: Path) -> None:
    nothing = build_router(ChannelSettings(data_dir=tmp_path))
    assert nothing.describe() == {
        "incident": "local",
        "page": "local",
        "status_page": "builtin",
        "stakeholders": "local",
        "email": "local",
        "ticket": "local",
    }
    chat_only = build_router(ChannelSettings(data_dir=tmp_path, webhook_url="https://hooks.test/x"))
    assert chat_only.describe() == {
        "incident": "webhook",
        "page": "webhook",
        "status_page": "builtin",
        "stakeholders": "webhook",
        "email": "local",
        "ticket": "local",
    }
    everything = build_router(
        vendor_settings(tmp_path, smtp_host="127.0.0.1", smtp_from="s@acme.test", routes={"stakeholders": "email"})
    )
    assert everything.describe() == {
        "incident": "slack",
        "page": "pagerduty",
        "status_page": "statuspage+builtin",
        "stakeholders": "email",
        "email": "email",
        "ticket": "local",
    }


def test_settings_refuse_half_configurations_and_hide_secrets(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="STATUSPAGE_PAGE_ID"):
        ChannelSettings(statuspage_api_key="k")
    with pytest.raises(ValidationError, match="SMTP_FROM"):
        ChannelSettings(smtp_host="mail.test")
    with pytest.raises(ValidationError, match="go together"):
        ChannelSettings(smtp_host="mail.test", smtp_from="a@b.test", smtp_user="u")
    with pytest.raises(ValidationError, match="pagerduty is not configured"):
        ChannelSettings(routes={"page": "pagerduty"})
    with pytest.raises(ValidationError, match="unknown channel"):
        ChannelSettings(routes={"pager": "local"})
    settings = vendor_settings(
        tmp_path, smtp_host="h", smtp_from="a@b.test", smtp_user="u", smtp_password=SMTP_PASSWORD
    )
    assert_no_secrets(repr(settings), str(settings), settings.model_dump_json())


def test_settings_read_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("WARROOM_SLACK_TOKEN", SLACK_TOKEN)
    monkeypatch.setenv("WARROOM_SMTP_HOST", "mail.test")
    monkeypatch.setenv("WARROOM_SMTP_FROM", "status@acme.test")
    monkeypatch.setenv("WARROOM_SMTP_TO", "a@acme.test, b@acme.test")
    monkeypatch.setenv("WARROOM_SMTP_AUDIENCES", '{"customers": ["list@customers.test"]}')
    monkeypatch.setenv("WARROOM_ROUTES", '{"stakeholders": "email"}')
    monkeypatch.setenv("WARROOM_DATA_DIR", str(tmp_path))
    settings = ChannelSettings()
    assert settings.slack_token and settings.slack_token.get_secret_value() == SLACK_TOKEN
    assert settings.smtp_to == ["a@acme.test", "b@acme.test"]
    assert settings.smtp_audiences == {"customers": ["list@customers.test"]}
    assert settings.route_table()["stakeholders"] == "email" and settings.data_dir == tmp_path


async def test_dispatch_by_channel_with_the_local_sink_as_record_and_fallback(
    vendors: Vendors, sleeps: Sleeps, tmp_path: Path
) -> None:
    router = build_router(
        vendor_settings(tmp_path, pagerduty_routing_key=None), transport=vendors.transport, sleep=sleeps
    )
    sink = LocalSink(tmp_path, echo=False)

    to_slack = await router.deliver(internal("incident", "channel_opened"), "📣 opened")
    to_pd_fallback = await router.deliver(internal("page", "ic_page", ["alice"]), "🚨 PAGE alice")
    to_statuspage = await router.deliver(public("status_initial"), "INVESTIGATING: Elevated Error Rate — Order Api")
    to_local = await router.deliver(
        public("customer_email", channel="email", audience=["customers"]), "Subject: x\n\nbody"
    )

    assert to_slack.startswith(f"slack #{CHANNEL}")
    assert to_pd_fallback.startswith(f"slack #{CHANNEL}"), "no PagerDuty configured: pages go to the chat"
    assert vendors.slack.texts(CHANNEL) == ["📣 opened", "🚨 PAGE alice"]
    assert to_statuspage.startswith(
        "statuspage incident sp1 created: investigating; built-in status page: Investigating"
    )
    assert to_local == str(sink.channel_file(STATE.incident_id)), "no SMTP configured: the local sink"

    log = sink.channel_file(STATE.incident_id).read_text()
    assert "📣 opened" in log and "🚨 PAGE alice" in log and "Subject: x" in log, "the local log is the full record"
    assert "INVESTIGATING" in sink.channel_file(STATE.incident_id, "status_page").read_text()
    assert StatusStore(tmp_path).snapshot().current[0].status == "investigating"
    await router.aclose()


async def test_local_copy_can_be_turned_off(vendors: Vendors, sleeps: Sleeps, tmp_path: Path) -> None:
    router = build_router(vendor_settings(tmp_path, local_copy=False), transport=vendors.transport, sleep=sleeps)
    await router.deliver(internal("incident", "channel_opened"), "📣 opened")
    assert not LocalSink(tmp_path).channel_file(STATE.incident_id).exists()


async def test_failures_become_temporal_errors_that_say_whether_to_retry(
    vendors: Vendors, sleeps: Sleeps, tmp_path: Path
) -> None:
    router = build_router(vendor_settings(tmp_path), transport=vendors.transport, sleep=sleeps)
    vendors.slack.fail_next(reply(200, {"ok": False, "error": "invalid_auth"}))
    with pytest.raises(ApplicationError) as permanent:
        await router.deliver(internal("incident", "channel_opened"), "x")
    assert permanent.value.non_retryable and permanent.value.type == "ChannelAuthError"

    vendors.pagerduty.fail_next(reply(429, {}, headers={"Retry-After": "90"}))
    with pytest.raises(ApplicationError) as later:
        await router.deliver(internal("page", "ic_page"), "page")
    assert not later.value.non_retryable and later.value.type == "ChannelRateLimited"
    assert later.value.next_retry_delay == timedelta(seconds=90)
    assert_no_secrets(permanent.value, later.value)
    assert not LocalSink(tmp_path).channel_file(STATE.incident_id).exists(), "nothing recorded as delivered"


async def test_notify_activity_end_to_end_through_the_router(
    vendors: Vendors, sleeps: Sleeps, tmp_path: Path, smtp_server: Mailbox
) -> None:
    settings = vendor_settings(
        tmp_path,
        smtp_host=smtp_server.host,
        smtp_port=smtp_server.port,
        smtp_user=SMTP_USER,
        smtp_password=SMTP_PASSWORD,
        smtp_from="status@acme.test",
        smtp_ca_file=smtp_server.ca_file,
        smtp_audiences={"customers": ["list@customers.test"]},
    )
    router = build_router(settings, transport=vendors.transport, sleep=sleeps)
    activities = NotifyActivities(router)
    env = ActivityEnvironment()

    opened = await env.run(activities.notify, internal("incident", "channel_opened"))
    paged = await env.run(activities.notify, internal("page", "ic_page", ["alice"]))
    posted = await env.run(activities.notify, public("status_initial"))
    before = len(smtp_server.received)
    mailed = await env.run(
        activities.notify,
        public("customer_email", channel="email", audience=["customers"], date="2026-11-28", team="Acme"),
    )

    assert opened.text.startswith(f"📣 Incident channel {STATE.channel} opened for order-api")
    assert vendors.slack.texts(CHANNEL) == [opened.text] and len(vendors.slack.pins) == 1
    assert opened.destination.endswith("(pinned)")
    assert vendors.pagerduty.alerts[0]["dedup_key"] == STATE.incident_id
    assert vendors.pagerduty.alerts[0]["summary"].startswith("🚨 PAGE alice: you are paged as Incident Commander")
    assert paged.destination == f"pagerduty trigger dedup_key={STATE.incident_id}"
    assert vendors.statuspage.incidents["sp1"]["name"] == "Elevated Error Rate — Order Api"
    assert posted.destination.startswith("statuspage incident sp1 created: investigating")
    got = smtp_server.received[before]
    assert got["rcpt_tos"] == ["list@customers.test"]
    assert (
        email.message_from_string(got["data"], policy=policy.default)["Subject"]
        == "Service Disruption Resolved — 2026-11-28"
    )
    assert mailed.destination.startswith("email to 1 recipient(s)")
    for delivery in (opened, paged, posted, mailed):
        assert_no_secrets(delivery.model_dump_json())

    # A permanent failure leaves the activity as a non-retryable ApplicationError.
    vendors.statuspage.fail_next(reply(422, {"error": "Status is not included in the list"}))
    with pytest.raises(ApplicationError) as caught:
        await env.run(activities.notify, public("still_investigating"))
    assert caught.value.non_retryable and "HTTP 422" in str(caught.value)
    await router.aclose()
