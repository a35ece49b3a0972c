"""Mattermost: open or reuse the incident channel in the team, post, and put signed buttons on decisions."""

from __future__ import annotations

import logging

import pytest
from pydantic import SecretStr

from activities.channels._http import ChannelAuthError, DeliveryRetry, HttpClient
from activities.channels.mattermost import MattermostChannel, channel_name
from activities.channels.router import build_router
from activities.channels.settings import ChannelSettings
from tests.comms.fakes import MATTERMOST_TOKEN, FakeMattermost, served
from warroom.contracts.chat import ChatAction, context_verified
from warroom.models import Notification

CHANNEL = "#incident-2026-11-28-order-api-1407"
ACTION_URL = "https://intake.example.test/mattermost/actions"
SECRET = "mm-action-secret-0123456789"


def adapter(base: str, token: str = MATTERMOST_TOKEN, **options: object) -> MattermostChannel:
    http = HttpClient(retry=DeliveryRetry(backoff=0.01))
    return MattermostChannel(
        http,
        SecretStr(token),
        api_url=base,
        team="acme",
        action_url=ACTION_URL,
        action_secret=SecretStr(f"{SECRET},older-secret-value"),
        **options,  # type: ignore[arg-type]
    )


def note(template: str = "internal_update", **context: object) -> Notification:
    return Notification(
        incident_id="order-api-1", channel="incident", template=template, context={"channel": CHANNEL, **context}
    )


async def test_the_channel_is_opened_once_and_reused_after_a_restart() -> None:
    fake = FakeMattermost()
    with served(fake) as base:
        where = await adapter(base).deliver(note("channel_opened"), "📣 opened")
        await adapter(base).deliver(note(), "⚡ update")  # a new worker: finds the channel by name
    channel = fake.by_name("incident-2026-11-28-order-api-1407")
    assert channel is not None and channel["type"] == "O" and channel["team_id"] == fake.team("acme")
    assert [p["message"] for p in fake.in_channel(channel["name"])] == ["📣 opened", "⚡ update"]
    assert fake.calls.count("POST /channels") == 1
    assert where.startswith(f"mattermost ~{channel['name']} ({channel['id']}) post=")
    assert MATTERMOST_TOKEN not in where


async def test_a_channel_someone_else_opened_is_joined_before_posting() -> None:
    fake = FakeMattermost()
    cid = fake.add_channel("incident-2026-11-28-order-api-1407")
    with served(fake) as base:
        await adapter(base).deliver(note(), "⚡ update")
    assert [p["message"] for p in fake.in_channel("incident-2026-11-28-order-api-1407")] == ["⚡ update"]
    assert f"POST /channels/{cid}/members" in fake.calls and "POST /channels" not in fake.calls


async def test_a_private_channel_the_bot_is_not_in_is_a_clear_refusal() -> None:
    fake = FakeMattermost()
    fake.add_channel("incident-2026-11-28-order-api-1407", private=True)
    with served(fake) as base, pytest.raises(ChannelAuthError, match="channels.add_member: HTTP 403"):
        await adapter(base).deliver(note(), "⚡ update")
    assert not fake.posts


async def test_a_restricted_incident_gets_a_private_channel() -> None:
    fake = FakeMattermost()
    with served(fake) as base:
        await adapter(base).deliver(note("channel_opened", restricted=True), "🔒 opened")
    assert fake.by_name("incident-2026-11-28-order-api-1407")["type"] == "P"  # type: ignore[index]


async def test_a_step_proposal_carries_approve_and_deny_whose_contexts_verify() -> None:
    fake = FakeMattermost()
    text = "Step s2 proposed: restart order-api"
    with served(fake) as base:
        await adapter(base).deliver(note("step_proposed", step_id="s2", digest="3f9a0c1b2d4e"), text)
    (post,) = fake.posts.values()
    (attachment,) = post["props"]["attachments"]
    actions = attachment["actions"]
    assert [(a["id"], a["name"], a.get("style")) for a in actions] == [
        ("warroomapprove", "Approve", "primary"),
        ("warroomdeny", "Deny", "danger"),
    ]
    for action in actions:
        assert action["integration"]["url"] == ACTION_URL
        context = action["integration"]["context"]
        assert context_verified(context, [SECRET.encode()]) and context["message"] == text
        assert not context_verified(context, [b"older-secret-value"]), "the first value signs"
        altered = {**context, "message": "something else"}
        assert not context_verified(altered, [SECRET.encode()])
    approve = ChatAction.from_value(actions[0]["integration"]["context"]["action"])
    assert (approve.kind, approve.step_id, approve.digest) == ("approve", "s2", "3f9a0c1b2d4e")


async def test_pages_carry_acknowledge_and_declare_while_undeclared() -> None:
    fake = FakeMattermost()
    with served(fake) as base:
        await adapter(base).deliver(note("ic_page", declared=False), "page")
        await adapter(base).deliver(note("internal_update"), "no buttons")
    first, second = fake.posts.values()
    ids = [a["id"] for a in first["props"]["attachments"][0]["actions"]]
    assert ids == ["warroomack", "warroomdeclareP1", "warroomdeclareP2", "warroomdeclareP3"]
    assert all(i.isalnum() for i in ids)
    assert second["props"] == {}


async def test_without_an_action_url_posts_have_no_buttons() -> None:
    fake = FakeMattermost()
    with served(fake) as base:
        http = HttpClient(retry=DeliveryRetry(backoff=0.01))
        plain = MattermostChannel(http, SecretStr(MATTERMOST_TOKEN), api_url=base, team="acme")
        await plain.deliver(note("step_proposed", step_id="s2"), "proposed")
    assert next(iter(fake.posts.values()))["props"] == {}


async def test_a_wrong_token_is_a_configuration_error_without_the_token(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    fake = FakeMattermost()
    with served(fake) as base, pytest.raises(ChannelAuthError) as raised:
        await adapter(base, token="wrong-token-value-123").deliver(note(), "x")
    assert "wrong-token-value-123" not in str(raised.value) and "wrong-token-value-123" not in caplog.text
    assert not fake.posts


def test_settings_route_chat_to_mattermost_after_slack(tmp_path: object) -> None:
    values = dict(
        mattermost_url="https://chat.example.test",
        mattermost_token=MATTERMOST_TOKEN,
        mattermost_team="acme",
        mattermost_action_url=ACTION_URL,
        mattermost_action_secret=SECRET,
    )
    settings = ChannelSettings(**values)  # type: ignore[arg-type]
    assert settings.route_table()["incident"] == "mattermost" and settings.route_table()["stakeholders"] == "mattermost"
    router = build_router(settings, data_dir=tmp_path)  # type: ignore[arg-type]
    assert router.describe()["incident"] == "mattermost"
    both = ChannelSettings(**values, slack_token="xoxb-1")  # type: ignore[arg-type]
    assert both.route_table()["incident"] == "slack"
    with pytest.raises(ValueError, match="_TOKEN and _TEAM"):
        ChannelSettings(mattermost_url="https://chat.example.test")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="go together"):
        ChannelSettings(**{**values, "mattermost_action_secret": None})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="mattermost_team"):
        ChannelSettings(**{**values, "mattermost_team": "../admin"})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (CHANNEL, "incident-2026-11-28-order-api-1407"),
        ("~Ops War Room!", "ops-war-room"),
        (None, "incident-order-api-1"),
    ],
)
def test_channel_names_follow_mattermosts_rules(raw: str | None, expected: str) -> None:
    context = {"channel": raw} if raw is not None else {}
    assert (
        channel_name(Notification(incident_id="order-api-1", channel="incident", template="x", context=context))
        == expected
    )
