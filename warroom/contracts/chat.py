"""What crosses between a chat adapter and the chat core: who acted, what they pressed, what to answer.

Everything here comes from a chat request, so everything is bounded and allow-listed: a button's
value is decoded back into a `ChatAction` and checked as strictly as a CLI argument.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from warroom.enums import Severity
from warroom.models import UpdateResult

Platform = Literal["slack", "mattermost"]
ActionKind = Literal["ack", "approve", "deny", "declare", "approve_email"]
"""The buttons warroom puts on its messages; `approve_email` is the Comms Lead approving the customer e-mail step."""

ACTION_PREFIX = "warroom_"
"""Slack `action_id`s (and Mattermost action ids) are `warroom_<kind>`; a declare button adds `_<severity>`."""
VALUE_LIMIT = 2000
"""Slack's limit on a button's value."""

ChatId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._-]{1,64}$")]
IncidentRef = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,99}$")]
StepId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
Digest = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{6,64}$")]


class ChatInputError(ValueError):
    """A chat request that cannot be used: the message is what the user reads (ephemerally)."""


class ChatUser(BaseModel):
    """Who pressed or typed, as the chat platform (already verified) says."""

    model_config = ConfigDict(frozen=True)

    platform: Platform
    user_id: ChatId
    team_id: ChatId | None = None
    user_name: Annotated[str, StringConstraints(max_length=100)] | None = None

    @property
    def handle(self) -> str:
        """`slack:U0123ABC`: how the person's chat identity is recorded beside their name."""
        return f"{self.platform}:{self.user_id}"


class ChatAction(BaseModel):
    """A warroom button: what it does and to what. Encoded into the button (no secrets: the
    platform signs the request that carries it back)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: ActionKind
    incident_id: IncidentRef
    step_id: StepId | None = None
    digest: Digest | None = Field(None, description="approve: the preview's digest the message showed")
    severity: Severity | None = Field(None, description="declare: the severity the button declares")

    @property
    def action_id(self) -> str:
        """`warroom_approve`, `warroom_declare_P2`: unique per button within one message."""
        suffix = f"_{self.severity.value}" if self.kind == "declare" and self.severity else ""
        return f"{ACTION_PREFIX}{self.kind}{suffix}"

    def to_value(self) -> str:
        """The button's value: compact JSON of the fields set."""
        value = json.dumps(self.model_dump(mode="json", exclude_none=True), separators=(",", ":"))
        assert len(value) <= VALUE_LIMIT, "ids are bounded far below the limit"
        return value

    @classmethod
    def from_value(cls, value: str) -> ChatAction:
        """A button's value back into an action; raises ChatInputError for anything warroom did not make."""
        if len(value) > VALUE_LIMIT:
            raise ChatInputError("that button's value is too long to be warroom's")
        try:
            data = json.loads(value)
            return cls.model_validate(data)
        except (ValueError, RecursionError, ValidationError):
            raise ChatInputError("that button is not one warroom made (or is from an older version)") from None


_ACTION_ID = re.compile(rf"^{ACTION_PREFIX}[a-z_]+(?:_P[123])?$")


def is_warroom_action(action_id: str) -> bool:
    return bool(_ACTION_ID.fullmatch(action_id))


class ChatOutcome(BaseModel):
    """What the adapter tells the user: `text` for them (ephemeral when `ok` is false), and for
    a decision on a warroom message, `decided`: the line that replaces its buttons."""

    ok: bool
    text: str
    decided: str | None = None
    result: UpdateResult | None = None
    needs_reason: bool = Field(False, description="deny without a reason: ask for one (Slack: a modal)")


SIGNATURE_FIELD = "warroom_sig"
"""Where a signed context (Mattermost buttons and dialogs) carries its HMAC."""


def sign_context(context: dict[str, Any], secret: bytes) -> dict[str, Any]:
    """`context` plus an HMAC-SHA256 over its canonical JSON: Mattermost posts a button's context
    back unsigned, so warroom signs what it puts there and checks it on the way back."""
    body = {k: v for k, v in context.items() if k != SIGNATURE_FIELD}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    return {**body, SIGNATURE_FIELD: hmac.new(secret, canonical, hashlib.sha256).hexdigest()}


def context_verified(context: dict[str, Any], secrets: list[bytes]) -> bool:
    """Whether `context` carries a valid signature under any of `secrets` (rotation), compared in constant time."""
    given = context.get(SIGNATURE_FIELD)
    if not isinstance(given, str) or not secrets:
        return False
    ok = False
    for secret in secrets:
        expected = sign_context(context, secret)[SIGNATURE_FIELD]
        ok |= hmac.compare_digest(expected.encode(), given.encode())
    return ok
