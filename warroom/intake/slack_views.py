"""What warroom sends back to Slack: the decided message, the Deny modal, command replies.

Pure functions over JSON-shaped dicts (Block Kit), so they are tested without Slack. Every string
that came from a person (a command's text, a reason, a validator's sentence that quotes one) is
escaped for mrkdwn first: `<!channel>` typed into a command must not page a whole channel.
"""

from __future__ import annotations

import json
from typing import Any

DENY_CALLBACK = "warroom_deny"
"""The Deny modal's `callback_id`: its view_submission is the deny, with the reason typed."""
REASON_BLOCK = REASON_ACTION = "reason"
REASON_LIMIT = 300
METADATA_LIMIT = 3000
"""Slack's limit on a view's `private_metadata`."""
TEXT_LIMIT = 3000
"""Slack's limit on a section's text (and more than any reply warroom writes)."""
EMPTY_REASON = "Say why: the reason stays in the timeline"


def escape(text: str) -> str:
    """Slack's three control characters, escaped as Slack documents (`&amp;`, `&lt;`, `&gt;`)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clip(text: str, limit: int = TEXT_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def decided_blocks(blocks: list[dict[str, Any]] | None, text: str, decided: str) -> list[dict[str, Any]]:
    """The message after a decision: its own blocks without the `actions` (the buttons go away),
    then a context line saying who decided what. A message without blocks keeps its text."""
    kept = [b for b in blocks or [] if isinstance(b, dict) and b.get("type") != "actions"]
    if not kept and text:
        kept = [{"type": "section", "text": {"type": "mrkdwn", "text": _clip(text)}}]
    return [*kept, {"type": "context", "elements": [{"type": "mrkdwn", "text": _clip(escape(decided))}]}]


def deny_modal(value: str, channel: str, ts: str) -> dict[str, Any]:
    """The modal Deny opens: one reason field; the button, message and channel ride in
    `private_metadata` (Slack hands it back, signed, with the submission)."""
    metadata = json.dumps({"value": value, "channel": channel, "ts": ts}, separators=(",", ":"))
    assert len(metadata) <= METADATA_LIMIT, "a button value and two Slack ids fit easily"
    return {
        "type": "modal",
        "callback_id": DENY_CALLBACK,
        "private_metadata": metadata,
        "title": {"type": "plain_text", "text": "Deny the step"},
        "submit": {"type": "plain_text", "text": "Deny"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {
                "type": "input",
                "block_id": REASON_BLOCK,
                "label": {"type": "plain_text", "text": "Why? The reason stays in the incident's timeline."},
                "element": {
                    "type": "plain_text_input",
                    "action_id": REASON_ACTION,
                    "multiline": True,
                    "max_length": REASON_LIMIT,
                },
            }
        ],
    }


def reason_errors(message: str = EMPTY_REASON) -> dict[str, Any]:
    """The synchronous answer that keeps the modal open and shows `message` under the field."""
    return {"response_action": "errors", "errors": {REASON_BLOCK: message}}


def ephemeral(text: str) -> dict[str, Any]:
    """A reply only the person who typed or pressed sees (a refusal, `help`, `status`)."""
    return {"response_type": "ephemeral", "text": _clip(escape(text))}


def in_channel(user_id: str, command: str, text: str, result: str) -> dict[str, Any]:
    """A successful act, for the whole channel: who typed what, and what warroom recorded."""
    said = escape(f"{command} {text}".strip())
    return {"response_type": "in_channel", "text": _clip(f"<@{user_id}> `{said}`\n{escape(result)}")}
