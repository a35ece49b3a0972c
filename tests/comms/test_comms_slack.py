"""Slack: open the incident channel, post, pin the summary; recover the channel after a restart."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from activities.channels._http import ChannelAuthError, ChannelRejected, ChannelUnavailable, DeliveryRetry, HttpClient
from activities.channels.slack import SlackChannel, channel_name
from tests.comms.fakes import HOSTS, SLACK_TOKEN, Sleeps, Vendors, assert_no_secrets, reply
from warroom.models import Notification

CHANNEL = "#incident-2026-11-28-order-api-1407"


def slack(vendors: Vendors, sleeps: Sleeps, token: str = SLACK_TOKEN) -> SlackChannel:
    http = HttpClient(transport=vendors.transport, sleep=sleeps, retry=DeliveryRetry(backoff=0.01))
    return SlackChannel(http, SecretStr(token), api_url=f"https://{HOSTS['slack']}/api/")


def note(
    template: str = "internal_update", channel: str | None = CHANNEL, incident_id: str = "order-api-1"
) -> Notification:
    context = {"channel": channel} if channel is not None else {}
    return Notification(incident_id=incident_id, channel="incident", template=template, context=context)


async def test_the_first_message_opens_the_channel_and_the_summary_is_pinned(vendors: Vendors, sleeps: Sleeps) -> None:
    adapter = slack(vendors, sleeps)
    where = await adapter.deliver(note("channel_opened"), "📣 Incident channel opened for order-api")
    await adapter.deliver(note("internal_update"), "⚡ INCIDENT UPDATE — 14:23 UTC")

    channel = vendors.slack.by_name("incident-2026-11-28-order-api-1407")
    assert channel is not None and not channel["is_private"]
    assert vendors.slack.calls.count("conversations.create") == 1, "the channel id is remembered"
    assert vendors.slack.texts(channel["name"]) == [
        "📣 Incident channel opened for order-api",
        "⚡ INCIDENT UPDATE — 14:23 UTC",
    ]
    first = vendors.slack.messages[0]
    assert vendors.slack.pins == [(channel["id"], first["ts"])], "only the summary is pinned"
    assert where.startswith(f"slack #{channel['name']} ({channel['id']})") and where.endswith("(pinned)")
    assert_no_secrets(where)


async def test_a_restricted_incident_gets_a_private_channel(vendors: Vendors, sleeps: Sleeps) -> None:
    restricted = Notification(
        incident_id="auth-1",
        channel="incident",
        template="channel_opened",
        context={"channel": "#incident-2026-11-28-auth-0900", "restricted": True},
    )
    await slack(vendors, sleeps).deliver(restricted, "🔒 opened")
    assert vendors.slack.by_name("incident-2026-11-28-auth-0900")["is_private"]  # type: ignore[index]


async def test_name_taken_after_a_restart_joins_the_existing_channel(vendors: Vendors, sleeps: Sleeps) -> None:
    # Other channels first, so the adapter has to follow conversations.list's cursor to find it.
    for name in ("general", "random", "deploys", "incident-2026-11-27-billing-0900"):
        vendors.slack.add_channel(name, member=True)
    vendors.slack.add_channel("ancient", archived=True)
    existing = vendors.slack.add_channel("incident-2026-11-28-order-api-1407", member=False)

    where = await slack(vendors, sleeps).deliver(note(), "⚡ INCIDENT UPDATE after a worker restart")

    calls = vendors.slack.calls
    assert calls[0] == "conversations.create" and calls.count("conversations.list") >= 2
    assert "conversations.join" in calls
    assert vendors.slack.channels[existing]["is_member"]
    assert vendors.slack.texts("incident-2026-11-28-order-api-1407") == ["⚡ INCIDENT UPDATE after a worker restart"]
    assert f"({existing})" in where
    assert len(vendors.slack.channels) == 6, "no second channel"


async def test_a_channel_the_bot_was_removed_from_is_rejoined(vendors: Vendors, sleeps: Sleeps) -> None:
    adapter = slack(vendors, sleeps)
    await adapter.deliver(note(), "first")
    vendors.slack.by_name("incident-2026-11-28-order-api-1407")["is_member"] = False  # type: ignore[index]
    await adapter.deliver(note(), "second")
    assert vendors.slack.calls[-3:] == ["chat.postMessage", "conversations.join", "chat.postMessage"]
    assert vendors.slack.texts("incident-2026-11-28-order-api-1407") == ["first", "second"]


async def test_ok_false_errors_are_typed(vendors: Vendors, sleeps: Sleeps) -> None:
    with pytest.raises(ChannelAuthError, match="invalid_auth") as caught:
        await slack(vendors, sleeps, token="xoxb-wrong-token").deliver(note(), "x")
    assert caught.value.to_application_error().non_retryable
    assert "xoxb-wrong-token" not in str(caught.value)

    adapter = slack(vendors, sleeps)
    vendors.slack.fail_next(reply(200, {"ok": False, "error": "internal_error"}))
    with pytest.raises(ChannelUnavailable, match="internal_error") as unavailable:
        await adapter.deliver(note(), "x")
    assert unavailable.value.to_application_error().non_retryable is False

    vendors.slack.fail_next(reply(200, {"ok": False, "error": "restricted_action"}))
    with pytest.raises(ChannelRejected, match="conversations.create: restricted_action"):
        await adapter.deliver(note(), "x")

    vendors.slack.add_channel("incident-archived", archived=True)
    with pytest.raises(ChannelRejected, match="cannot be found or joined"):
        await adapter.deliver(note(channel="#incident-archived"), "x")


async def test_http_429_from_slack_honours_retry_after(vendors: Vendors, sleeps: Sleeps) -> None:
    adapter = slack(vendors, sleeps)
    await adapter.deliver(note(), "first")
    vendors.slack.fail_next(reply(429, {"ok": False, "error": "ratelimited"}, headers={"Retry-After": "2"}))
    await adapter.deliver(note(), "second")
    assert sleeps.delays == [2.0]
    assert [r.url.path for r in vendors.slack.requests[-2:]] == ["/api/chat.postMessage"] * 2, "the same call, again"
    assert vendors.slack.texts("incident-2026-11-28-order-api-1407") == ["first", "second"]


async def test_a_failed_pin_does_not_fail_the_message(vendors: Vendors, sleeps: Sleeps) -> None:
    adapter = slack(vendors, sleeps)
    vendors.slack.failing["pins.add"] = {"ok": False, "error": "not_pinnable"}
    where = await adapter.deliver(note("channel_opened"), "summary")
    channel = vendors.slack.by_name("incident-2026-11-28-order-api-1407")
    assert channel is not None and vendors.slack.texts(channel["name"]) == ["summary"], "the message went out"
    assert vendors.slack.calls == ["conversations.create", "chat.postMessage", "pins.add"]
    assert vendors.slack.pins == [] and sleeps.delays == [], "a pin is not retried"
    ts = vendors.slack.messages[0]["ts"]
    assert where == f"slack #incident-2026-11-28-order-api-1407 ({channel['id']}) ts={ts} (pin failed)"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("#incident-2026-11-28-order-api-1407", "incident-2026-11-28-order-api-1407"),
        ("#incident-2026-11-28-Orders.API v2-1407", "incident-2026-11-28-orders-api-v2-1407"),
        ("#incident-2026-11-28-" + "x" * 100, ("incident-2026-11-28-" + "x" * 100)[:80]),
        (None, "incident-order-api-20261128-142301"),
        ("", "incident-order-api-20261128-142301"),
    ],
)
def test_channel_names_follow_slacks_rules(raw: str | None, expected: str) -> None:
    name = channel_name(note(channel=raw, incident_id="order-api-20261128-142301"))
    assert name == expected
    assert len(name) <= 80 and name == name.lower()
    assert all(c.isalnum() or c in "-_" for c in name)
