"""A message retried after a lost worker is not delivered twice where the channel can tell.

The notify activity's first attempt posts, then its worker dies before the completion reaches
Temporal; the retry (attempt 2, same activity) carries the same delivery key. Slack and Mattermost
find the key among the channel's messages since the activity was first scheduled, however many, and
post nothing again; a generic webhook passes it on
as `Idempotency-Key` for the relay to drop the copy. Each adapter runs inside a real activity context
(`ActivityEnvironment`), against the vendor's fake behind a real HTTP server."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from temporalio.testing import ActivityEnvironment

from activities.channels._http import DeliveryRetry, HttpClient
from activities.channels.mattermost import MattermostChannel
from activities.channels.slack import SlackChannel
from activities.channels.webhook import WebhookChannel
from activities.delivery import BATCH_INDEX
from tests.comms.fakes import MATTERMOST_TOKEN, SLACK_TOKEN, WEBHOOK_URL, FakeMattermost, Vendors, served
from warroom.models import Notification

NOTE = Notification(
    incident_id="order-api-1",
    channel="incident",
    template="ic_stuck",
    context={"channel": "#incident-2026-11-28-order-api-1407"},
)
CHANNEL = "incident-2026-11-28-order-api-1407"
SCHEDULED = datetime.now(UTC)
"""When the notify activities of these tests were first scheduled (before any of their attempts)."""


def attempt(number: int, activity_id: str = "7") -> ActivityEnvironment:
    """The context of attempt `number` of one scheduled notify activity."""
    env = ActivityEnvironment()
    env.info = dataclasses.replace(
        env.info,
        workflow_id="incident-order-api-1--command",
        workflow_run_id="r1",
        activity_id=activity_id,
        scheduled_time=SCHEDULED,
        attempt=number,
    )
    return env


async def deliver(env: ActivityEnvironment, send: Callable[[], Awaitable[str]], index: int | None = None) -> str:
    async def in_activity() -> str:
        token = BATCH_INDEX.set(index)
        try:
            return await send()
        finally:
            BATCH_INDEX.reset(token)

    result: str = await env.run(in_activity)
    return result


def http() -> HttpClient:
    return HttpClient(retry=DeliveryRetry(backoff=0.01))


async def test_slack_a_retry_finds_its_first_attempt_s_message_and_posts_nothing(vendors: Vendors) -> None:
    with served(vendors.slack) as base:
        slack = SlackChannel(http(), SecretStr(SLACK_TOKEN), api_url=f"{base}/api")
        first = await deliver(attempt(1), lambda: slack.deliver(NOTE, "⏰ 30 min without mitigation"))
        again = await deliver(
            attempt(2),
            lambda: SlackChannel(http(), SecretStr(SLACK_TOKEN), api_url=f"{base}/api").deliver(
                NOTE, "⏰ 30 min without mitigation"
            ),
        )
        other = await deliver(attempt(2), lambda: slack.deliver(NOTE, "📣 the VP is told"), index=1)
    assert vendors.slack.texts(CHANNEL) == ["⏰ 30 min without mitigation", "📣 the VP is told"]
    ts = vendors.slack.messages[0]["ts"]
    assert first.endswith(f"ts={ts}") and again.endswith(f"ts={ts} (posted by an earlier attempt)")
    assert "earlier" not in other, "another message of the batch is a message of its own"
    assert vendors.slack.messages[0]["metadata"] == {
        "event_type": "warroom_delivery",
        "event_payload": {"key": "incident-order-api-1--command/r1/7"},
    }
    assert vendors.slack.calls.count("conversations.history") == 2, "only a retry looks"


async def test_slack_a_retry_pages_back_to_its_first_schedule_however_busy_the_channel(vendors: Vendors) -> None:
    """450 messages came between the two attempts (more than a page); the 1,000 from before the
    activity was scheduled are not read."""
    with served(vendors.slack) as base:
        slack = SlackChannel(http(), SecretStr(SLACK_TOKEN), api_url=f"{base}/api")
        channel_id = await slack.ensure_channel(CHANNEL)
        for i in range(1000):
            vendors.slack.add_message(channel_id, f"yesterday {i}", taken_at=time.time() - 86_400)
        await deliver(attempt(1), lambda: slack.deliver(NOTE, "⏰ page"))
        for i in range(450):
            vendors.slack.add_message(channel_id, f"chatter {i}")
        again = await deliver(attempt(2), lambda: slack.deliver(NOTE, "⏰ page"))
    assert "(posted by an earlier attempt)" in again
    assert vendors.slack.texts(CHANNEL).count("⏰ page") == 1
    assert vendors.slack.calls.count("conversations.history") == 3, "451 messages since: three pages of 200"


async def test_slack_a_look_up_that_cannot_reach_the_first_schedule_posts_and_says_why(
    vendors: Vendors, caplog: pytest.LogCaptureFixture
) -> None:
    with served(vendors.slack) as base:
        slack = SlackChannel(http(), SecretStr(SLACK_TOKEN), api_url=f"{base}/api")
        channel_id = await slack.ensure_channel(CHANNEL)
        await deliver(attempt(1), lambda: slack.deliver(NOTE, "⏰ page"))
        for i in range(5000):
            vendors.slack.add_message(channel_id, f"storm {i}")
        with caplog.at_level(logging.WARNING, logger="warroom.channels.slack"):
            again = await deliver(attempt(2), lambda: slack.deliver(NOTE, "⏰ page"))
    assert "earlier" not in again and vendors.slack.texts(CHANNEL).count("⏰ page") == 2
    assert vendors.slack.calls.count("conversations.history") == 25
    assert "looked through 5000 messages" in caplog.text


async def test_slack_without_the_history_scope_a_retry_posts_rather_than_loses_the_message(
    vendors: Vendors, caplog: pytest.LogCaptureFixture
) -> None:
    vendors.slack.failing["conversations.history"] = {"ok": False, "error": "missing_scope"}
    with served(vendors.slack) as base:
        slack = SlackChannel(http(), SecretStr(SLACK_TOKEN), api_url=f"{base}/api")
        await deliver(attempt(1), lambda: slack.deliver(NOTE, "⏰ page"))
        with caplog.at_level(logging.WARNING, logger="warroom.channels.slack"):
            again = await deliver(attempt(2), lambda: slack.deliver(NOTE, "⏰ page"))
    assert vendors.slack.texts(CHANNEL) == ["⏰ page", "⏰ page"]
    assert "earlier" not in again
    assert "missing_scope" in caplog.text and SLACK_TOKEN not in caplog.text


async def test_mattermost_a_retry_finds_its_first_attempt_s_post_and_posts_nothing() -> None:
    fake = FakeMattermost()

    def adapter(base: str) -> MattermostChannel:
        return MattermostChannel(http(), SecretStr(MATTERMOST_TOKEN), api_url=base, team="acme")

    with served(fake) as base:
        first = await deliver(attempt(1), lambda: adapter(base).deliver(NOTE, "⏰ 30 min without mitigation"))
        again = await deliver(attempt(2), lambda: adapter(base).deliver(NOTE, "⏰ 30 min without mitigation"))
        other = await deliver(attempt(2, activity_id="8"), lambda: adapter(base).deliver(NOTE, "⏰ 60 min"))
    posts = fake.in_channel(CHANNEL)
    assert [p["message"] for p in posts] == ["⏰ 30 min without mitigation", "⏰ 60 min"]
    assert posts[0]["props"] == {"warroom_delivery": "incident-order-api-1--command/r1/7"}
    assert first.endswith(f"post={posts[0]['id']}")
    assert again.endswith(f"post={posts[0]['id']} (posted by an earlier attempt)")
    assert "earlier" not in other
    assert sum(c.endswith("/posts") and c.startswith("GET") for c in fake.calls) == 2, "only a retry looks"


async def test_mattermost_a_retry_finds_its_post_behind_more_than_a_page_of_others() -> None:
    fake = FakeMattermost()
    with served(fake) as base:
        mattermost = MattermostChannel(http(), SecretStr(MATTERMOST_TOKEN), api_url=base, team="acme")
        await deliver(attempt(1), lambda: mattermost.deliver(NOTE, "⏰ page"))
        channel_id = fake.in_channel(CHANNEL)[0]["channel_id"]
        for i in range(450):
            fake.add_post(channel_id, f"chatter {i}")
        again = await deliver(attempt(2), lambda: mattermost.deliver(NOTE, "⏰ page"))
    assert "(posted by an earlier attempt)" in again
    assert [p["message"] for p in fake.in_channel(CHANNEL)].count("⏰ page") == 1
    assert any(c.startswith("GET") and c.endswith("/posts") for c in fake.calls)


async def test_slack_a_post_whose_answer_was_lost_is_found_not_sent_again(vendors: Vendors) -> None:
    """Inside one attempt: the HTTP client's own retry after a 5xx first looks for the key."""
    vendors.slack.lose_answers["POST /api/chat.postMessage"] = 1
    with served(vendors.slack) as base:
        slack = SlackChannel(http(), SecretStr(SLACK_TOKEN), api_url=f"{base}/api")
        where = await deliver(attempt(1), lambda: slack.deliver(NOTE, "⏰ page"))
        vendors.slack.fail_next(httpx.Response(500))  # this one is not taken: it is sent again
        await deliver(attempt(1, activity_id="8"), lambda: slack.deliver(NOTE, "📣 VP"))
    assert vendors.slack.texts(CHANNEL) == ["⏰ page", "📣 VP"]
    assert where.endswith(f"ts={vendors.slack.messages[0]['ts']}")
    assert vendors.slack.calls.count("conversations.history") == 2


async def test_mattermost_a_post_whose_answer_was_lost_is_found_not_sent_again() -> None:
    fake = FakeMattermost()
    fake.lose_answers["POST /api/v4/posts"] = 1
    with served(fake) as base:
        mattermost = MattermostChannel(http(), SecretStr(MATTERMOST_TOKEN), api_url=base, team="acme")
        where = await deliver(attempt(1), lambda: mattermost.deliver(NOTE, "⏰ page"))
        fake.fail_next(httpx.Response(500))
        await deliver(attempt(1, activity_id="8"), lambda: mattermost.deliver(NOTE, "📣 VP"))
    posts = fake.in_channel(CHANNEL)
    assert [p["message"] for p in posts] == ["⏰ page", "📣 VP"]
    assert where.endswith(f"post={posts[0]['id']}")


async def test_a_webhook_names_the_message_so_its_relay_can_drop_the_copy(vendors: Vendors) -> None:
    with served(vendors.webhook) as base:
        hook = WebhookChannel(http(), SecretStr(base + httpx.URL(WEBHOOK_URL).path))
        await deliver(attempt(1), lambda: hook.deliver(NOTE, "⏰ page"))
        await deliver(attempt(2), lambda: hook.deliver(NOTE, "⏰ page"))
        await deliver(attempt(1), lambda: hook.deliver(NOTE, "📣 VP"), index=1)
        await hook.deliver(NOTE, "outside an activity")
    keys: list[Any] = [r.headers.get("Idempotency-Key") for r in vendors.webhook.requests]
    assert keys == [
        "incident-order-api-1--command/r1/7",
        "incident-order-api-1--command/r1/7",
        "incident-order-api-1--command/r1/7#1",
        None,
    ]
