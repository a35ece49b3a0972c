"""The generic webhook: chat-compatible JSON, optional HMAC signature, and a URL that stays secret.

The adapter posts over real HTTP to a local server (the webhook fake behind `served`), through its
own httpx client: no mock transport."""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Iterator

import httpx
import pytest
from pydantic import SecretStr

from activities.channels._http import ChannelUnavailable, DeliveryRetry, HttpClient
from activities.channels.webhook import WebhookChannel
from tests.comms.fakes import WEBHOOK_URL, Sleeps, Vendors, assert_no_secrets, reply, served
from warroom.models import Notification

NOTE = Notification(
    incident_id="order-api-1",
    channel="incident",
    template="internal_update",
    audience=["bob"],
    context={"channel": "#incident-2026-11-28-order-api-1407", "commander": "alice"},
)


@pytest.fixture
def server(vendors: Vendors) -> Iterator[str]:
    """The webhook fake on a loopback port: its base URL."""
    with served(vendors.webhook) as url:
        yield url


def hook(server: str, sleeps: Sleeps, secret: str | None = None) -> WebhookChannel:
    """The adapter aimed at the local server, under the secret path a real hook URL carries."""
    http = HttpClient(sleep=sleeps, retry=DeliveryRetry(backoff=0.01))
    url = server + httpx.URL(WEBHOOK_URL).path
    return WebhookChannel(http, SecretStr(url), SecretStr(secret) if secret else None)


async def test_the_body_is_chat_compatible_json(vendors: Vendors, server: str, sleeps: Sleeps) -> None:
    where = await hook(server, sleeps).deliver(NOTE, "⚡ INCIDENT UPDATE — 14:23 UTC")
    assert vendors.webhook.bodies == [
        {
            "text": "⚡ INCIDENT UPDATE — 14:23 UTC",
            "incident_id": "order-api-1",
            "kind": "incident",
            "template": "internal_update",
            "audience": ["bob"],
            "channel": "#incident-2026-11-28-order-api-1407",
        }
    ]
    assert where == "webhook (HTTP 200)"
    assert "X-Warroom-Signature" not in vendors.webhook.requests[0].headers


async def test_a_signing_secret_signs_timestamp_and_body(vendors: Vendors, server: str, sleeps: Sleeps) -> None:
    await hook(server, sleeps, secret="hook-signing-secret").deliver(NOTE, "update")
    request = vendors.webhook.requests[0]
    stamp = request.headers["X-Warroom-Timestamp"]
    expected = hmac.new(b"hook-signing-secret", stamp.encode() + b"." + request.content, hashlib.sha256).hexdigest()
    assert request.headers["X-Warroom-Signature"] == f"sha256={expected}"


async def test_errors_never_show_the_url(vendors: Vendors, server: str, sleeps: Sleeps) -> None:
    url = server + httpx.URL(WEBHOOK_URL).path
    vendors.webhook.fail_next(*[reply(502, {"error": f"bad gateway for {url}"})] * 3)
    with pytest.raises(ChannelUnavailable) as caught:
        await hook(server, sleeps).deliver(NOTE, "update")
    assert len(vendors.webhook.requests) == 3 and len(sleeps.delays) == 2, "three attempts, two backoffs"
    assert server.removeprefix("http://") not in str(caught.value)
    assert_no_secrets(caught.value, caught.value.to_application_error())


async def test_the_url_is_scrubbed_from_httpx_request_logs(
    server: str, sleeps: Sleeps, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        await hook(server, sleeps).deliver(NOTE, "update")
    assert "HTTP Request: POST" in caplog.text, "httpx does log the request line"
    assert_no_secrets(caplog.text)
