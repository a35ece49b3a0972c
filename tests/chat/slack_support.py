"""Requests as Slack sends them: signed v0 headers, slash command forms, `block_actions` and
`view_submission` payloads, and a warroom message with buttons in a FakeSlack channel.

Shapes follow Slack's documented examples (api.slack.com/interactivity/handling); only fields
warroom reads are varied. Signing uses slack_sdk's own `SignatureVerifier.generate_signature`, so
the tests and the intake agree on Slack's algorithm rather than on a copy of it.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any
from urllib.parse import urlencode

from slack_sdk.signature import SignatureVerifier

from tests.comms.fakes import FakeSlack
from warroom.contracts.chat import ChatAction

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TEAM = "T0WARROOM"


def signed(body: bytes, secret: str = SIGNING_SECRET, at: int | None = None, **extra: str) -> dict[str, str]:
    """The headers Slack sends with `body`: timestamp (now, or `at`) and v0 signature, plus `extra`."""
    stamp = str(int(time.time()) if at is None else at)
    signature = SignatureVerifier(secret).generate_signature(timestamp=stamp, body=body)
    assert signature is not None
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": signature, **extra}


FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def command_body(text: str, user_id: str, response_url: str, channel_name: str = "general", **fields: str) -> bytes:
    """A `/incident` slash command's form body; `trigger_id` is unique unless given."""
    form = {
        "token": "gIkuvaNzQIHg97ATvDxqgjtO",  # the deprecated verification token: warroom ignores it
        "team_id": TEAM,
        "team_domain": "acme",
        "channel_id": "C0COMMAND",
        "channel_name": channel_name,
        "user_id": user_id,
        "user_name": user_id.lower(),
        "command": "/incident",
        "text": text,
        "api_app_id": "A0WARROOM",
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": f"13345224609.738474920.{uuid.uuid4().hex}",
        **fields,
    }
    return urlencode(form).encode()


def interaction_body(payload: dict[str, Any]) -> bytes:
    """An interaction's form body: one field, `payload`, holding the JSON."""
    return urlencode({"payload": json.dumps(payload)}).encode()


def post_message(fake: FakeSlack, channel_id: str, action: ChatAction, *more: ChatAction) -> dict[str, Any]:
    """A warroom message with buttons, as the channel adapter posts it, straight into the fake."""
    buttons = [
        {
            "type": "button",
            "action_id": a.action_id,
            "value": a.to_value(),
            "text": {"type": "plain_text", "text": a.kind},
        }
        for a in (action, *more)
    ]
    ts = f"1700000000.{len(fake.messages) + 100:06d}"
    message = {
        "channel": channel_id,
        "ts": ts,
        "text": f"Step {action.step_id or ''} proposed on {action.incident_id}",
        "blocks": [
            {"type": "section", "block_id": "what", "text": {"type": "mrkdwn", "text": "*Step proposed*"}},
            {"type": "actions", "block_id": "warroom", "elements": buttons},
        ],
    }
    fake.messages.append(message)
    return message


def block_actions(
    message: dict[str, Any], action: ChatAction, user_id: str, response_url: str, *, action_id: str | None = None
) -> dict[str, Any]:
    """Slack's `block_actions` payload for pressing `action`'s button on `message`."""
    return {
        "type": "block_actions",
        "user": {"id": user_id, "username": user_id.lower(), "name": user_id.lower(), "team_id": TEAM},
        "api_app_id": "A0WARROOM",
        "token": "gIkuvaNzQIHg97ATvDxqgjtO",
        "container": {
            "type": "message",
            "message_ts": message["ts"],
            "channel_id": message["channel"],
            "is_ephemeral": False,
        },
        "trigger_id": f"1234.5678.{uuid.uuid4().hex}",
        "team": {"id": TEAM, "domain": "acme"},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": message["channel"], "name": "incident"},
        "message": {
            "type": "message",
            "user": "U0BOT",
            "ts": message["ts"],
            "text": message["text"],
            "blocks": message["blocks"],
        },
        "state": {"values": {}},
        "response_url": response_url,
        "actions": [
            {
                "type": "button",
                "block_id": "warroom",
                "action_id": action_id or action.action_id,
                "text": {"type": "plain_text", "text": action.kind, "emoji": True},
                "value": action.to_value(),
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }


def view_submission(view: dict[str, Any], user_id: str, reason: str | None) -> dict[str, Any]:
    """Slack's `view_submission` payload for the modal `view` (as views.open got it), with `reason` typed."""
    value = {"type": "plain_text_input", "value": reason}
    return {
        "type": "view_submission",
        "team": {"id": TEAM, "domain": "acme"},
        "user": {"id": user_id, "username": user_id.lower(), "name": user_id.lower(), "team_id": TEAM},
        "api_app_id": "A0WARROOM",
        "token": "gIkuvaNzQIHg97ATvDxqgjtO",
        "trigger_id": f"1234.5678.{uuid.uuid4().hex}",
        "view": {
            "id": "V0MODAL",
            "team_id": TEAM,
            "type": "modal",
            "callback_id": view["callback_id"],
            "private_metadata": view["private_metadata"],
            "blocks": view["blocks"],
            "state": {"values": {"reason": {"reason": value}}},
            "hash": "156772938.1827394",
        },
        "response_urls": [],
    }


def url_verification(challenge: str) -> bytes:
    return json.dumps(
        {"token": "Jhj5dZrVaK7ZwHHjRyZWjbDl", "challenge": challenge, "type": "url_verification"}
    ).encode()
