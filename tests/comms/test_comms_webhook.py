"""The generic webhook: chat-compatible JSON, optional HMAC signature, and a URL that stays secret."""

from __future__ import annotations

import hashlib
import hmac
import logging

import pytest
from pydantic import SecretStr

from activities.channels._http import ChannelUnavailable, DeliveryRetry, HttpClient
from activities.channels.webhook import WebhookChannel
from tests.comms.fakes import WEBHOOK_URL, Sleeps, Vendors, assert_no_secrets, reply
from warroom.models import Notification

NOTE = Notification(
    incident_id="order-api-1",
    channel="incident",
    template="internal_update",
    audience=["bob"],
    context={"channel": "#incident-2026-11-28-order-api-1407", "commander": "alice"},
)


def hook(vendors: Vendors, sleeps: Sleeps, secret: str | None = None) -> WebhookChannel:
    http = HttpClient(transport=vendors.transport, sleep=sleeps, retry=DeliveryRetry(backoff=0.01))
    return WebhookChannel(http, SecretStr(WEBHOOK_URL), SecretStr(secret) if secret else None)


async def test_the_body_is_chat_compatible_json(vendors: Vendors, sleeps: Sleeps) -> None:
    where = await hook(vendors, sleeps).deliver(NOTE, "⚡ INCIDENT UPDATE — 14:23 UTC")
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


async def test_a_signing_secret_signs_timestamp_and_body(vendors: Vendors, sleeps: Sleeps) -> None:
    await hook(vendors, sleeps, secret="hook-signing-secret").deliver(NOTE, "update")
    request = vendors.webhook.requests[0]
    stamp = request.headers["X-Warroom-Timestamp"]
    expected = hmac.new(b"hook-signing-secret", stamp.encode() + b"." + request.content, hashlib.sha256).hexdigest()
    assert request.headers["X-Warroom-Signature"] == f"sha256={expected}"


async def test_errors_never_show_the_url(vendors: Vendors, sleeps: Sleeps) -> None:
    vendors.webhook.fail_next(*[reply(502, {"error": f"bad gateway for {WEBHOOK_URL}"})] * 3)
    with pytest.raises(ChannelUnavailable) as caught:
        await hook(vendors, sleeps).deliver(NOTE, "update")
    assert "hooks.test" not in str(caught.value)
    assert_no_secrets(caught.value, caught.value.to_application_error())


async def test_the_url_is_scrubbed_from_httpx_request_logs(
    vendors: Vendors, sleeps: Sleeps, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        await hook(vendors, sleeps).deliver(NOTE, "update")
    assert "HTTP Request: POST" in caplog.text, "httpx does log the request line"
    assert_no_secrets(caplog.text)
