"""Which warroom buttons a message carries: the chat-neutral part of Slack blocks and Mattermost attachments.

    pages (ic_page, oncall_page, repage)      Acknowledge; while not declared, also Declare P1/P2/P3
    step proposals and previews               Approve (naming the preview's digest) and Deny
    the customer e-mail draft                 Approve e-mail (the Comms Lead approves the step)

A button carries only ids (`ChatAction`): pressing it sends the same update as the CLI, and the
incident's validator decides (a non-IC pressing Approve is refused with the reason).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import ValidationError

from warroom.contracts.chat import ChatAction
from warroom.enums import Severity
from warroom.models import Notification

ACK_TEMPLATES = frozenset({"ic_page", "oncall_page", "repage"})
DECIDE_TEMPLATES = frozenset({"step_proposed", "step_preview", "step_reprompt", "rollback_proposed"})
EMAIL_TEMPLATES = frozenset({"customer_email_draft"})


@dataclass(frozen=True)
class Button:
    action: ChatAction
    label: str
    style: Literal["primary", "danger"] | None = None


def buttons_for(notification: Notification) -> list[Button]:
    """The buttons for this message, or none (most messages only inform)."""
    ctx = notification.context
    template = notification.template
    step = ctx.get("step_id")
    digest = ctx.get("digest")
    try:
        if template in ACK_TEMPLATES:
            incident = notification.incident_id
            buttons = [Button(ChatAction(kind="ack", incident_id=incident), "Acknowledge", "primary")]
            if ctx.get("declared") is False:
                buttons += [
                    Button(ChatAction(kind="declare", incident_id=incident, severity=s), f"Declare {s.value}")
                    for s in Severity
                ]
            return buttons
        if template in DECIDE_TEMPLATES and isinstance(step, str):
            preview = digest if isinstance(digest, str) and digest else None
            return [
                Button(
                    ChatAction(kind="approve", incident_id=notification.incident_id, step_id=step, digest=preview),
                    "Approve",
                    "primary",
                ),
                Button(ChatAction(kind="deny", incident_id=notification.incident_id, step_id=step), "Deny", "danger"),
            ]
        if template in EMAIL_TEMPLATES and isinstance(step, str):
            action = ChatAction(kind="approve_email", incident_id=notification.incident_id, step_id=step)
            return [Button(action, "Approve e-mail", "primary")]
    except ValidationError:  # an id warroom would not make: no button rather than a broken one
        return []
    return []
