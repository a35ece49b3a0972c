"""The Slack app manifest (deploy/slack/app-manifest.yaml) against what warroom serves and calls:
every URL in it is a route of the intake app, the slash command's hint names every command, and
the bot scopes are exactly those of the Web API methods warroom calls (found in the code and seen
by the local Slack stand-in)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from pydantic import SecretStr

from activities.channels._http import DeliveryRetry, HttpClient
from activities.channels.slack import SlackChannel
from tests.comms.fakes import HOSTS, SLACK_TOKEN, Sleeps, Vendors
from warroom.chat.commands import COMMANDS
from warroom.intake import IntakeSettings, create_app
from warroom.models import Notification
from warroom.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = ROOT / "deploy" / "slack" / "app-manifest.yaml"

METHOD_SCOPES: dict[str, set[str]] = {
    "conversations.create": {"channels:manage", "groups:write"},  # public and private (restricted) channels
    "conversations.list": {"channels:read", "groups:read"},  # groups:read: a private channel is found again
    "conversations.join": {"channels:join"},
    "chat.postMessage": {"chat:write"},
    "chat.update": {"chat:write"},
    "chat.postEphemeral": {"chat:write"},
    "pins.add": {"pins:write"},
    "conversations.history": {"channels:history", "groups:history"},  # a retry finds its first attempt's copy
    "views.open": set(),  # a trigger_id from an interaction is the permission
}
"""Each Web API method warroom calls → the bot scopes it needs (docs.slack.dev/reference/methods)."""
FEATURE_SCOPES = {"commands"}  # the /incident slash command


def manifest() -> dict[str, Any]:
    loaded = yaml.safe_load(MANIFEST.read_text())
    assert isinstance(loaded, dict)
    return loaded


def urls(doc: dict[str, Any]) -> list[str]:
    settings = doc["settings"]
    return [
        *(c["url"] for c in doc["features"]["slash_commands"]),
        settings["interactivity"]["request_url"],
        settings["event_subscriptions"]["request_url"],
    ]


def test_the_manifest_is_a_version_1_app_with_a_bot_and_the_incident_command() -> None:
    doc = manifest()
    assert doc["_metadata"]["major_version"] == 1
    assert doc["display_information"]["name"] == "warroom"
    assert len(doc["display_information"]["description"]) <= 140
    assert doc["features"]["bot_user"]["display_name"] == "warroom"
    (command,) = doc["features"]["slash_commands"]
    assert command["command"] == "/incident" and command["url"] == "https://warroom.example.com/slack/commands"
    hint = command["usage_hint"]
    assert set(re.findall(r"[a-z]+", hint.split("]")[0])) == set(COMMANDS), "the hint names every command"
    assert doc["settings"]["interactivity"]["is_enabled"] is True
    assert doc["settings"]["socket_mode_enabled"] is False, "warroom is reached over HTTP"
    assert "bot_events" not in doc["settings"]["event_subscriptions"], "only URL verification arrives"
    assert all(urlsplit(u).scheme == "https" and urlsplit(u).hostname == "warroom.example.com" for u in urls(doc))


def test_every_url_is_a_route_of_the_intake(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("WARROOM_"):
            monkeypatch.delenv(name)

    async def never() -> Any:
        raise AssertionError("building the app connects to nothing")

    app = create_app(IntakeSettings(temporal=Settings()), never)
    # The OpenAPI paths: included routers are nested in app.routes, the spec lists every route.
    routes = {(path, method.upper()) for path, operations in app.openapi()["paths"].items() for method in operations}
    for url in urls(manifest()):
        assert (urlsplit(url).path, "POST") in routes, f"{url}: the intake has no POST route for it"


_CALL = re.compile(r"""(?:_call|_pages|api_call)\(\s*["']([a-z]+\.[A-Za-z]+)["']""")
_SDK = re.compile(r"\.(chat|conversations|pins|views|users|reactions|auth|team|files)_([a-zA-Z]+)\(")


def methods_in_code() -> set[str]:
    """The Web API methods named in warroom's code: the adapter's `_call("…")` and `_pages("…")`, and
    the intake's slack_sdk calls (`client.chat_update(…)`)."""
    found: set[str] = set()
    for folder in ("activities", "warroom"):
        for path in (ROOT / folder).rglob("*.py"):
            text = path.read_text()
            if "slack" not in text.lower():
                continue
            found |= set(_CALL.findall(text))
            found |= {f"{family}.{name}" for family, name in _SDK.findall(text)}
    return found


async def methods_seen() -> set[str]:
    """The methods the adapter sends on its paths: a channel opened and pinned, a private one, a
    taken name found again and joined, a message with buttons."""
    vendors, sleeps = Vendors(), Sleeps()
    http = HttpClient(transport=vendors.transport, sleep=sleeps, retry=DeliveryRetry(backoff=0.01))
    adapter = SlackChannel(http, SecretStr(SLACK_TOKEN), api_url=f"https://{HOSTS['slack']}/api")
    vendors.slack.add_channel("incident-2026-11-28-001", member=False)

    def note(template: str, **context: Any) -> Notification:
        return Notification(incident_id="inc-1", channel="incident", template=template, context=context)

    await adapter.deliver(note("channel_opened", channel="#incident-2026-11-28-002"), "opened")
    await adapter.deliver(note("internal_update", channel="#incident-2026-11-28-001"), "update")
    await adapter.deliver(note("channel_opened", channel="#sec-1", restricted=True), "private")
    await adapter.deliver(note("step_preview", channel="#sec-1", step_id="s1", digest="abcdef012345"), "step")
    await http.aclose()
    return set(vendors.slack.calls)


async def test_the_scopes_are_exactly_what_warroom_calls() -> None:
    in_code = methods_in_code()
    seen = await methods_seen()
    assert {"conversations.create", "conversations.list", "conversations.join", "chat.postMessage", "pins.add"} <= seen
    assert seen <= in_code, f"methods sent but not found in the code: {seen - in_code}"
    unknown = in_code - set(METHOD_SCOPES)
    assert not unknown, f"add these methods and their scopes to METHOD_SCOPES (and the manifest): {unknown}"

    needed = FEATURE_SCOPES.union(*(METHOD_SCOPES[m] for m in in_code))
    needed |= {"chat:write"}  # chat.update/postEphemeral: the intake's answers, whether or not on this branch
    granted = set(manifest()["oauth_config"]["scopes"]["bot"])
    assert granted == needed, f"missing: {needed - granted}; not needed: {granted - needed}"
    assert "user" not in manifest()["oauth_config"]["scopes"], "warroom acts as its bot, never as a user"
