"""The shared HTTP behaviour, through every vendor adapter: 429 honours Retry-After, 5xx is retried then
given up as retryable, other 4xx are never retried, and no secret reaches an error."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from activities.channels._http import (
    ChannelAuthError,
    ChannelRateLimited,
    ChannelRejected,
    ChannelUnavailable,
    DeliveryRetry,
    HttpClient,
    parse_retry_after,
)
from activities.channels.pagerduty import PagerDutyPager
from activities.channels.slack import SlackChannel
from activities.channels.statuspage_io import AtlassianStatuspage
from activities.channels.webhook import WebhookChannel
from tests.comms.fakes import (
    HOSTS,
    PD_ROUTING_KEY,
    SLACK_TOKEN,
    SP_API_KEY,
    SP_PAGE,
    WEBHOOK_URL,
    Fake,
    Sleeps,
    Vendors,
    assert_no_secrets,
    reply,
)
from warroom.models import Notification

Deliver = Callable[[], Awaitable[str]]


def note(channel: str = "incident", template: str = "channel_opened", **context: object) -> Notification:
    ctx = {
        "channel": "#incident-2026-11-28-order-api-1407",
        "severity": "P1",
        "service": "order-api",
        "title": "Elevated Error Rate — Order Api",
    }
    ctx.update(context)  # type: ignore[arg-type]
    return Notification(incident_id="order-api-1", channel=channel, template=template, context=ctx)  # type: ignore[arg-type]


def adapter(name: str, vendors: Vendors, sleeps: Sleeps, tmp_path: Path) -> tuple[Fake, Deliver]:
    http = HttpClient(transport=vendors.transport, sleep=sleeps, retry=DeliveryRetry(attempts=3, backoff=0.4))
    if name == "slack":
        slack = SlackChannel(http, SecretStr(SLACK_TOKEN), api_url=f"https://{HOSTS['slack']}/api", pin_templates=set())
        return vendors.slack, lambda: slack.deliver(note(), "📣 channel opened")
    if name == "webhook":
        hook = WebhookChannel(http, SecretStr(WEBHOOK_URL))
        return vendors.webhook, lambda: hook.deliver(note(), "📣 channel opened")
    if name == "pagerduty":
        pager = PagerDutyPager(http, SecretStr(PD_ROUTING_KEY), events_url=f"https://{HOSTS['pagerduty']}/v2/enqueue")
        return vendors.pagerduty, lambda: pager.deliver(note("page", "ic_page"), "🚨 PAGE alice")
    page = AtlassianStatuspage(
        http, SecretStr(SP_API_KEY), SP_PAGE, data_dir=tmp_path, api_url=f"https://{HOSTS['statuspage']}/v1"
    )
    return vendors.statuspage, lambda: page.deliver(note("status_page", "status_initial"), "INVESTIGATING: x")


ADAPTERS = ["slack", "webhook", "pagerduty", "statuspage"]
DELIVERED = {  # what each adapter reports after its first delivery to a fresh fake
    "slack": "slack #incident-2026-11-28-order-api-1407 (C000001) ts=1700000000.000001",
    "webhook": "webhook (HTTP 200)",
    "pagerduty": "pagerduty trigger dedup_key=order-api-1",
    "statuspage": "statuspage incident sp1 created: investigating",
}


@pytest.mark.parametrize("name", ADAPTERS)
async def test_429_waits_for_retry_after_then_succeeds(
    name: str, vendors: Vendors, sleeps: Sleeps, tmp_path: Path
) -> None:
    fake, deliver = adapter(name, vendors, sleeps, tmp_path)
    fake.fail_next(reply(429, {"ok": False, "error": "ratelimited"}, headers={"Retry-After": "3"}))
    destination = await deliver()
    assert sleeps.delays == [3.0]
    assert fake.requests[0].url == fake.requests[1].url  # the same call, again
    assert len(fake.requests) == (3 if name == "slack" else 2), "slack then posts into the channel it opened"
    assert destination == DELIVERED[name]
    assert_no_secrets(destination)


@pytest.mark.parametrize("name", ADAPTERS)
async def test_5xx_is_retried_with_backoff_then_given_up_as_retryable(
    name: str, vendors: Vendors, sleeps: Sleeps, tmp_path: Path
) -> None:
    fake, deliver = adapter(name, vendors, sleeps, tmp_path)
    fake.fail_next(*[reply(503, {"error": "upstream overloaded"}) for _ in range(5)])
    with pytest.raises(ChannelUnavailable) as caught:
        await deliver()
    assert len(fake.requests) == 3, "three attempts, then give up"
    assert len(sleeps.delays) == 2
    assert 0.2 <= sleeps.delays[0] <= 0.4 and 0.4 <= sleeps.delays[1] <= 0.8, "exponential backoff with jitter"
    err = caught.value
    assert err.retryable and err.status == 503 and "HTTP 503" in str(err)
    assert err.to_application_error().non_retryable is False
    assert_no_secrets(err, err.to_application_error())


@pytest.mark.parametrize("name", ADAPTERS)
async def test_4xx_is_never_retried(name: str, vendors: Vendors, sleeps: Sleeps, tmp_path: Path) -> None:
    fake, deliver = adapter(name, vendors, sleeps, tmp_path)
    # A vendor that echoes the request back in its error must not leak the secret through us.
    secret = {
        "slack": SLACK_TOKEN,
        "webhook": httpx.URL(WEBHOOK_URL).path,
        "pagerduty": PD_ROUTING_KEY,
        "statuspage": SP_API_KEY,
    }[name]
    echoed = f"bad request: {secret}"
    fake.fail_next(reply(400, {"error": echoed}))
    with pytest.raises(ChannelRejected) as caught:
        await deliver()
    assert len(fake.requests) == 1 and sleeps.delays == []
    assert caught.value.retryable is False and caught.value.to_application_error().non_retryable is True
    assert_no_secrets(caught.value)


@pytest.mark.parametrize("name", ADAPTERS)
async def test_401_is_a_credentials_error(name: str, vendors: Vendors, sleeps: Sleeps, tmp_path: Path) -> None:
    fake, deliver = adapter(name, vendors, sleeps, tmp_path)
    fake.fail_next(reply(401, {"error": "unauthorized"}))
    with pytest.raises(ChannelAuthError, match="credentials"):
        await deliver()
    assert len(fake.requests) == 1


async def test_a_retry_after_longer_than_the_activity_can_wait_goes_back_to_temporal(
    vendors: Vendors, sleeps: Sleeps, tmp_path: Path
) -> None:
    fake, deliver = adapter("pagerduty", vendors, sleeps, tmp_path)
    fake.fail_next(reply(429, {}, headers={"Retry-After": "120"}))
    with pytest.raises(ChannelRateLimited) as caught:
        await deliver()
    assert sleeps.delays == [] and len(fake.requests) == 1
    failure = caught.value.to_application_error()
    assert failure.non_retryable is False and failure.next_retry_delay == timedelta(seconds=120)


async def test_network_failures_are_retried(vendors: Vendors, sleeps: Sleeps) -> None:
    calls = []

    def flaky(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) == 1:
            raise httpx.ConnectError("connection refused", request=request)
        if len(calls) == 2:
            raise httpx.ReadTimeout("slow", request=request)
        return httpx.Response(200, json={})

    http = HttpClient(transport=httpx.MockTransport(flaky), sleep=sleeps, retry=DeliveryRetry(attempts=3, backoff=0.1))
    response = await http.request("svc", "op", "POST", "https://x.test/secret-path", json={})
    assert response.status_code == 200 and len(calls) == 3 and len(sleeps.delays) == 2

    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    http = HttpClient(transport=httpx.MockTransport(down), sleep=sleeps, retry=DeliveryRetry(attempts=2, backoff=0.1))
    with pytest.raises(ChannelUnavailable) as caught:
        await http.request("svc", "op", "POST", "https://x.test/secret-path", json={})
    assert "secret-path" not in str(caught.value) and "x.test" not in str(caught.value)


async def test_retry_after_is_honoured_in_real_time(vendors: Vendors, tmp_path: Path) -> None:
    """One real wait: the client sleeps the server's Retry-After (1 s), not its own backoff."""
    import time

    http = HttpClient(transport=vendors.transport, retry=DeliveryRetry(attempts=2, backoff=0.01))
    pager = PagerDutyPager(http, SecretStr(PD_ROUTING_KEY), events_url=f"https://{HOSTS['pagerduty']}/v2/enqueue")
    vendors.pagerduty.fail_next(reply(429, {}, headers={"Retry-After": "1"}))
    started = time.monotonic()
    await pager.deliver(note("page", "ic_page"), "🚨 PAGE alice")
    assert time.monotonic() - started >= 1.0
    assert vendors.pagerduty.alerts[0]["status"] == "triggered"


def test_retry_after_reads_seconds_and_http_dates() -> None:
    now = datetime(2026, 11, 28, 14, 0, tzinfo=UTC)
    assert parse_retry_after("7", now) == 7.0
    assert parse_retry_after(format_datetime(now + timedelta(seconds=30), usegmt=True), now) == 30.0
    assert parse_retry_after(format_datetime(now - timedelta(seconds=30), usegmt=True), now) == 0.0
    assert parse_retry_after("soon", now) is None and parse_retry_after(None) is None
