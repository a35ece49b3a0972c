"""The incident channel on Mattermost (REST API v4): find or open `~incident-...` in the team, post.

Posts that call for a decision carry interactive buttons (`activities.channels.buttons`): each
button's `integration.url` is the intake's /mattermost/actions, and its `context` (which Mattermost
sends back as is, unsigned) is signed with WARROOM_MATTERMOST_ACTION_SECRET so the intake can tell
warroom's buttons from forgeries. The context also carries the post's text, so the intake can
answer a press with the post as it stays (text kept, buttons replaced by who decided).

The channel name is deterministic (from the incident's `channel`), so after a worker restart the
name lookup finds the channel opened before instead of opening another. Each post carries its
delivery key (`props.warroom_delivery`, `activities.delivery`); a retried activity first looks for
it among the channel's posts since its first attempt was scheduled (`since`), so a message whose
first attempt landed is not posted twice; so does the HTTP client before re-sending a post whose
answer was lost (a 5xx, a read timeout).
"""

from __future__ import annotations

import logging
import re
from typing import Any

from pydantic import SecretStr

from activities.channels._http import (
    AlreadyDelivered,
    ChannelAuthError,
    ChannelError,
    ChannelRejected,
    HttpClient,
    Landed,
    Landing,
)
from activities.channels.buttons import Button, buttons_for
from activities.delivery import delivery_key, delivery_since, is_retry
from warroom.contracts.chat import sign_context
from warroom.models import Notification

log = logging.getLogger("warroom.channels.mattermost")
SERVICE = "mattermost"
NAME_MAX = 64
KEY_PROP = "warroom_delivery"
"""The post's prop that holds its delivery key."""
RECENT_POSTS = 200
"""How far back a look-up outside an activity (no first-scheduled time) reads (Mattermost's largest page)."""
SINCE_LIMIT = 1000
"""The most posts Mattermost answers to `since`."""
_INVALID = re.compile(r"[^a-z0-9_-]+")


def channel_name(notification: Notification) -> str:
    """Mattermost's rules: lower case letters, digits, '-' and '_', 2 to 64 characters."""
    raw = notification.context.get("channel")
    base = raw if isinstance(raw, str) and raw.strip("#~ ") else f"incident-{notification.incident_id}"
    name = _INVALID.sub("-", base.strip().lstrip("#~").lower())
    name = re.sub(r"-{2,}", "-", name).strip("-_")[:NAME_MAX].rstrip("-_")
    if len(name) < 2:
        raise ChannelRejected(SERVICE, f"no usable channel name for incident {notification.incident_id!r}")
    return name


def action_id(button: Button) -> str:
    """Mattermost action ids are letters and digits only: `warroom_declare_P2` → `warroomdeclareP2`."""
    return re.sub(r"[^A-Za-z0-9]", "", button.action.action_id)


class MattermostChannel:
    """A `Notifier` for the incident channel (and anything else routed to chat) on Mattermost."""

    def __init__(
        self,
        http: HttpClient,
        token: SecretStr,
        *,
        api_url: str,
        team: str,
        action_url: str | None = None,
        action_secret: SecretStr | None = None,
        private: bool = False,
    ) -> None:
        self.http = http
        self._token = token
        self.api_url = api_url.rstrip("/")
        self.team = team
        self.action_url = action_url
        secrets = [p.strip() for p in (action_secret.get_secret_value() if action_secret else "").split(",")]
        self._sign_with = next((s.encode() for s in secrets if s), None)  # the first value signs; all verify
        self.private = private
        self._team_id: str | None = None
        self._bot_id: str | None = None
        self._channels: dict[str, str] = {}  # channel name → Mattermost channel id

    async def deliver(self, notification: Notification, text: str) -> str:
        name = channel_name(notification)
        restricted = notification.context.get("restricted") is True
        channel_id = await self.ensure_channel(name, private=self.private or restricted)
        key = delivery_key()
        if key is not None and is_retry():
            posted = await self.posted(channel_id, key)
            if posted is not None:
                return f"mattermost ~{name} ({channel_id}) post={posted} (posted by an earlier attempt)"
        post_id = await self.post(channel_id, text, buttons_for(notification), key=key)
        return f"mattermost ~{name} ({channel_id}) post={post_id}"

    async def posted(self, channel_id: str, key: str) -> str | None:
        """The id of the channel's post carrying `key`, if any, among those since the message was first
        scheduled (`delivery_since`; Mattermost answers up to 1,000). A channel that cannot be read
        counts as not posted: a message twice is better than a message lost."""
        since = delivery_since()
        query = f"since={max(1, int(since.timestamp() * 1000))}" if since is not None else f"per_page={RECENT_POSTS}"
        try:
            body = await self._call(
                "GET", f"/channels/{channel_id}/posts?{query}", "posts.get_for_channel", shape="posts"
            )
        except ChannelError as err:
            log.warning("could not look for an earlier attempt's post in %s (%s): posting", channel_id, err)
            return None
        posts = body.get("posts")
        for post in posts.values() if isinstance(posts, dict) else []:
            props = post.get("props") if isinstance(post, dict) else None
            if isinstance(props, dict) and props.get(KEY_PROP) == key:
                return str(post.get("id", ""))
        if isinstance(posts, dict) and len(posts) >= SINCE_LIMIT:
            log.warning(
                "%s had %d posts or more since the message was scheduled, its own not among them: posting",
                channel_id,
                SINCE_LIMIT,
            )
        return None

    async def team_id(self) -> str:
        if self._team_id is None:
            body = await self._call("GET", f"/teams/name/{self.team}", "teams.get_by_name")
            self._team_id = str(body["id"])
        return self._team_id

    async def ensure_channel(self, name: str, private: bool | None = None) -> str:
        """The id of channel `name` in the team, opening it on first use."""
        if name in self._channels:
            return self._channels[name]
        team_id = await self.team_id()
        channel_id = await self._find(team_id, name)
        if channel_id is None:
            is_private = self.private if private is None else private
            payload = {"team_id": team_id, "name": name, "display_name": name, "type": "P" if is_private else "O"}
            try:
                channel_id = str((await self._call("POST", "/channels", "channels.create", payload))["id"])
            except ChannelRejected as err:  # opened meanwhile by another worker: use that one
                channel_id = await self._find(team_id, name) if err.status == 400 else None
                if channel_id is None:
                    raise
        self._channels[name] = channel_id
        return channel_id

    async def post(
        self, channel_id: str, text: str, buttons: list[Button] | None = None, *, key: str | None = None
    ) -> str:
        payload: dict[str, Any] = {"channel_id": channel_id, "message": text}
        props: dict[str, Any] = {}
        actions = self._actions(text, buttons or [])
        if actions:
            props["attachments"] = [{"actions": actions}]
        landed: Landing | None = None
        if key is not None:
            props[KEY_PROP] = key
            landed = Landing(lambda: self.posted(channel_id, key))

        if props:
            payload["props"] = props
        try:
            try:
                body = await self._call("POST", "/posts", "posts.create", payload, landed=landed)
            except ChannelAuthError as err:
                if err.status != 403:
                    raise
                await self._join(channel_id)  # a channel opened by someone else: join it, then post
                body = await self._call("POST", "/posts", "posts.create", payload, landed=landed)
        except AlreadyDelivered:  # a try whose answer was lost had landed: that is the post
            assert landed is not None and landed.found is not None
            return landed.found
        return str(body.get("id", ""))

    async def _join(self, channel_id: str) -> None:
        if self._bot_id is None:
            self._bot_id = str((await self._call("GET", "/users/me", "users.me"))["id"])
        await self._call("POST", f"/channels/{channel_id}/members", "channels.add_member", {"user_id": self._bot_id})

    def _actions(self, text: str, buttons: list[Button]) -> list[dict[str, Any]]:
        """Interactive buttons, when the intake's URL and the signing secret are configured."""
        if not buttons or not self.action_url or not self._sign_with:
            return []
        actions = []
        for button in buttons:
            context = sign_context({"action": button.action.to_value(), "message": text}, self._sign_with)
            action: dict[str, Any] = {
                "id": action_id(button),
                "type": "button",
                "name": button.label,
                "integration": {"url": self.action_url, "context": context},
            }
            if button.style:
                action["style"] = button.style
            actions.append(action)
        return actions

    async def _find(self, team_id: str, name: str) -> str | None:
        try:
            body = await self._call("GET", f"/teams/{team_id}/channels/name/{name}", "channels.get_by_name")
        except ChannelRejected as err:
            if err.status == 404:
                return None
            raise
        return str(body["id"])

    async def _call(
        self,
        method: str,
        path: str,
        label: str,
        payload: dict[str, Any] | None = None,
        *,
        shape: str = "id",
        landed: Landed | None = None,
    ) -> dict[str, Any]:
        """One API call's JSON object; `shape` names a key it must have (`id` or `channel_id` by default)."""
        token = self._token.get_secret_value()
        headers = {"Authorization": f"Bearer {token}"}
        response = await self.http.request(
            SERVICE,
            label,
            method,
            f"{self.api_url}/api/v4{path}",
            json=payload,
            headers=headers,
            secrets=[token],
            landed=landed,
        )
        try:
            body = response.json()
        except ValueError:
            raise ChannelRejected(SERVICE, f"{label}: the answer was not JSON (HTTP {response.status_code})") from None
        expected = ("id", "channel_id") if shape == "id" else (shape,)
        if not isinstance(body, dict) or not any(k in body for k in expected):
            raise ChannelRejected(SERVICE, f"{label}: unexpected answer")
        return body
