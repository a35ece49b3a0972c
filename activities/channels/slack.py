"""The incident channel on Slack (Web API): open `#incident-YYYY-MM-DD-...`, post, pin the summary.

A message that asks for a decision (`buttons_for`: pages, step previews, the customer e-mail
draft) is posted as Block Kit: the text in `section`s, then one `actions` block
(`block_id` "warroom_actions") of buttons whose values are `ChatAction`s; the intake answers the
presses. Other messages stay plain text.

Slack answers most failures with HTTP 200 and `{"ok": false, "error": "..."}`; those are mapped to
the same typed errors as HTTP failures (`ratelimited`/`internal_error` retry, `invalid_auth`/
`missing_scope` are configuration, the rest are rejections). The channel name is deterministic
(from the incident's `channel`), so after a worker restart `conversations.create` answers
`name_taken` and the adapter finds the existing channel and joins it instead of opening another.

Each message carries its delivery key as message metadata (`warroom_delivery`, `activities.delivery`).
A retried activity first reads the channel's messages since its first attempt was scheduled
(`conversations.history` with `oldest`, the `channels:history`/`groups:history` scopes) for it,
so a message whose first attempt landed is not posted twice; without those scopes it posts, as
before (at least once, never lost). The same look-up runs inside one attempt before the HTTP client re-sends a post whose answer was lost (a 5xx, a read
timeout: `HttpClient.request`'s `landed`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from typing import Any

from pydantic import SecretStr

from activities.channels._http import (
    AlreadyDelivered,
    ChannelAuthError,
    ChannelError,
    ChannelRateLimited,
    ChannelRejected,
    ChannelUnavailable,
    HttpClient,
    Landed,
    Landing,
)
from activities.channels.buttons import Button, buttons_for
from activities.delivery import delivery_key, delivery_since, is_retry
from warroom.models import Notification

log = logging.getLogger("warroom.channels.slack")
SERVICE = "slack"
NAME_MAX = 80
_INVALID = re.compile(r"[^a-z0-9_-]+")

RETRYABLE = {
    "ratelimited",
    "rate_limited",
    "internal_error",
    "fatal_error",
    "service_unavailable",
    "request_timeout",
    "team_added_to_org",
}
AUTH = {
    "not_authed",
    "invalid_auth",
    "account_inactive",
    "token_revoked",
    "token_expired",
    "no_permission",
    "missing_scope",
    "not_allowed_token_type",
    "ekm_access_denied",
    "org_login_required",
}
LIST_PAGES = 50  # conversations.list pages (PAGE channels each) searched for a taken name
SCOPES = (
    "channels:manage, channels:read, channels:join, channels:history, groups:write, groups:read, groups:history, "
    "chat:write, pins:write"
)
"""The bot scopes warroom uses (deploy/slack/app-manifest.yaml asks for these and `commands`)."""

SECTION_LIMIT = 3000
"""Slack's limit on a section block's text."""
MAX_BLOCKS = 50
"""Slack's limit on the blocks of one message."""
KEY_EVENT = "warroom_delivery"
"""The metadata event type whose payload's `key` is the message's delivery key."""
PAGE = 200
"""Items per page of a paginated read (`conversations.list`, `conversations.history`: Slack's recommended most)."""
HISTORY_PAGES = 25
"""How many pages a look-up reads at most (5,000 messages since the message was first scheduled)."""
ACTIONS_BLOCK_ID = "warroom_actions"
"""The block that holds warroom's buttons: the intake removes it when the decision is made."""


def _carries(message: dict[str, Any], key: str) -> bool:
    """Whether a message's metadata is warroom's delivery key `key`."""
    metadata = message.get("metadata")
    if not isinstance(metadata, dict) or metadata.get("event_type") != KEY_EVENT:
        return False
    payload = metadata.get("event_payload")
    return isinstance(payload, dict) and payload.get("key") == key


def channel_name(notification: Notification) -> str:
    """Slack's rules: lower case letters, digits, '-' and '_', at most 80 characters."""
    raw = notification.context.get("channel")
    base = raw if isinstance(raw, str) and raw.strip("# ") else f"incident-{notification.incident_id}"
    name = _INVALID.sub("-", base.strip().lstrip("#").lower())
    name = re.sub(r"-{2,}", "-", name).strip("-_")[:NAME_MAX].rstrip("-_")
    if not name:
        raise ChannelRejected(SERVICE, f"no usable channel name for incident {notification.incident_id!r}")
    return name


def slack_error(method: str, code: str | None, retry_after: float | None = None) -> ChannelError:
    code = code or "unknown_error"
    message = f"{method}: {code}"
    if code in ("ratelimited", "rate_limited"):
        return ChannelRateLimited(SERVICE, message, retry_after=retry_after, code=code)
    if code in RETRYABLE:
        return ChannelUnavailable(SERVICE, message, code=code)
    if code in AUTH:
        return ChannelAuthError(
            SERVICE,
            f"{message} — check the bot token and its scopes ({SCOPES})",
            code=code,
        )
    return ChannelRejected(SERVICE, message, code=code)


def mentions(notification: Notification) -> str:
    """ "<@U0123> " for each person the roster named who has a Slack id: their phone buzzes."""
    ids = [r.contacts.slack_id for r in notification.recipients if r.contacts.slack_id]
    return "".join(f"<@{i}> " for i in dict.fromkeys(ids))


def escape(text: str) -> str:
    """Slack's control characters escaped, as its docs ask: a `<!channel>`, `<@U…>` or
    `<https://…|label>` inside a message (an alert's summary, a hypothesis) shows as typed and
    neither pings anyone nor disguises a link. warroom's own mentions are added after this."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def split_text(text: str, limit: int = SECTION_LIMIT) -> list[str]:
    """`text` in pieces of at most `limit` characters that join back into it, each cut after a
    line break where one is in the piece's second half; pieces of only white space are dropped."""
    pieces: list[str] = []
    rest = text
    while len(rest) > limit:
        cut = rest.rfind("\n", 0, limit) + 1
        if cut <= limit // 2:
            cut = limit
            entity = rest.rfind("&", cut - 5, cut)  # never inside the `&amp;` that escape() wrote
            if entity > 0 and ";" not in rest[entity:cut]:
                cut = entity
        pieces.append(rest[:cut])
        rest = rest[cut:]
    pieces.append(rest)
    return [piece for piece in pieces if piece.strip()]


def button_element(button: Button) -> dict[str, Any]:
    """A Block Kit button carrying a warroom action (ids only: Slack signs the request that brings it back)."""
    element: dict[str, Any] = {
        "type": "button",
        "action_id": button.action.action_id,
        "value": button.action.to_value(),
        "text": {"type": "plain_text", "text": button.label, "emoji": True},
    }
    if button.style:
        element["style"] = button.style
    return element


def message_blocks(notification: Notification, text: str) -> list[dict[str, Any]] | None:
    """Block Kit for a message that carries buttons, or None for one that only informs.

    The text (mentions included) fills `section`s of at most 3000 characters; an approval names
    the preview it approves in a `context` block; the buttons come last, in `warroom_actions`."""
    buttons = buttons_for(notification)
    if not buttons:
        return None
    digests = list(dict.fromkeys(b.action.digest for b in buttons if b.action.kind == "approve" and b.action.digest))
    room = MAX_BLOCKS - 1 - (1 if digests else 0)
    pieces = split_text(text)
    if len(pieces) > room:  # some 140,000 characters: the local channel log keeps it whole
        pieces = [*pieces[: room - 1], f"… ({sum(len(p) for p in pieces[room - 1 :])} more characters not shown)"]
    blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": p}} for p in pieces]
    if digests:
        line = "; ".join(f"Approving approves preview {d}" for d in digests)
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": line}]})
    blocks.append({"type": "actions", "block_id": ACTIONS_BLOCK_ID, "elements": [button_element(b) for b in buttons]})
    return blocks


class SlackChannel:
    """A `Notifier` for the incident channel (and anything else routed to chat)."""

    def __init__(
        self,
        http: HttpClient,
        token: SecretStr,
        *,
        api_url: str = "https://slack.com/api",
        private: bool = False,
        pin_templates: frozenset[str] | set[str] = frozenset({"channel_opened"}),
    ) -> None:
        self.http = http
        self._token = token
        self.api_url = api_url.rstrip("/")
        self.private = private
        self.pin_templates = frozenset(pin_templates)
        self._channels: dict[str, str] = {}  # channel name → Slack channel id

    async def deliver(self, notification: Notification, text: str) -> str:
        name = channel_name(notification)
        # A restricted incident (security: no details in public channels) gets a private channel.
        restricted = notification.context.get("restricted") is True
        channel_id = await self.ensure_channel(name, private=self.private or restricted)
        body = mentions(notification) + escape(text)
        key = delivery_key()
        earlier = await self.posted(channel_id, key) if key is not None and is_retry() else None
        ts = earlier or await self.post(channel_id, body, message_blocks(notification, body), key=key)
        pinned = " (posted by an earlier attempt)" if earlier else ""
        if notification.template in self.pin_templates:
            pinned += " (pinned)" if await self._pin(channel_id, ts) else " (pin failed)"
        return f"slack #{name} ({channel_id}) ts={ts}{pinned}"

    async def ensure_channel(self, name: str, private: bool | None = None) -> str:
        """The id of channel `name`, creating it (or joining the existing one) on first use."""
        if name in self._channels:
            return self._channels[name]
        is_private = self.private if private is None else private
        try:
            body = await self._call("conversations.create", {"name": name, "is_private": is_private})
            channel_id = str(body["channel"]["id"])
        except ChannelRejected as err:
            if err.code != "name_taken":
                raise
            channel_id = await self._join_existing(name)
        self._channels[name] = channel_id
        return channel_id

    async def posted(self, channel_id: str, key: str) -> str | None:
        """The ts of the channel's message carrying `key`, if any, among those since the message was
        first scheduled (`delivery_since`), page by page. A history the bot may not read (no
        `channels:history` scope) counts as not posted: a message twice beats one lost."""
        params: dict[str, Any] = {"channel": channel_id, "limit": PAGE, "include_all_metadata": "true"}
        since = delivery_since()
        if since is not None:
            params["oldest"] = f"{max(0.0, since.timestamp()):.6f}"
        read = 0
        try:
            async for messages in self._pages("conversations.history", params, "messages", HISTORY_PAGES):
                read += 1
                found = next((m for m in messages if _carries(m, key)), None)
                if found is not None:
                    return str(found.get("ts", ""))
        except ChannelError as err:
            log.warning("could not look for an earlier attempt's message in %s (%s): posting", channel_id, err)
            return None
        if read == HISTORY_PAGES:
            log.warning(
                "looked through %d messages of %s for an earlier attempt's message without reaching its time: posting",
                PAGE * HISTORY_PAGES,
                channel_id,
            )
        return None

    async def post(
        self, channel_id: str, text: str, blocks: list[dict[str, Any]] | None = None, *, key: str | None = None
    ) -> str:
        """Post `text` (with `blocks`, `text` is the notification's fallback: the whole message)."""
        payload: dict[str, Any] = {"channel": channel_id, "text": text, "unfurl_links": False, "unfurl_media": False}
        if blocks:
            payload["blocks"] = blocks
        landed: Landing | None = None
        if key is not None:
            payload["metadata"] = {"event_type": KEY_EVENT, "event_payload": {"key": key}}
            landed = Landing(lambda: self.posted(channel_id, key))

        try:
            try:
                body = await self._call("chat.postMessage", payload, landed=landed)
            except ChannelRejected as err:
                if err.code != "not_in_channel":
                    raise
                await self._call("conversations.join", {"channel": channel_id})
                body = await self._call("chat.postMessage", payload, landed=landed)
        except AlreadyDelivered:  # a try whose answer was lost had landed: that is the post
            assert landed is not None and landed.found is not None
            return landed.found
        return str(body.get("ts", ""))

    async def _pin(self, channel_id: str, ts: str) -> bool:
        """Pin the summary; a failure is logged, not raised (the message itself went out)."""
        try:
            await self._call("pins.add", {"channel": channel_id, "timestamp": ts})
        except ChannelError as err:
            if err.code == "already_pinned":
                return True
            log.warning("could not pin the summary in %s: %s", channel_id, err)
            return False
        return True

    async def _join_existing(self, name: str) -> str:
        """`name_taken`: find the channel of that name and join it (a bot only sees public ones to join)."""
        params = {"types": "public_channel,private_channel", "exclude_archived": "true", "limit": PAGE}
        async for channels in self._pages("conversations.list", params, "channels", LIST_PAGES):
            for channel in channels:
                if channel.get("name") == name:
                    if not channel.get("is_member") and not channel.get("is_private"):
                        await self._call("conversations.join", {"channel": channel["id"]})
                    return str(channel["id"])
        raise ChannelRejected(
            SERVICE,
            f"channel #{name} exists but cannot be found or joined (archived, or private without the bot in it)",
        )

    async def _pages(
        self, method: str, params: dict[str, Any], items: str, pages: int
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """Each page's `items` of a cursor-paginated read method, at most `pages` pages."""
        params = dict(params)
        for _ in range(pages):
            body = await self._call(method, params=params)
            yield [item for item in body.get(items) or [] if isinstance(item, dict)]
            cursor = (body.get("response_metadata") or {}).get("next_cursor") or ""
            if not cursor:
                return
            params["cursor"] = cursor

    async def _call(
        self,
        method: str,
        payload: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        landed: Landed | None = None,
    ) -> dict[str, Any]:
        token = self._token.get_secret_value()
        headers = {"Authorization": f"Bearer {token}"}
        url = f"{self.api_url}/{method}"
        if params is not None:
            response = await self.http.request(
                SERVICE, method, "GET", url, params=params, headers=headers, secrets=[token]
            )
        else:
            headers["Content-Type"] = "application/json; charset=utf-8"
            response = await self.http.request(
                SERVICE, method, "POST", url, json=payload, headers=headers, secrets=[token], landed=landed
            )
        try:
            body = response.json()
        except ValueError:
            raise ChannelUnavailable(
                SERVICE, f"{method}: the answer was not JSON (HTTP {response.status_code})"
            ) from None
        if not isinstance(body, dict):
            raise ChannelUnavailable(SERVICE, f"{method}: unexpected answer")
        if not body.get("ok"):
            raise slack_error(method, body.get("error"))
        if body.get("warning"):
            log.debug("slack %s warning: %s", method, body["warning"])
        return body
