"""The Slack app over HTTP: `/slack/commands` (`/incident`), `/slack/interactions` (buttons, the
Deny modal) and `/slack/events` (URL verification).

Every request is verified first, on the raw bytes, with `slack_sdk`'s SignatureVerifier (v0 HMAC
over timestamp and body, 5-minute window, constant-time compare) against each configured signing
secret; a missing, stale or forged signature is 401 and nothing reaches Temporal or Slack. An exact
replay of a request already handled is answered 200 and does nothing.

Slack wants an answer within 3 s, so each request is acknowledged at once and the work finishes in
a background task that answers through the Web API (`chat.update`, `chat.postEphemeral`,
`views.open`) or the request's `response_url`. Retries (`X-Slack-Retry-Num`) and double clicks are
handled like any request: the desk's update id, derived from the message and button, makes them
the same Temporal update, so the decision is made once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, HttpUrl, StringConstraints, ValidationError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from warroom.chat.commands import TEXT_LIMIT, parse
from warroom.chat.desk import ChatDesk
from warroom.chat.settings import ChatSettings, secret_values
from warroom.contracts.chat import ChatAction, ChatInputError, ChatOutcome, ChatUser, is_warroom_action
from warroom.intake.auth import ReplayGuard
from warroom.intake.bodies import Problem
from warroom.intake.chat_metrics import count
from warroom.intake.slack_views import (
    DENY_CALLBACK,
    REASON_ACTION,
    REASON_BLOCK,
    REASON_LIMIT,
    decided_blocks,
    deny_modal,
    ephemeral,
    in_channel,
    reason_errors,
)

log = logging.getLogger("warroom.intake.slack")

WINDOW_SECONDS = 300
"""Slack's documented window: a timestamp further from now than this is a replay or a bad clock."""
MAX_FIELDS = 64
MESSAGES_KEPT = 1000
"""Messages whose Deny modal is open, kept so the submission can rewrite the message (bounded)."""
_STAMP = re.compile(r"[0-9]{1,12}")
_SIGNATURE = re.compile(r"v0=[0-9a-fA-F]{64}")
NOT_CONFIGURED = "Slack is not configured: set WARROOM_SLACK_SIGNING_SECRET"

M = TypeVar("M", bound=BaseModel)
SlackId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._-]{1,64}$")]
Short = Annotated[str, StringConstraints(max_length=255)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class SlashCommand(_Model):
    """Slack's slash command form (the fields warroom reads; Slack sends more)."""

    team_id: SlackId
    channel_id: SlackId
    channel_name: Short = ""
    user_id: SlackId
    user_name: Annotated[str, StringConstraints(max_length=100)] | None = None
    command: Annotated[str, StringConstraints(pattern=r"^/[a-z0-9_-]{1,32}$")]
    text: Annotated[str, StringConstraints(max_length=TEXT_LIMIT)] = ""
    response_url: HttpUrl
    trigger_id: Annotated[str, StringConstraints(min_length=1, max_length=255)]


class SlackUserRef(_Model):
    id: SlackId
    username: Annotated[str, StringConstraints(max_length=100)] | None = None
    team_id: SlackId | None = None


class TeamRef(_Model):
    id: SlackId


class Container(_Model):
    type: Short
    channel_id: SlackId | None = None
    message_ts: SlackId | None = None


class Action(_Model):
    action_id: Short
    value: Annotated[str, StringConstraints(max_length=2000)] | None = None


class Message(_Model):
    ts: SlackId | None = None
    text: Annotated[str, StringConstraints(max_length=40_000)] = ""
    blocks: list[dict[str, Any]] | None = Field(None, max_length=50)


class BlockActions(_Model):
    type: Literal["block_actions"]
    user: SlackUserRef
    team: TeamRef | None = None
    container: Container
    message: Message | None = None
    actions: list[Action] = Field(max_length=25)
    trigger_id: Short | None = None
    response_url: HttpUrl | None = None


class View(_Model):
    callback_id: Short = ""
    private_metadata: Annotated[str, StringConstraints(max_length=3000)] = ""
    state: dict[str, Any] = Field(default_factory=dict)


class ViewSubmission(_Model):
    type: Literal["view_submission"]
    user: SlackUserRef
    team: TeamRef | None = None
    view: View


class DenyMetadata(_Model):
    value: Annotated[str, StringConstraints(max_length=2000)]
    channel: SlackId
    ts: SlackId


class UrlVerification(_Model):
    type: Literal["url_verification"]
    challenge: Annotated[str, StringConstraints(pattern=r"^[\x21-\x7e]{1,255}$")]


def _user(ref: SlackUserRef, team: TeamRef | None) -> ChatUser:
    team_id = team.id if team else ref.team_id
    return ChatUser(platform="slack", user_id=ref.id, team_id=team_id, user_name=ref.username)


def _dig(data: Any, *keys: str) -> Any:
    """`data[k1][k2]…`, or None where a level is missing or not an object."""
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def _strict_json(text: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        raise Problem(422, "invalid", "the body is not JSON") from None


def _form(raw: bytes, request: Request) -> dict[str, str]:
    """An urlencoded form, each field once, no NULs; 415/422 otherwise."""
    media = (request.headers.get("content-type") or "").split(";", 1)[0].strip().lower()
    if media != "application/x-www-form-urlencoded":
        raise Problem(415, "unsupported_media_type", "send Content-Type: application/x-www-form-urlencoded")
    try:
        pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=True, max_num_fields=MAX_FIELDS)
    except (UnicodeDecodeError, ValueError) as exc:
        raise Problem(422, "invalid", f"the form cannot be read: {str(exc)[:100]}") from None
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:
            raise Problem(422, "invalid", f"the field {name[:40]!r} is sent twice")
        if "\x00" in name or "\x00" in value:
            raise Problem(422, "invalid", f"the field {name[:40]!r} contains a NUL character")
        form[name] = value
    return form


def _model(model: type[M], data: Any) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(p) for p in error["loc"]) or "body"
        raise Problem(422, "invalid", f"{model.__name__}: {where}: {error['msg']}") from None


class SlackApp:
    """The verified handling of Slack's requests, and the replies sent after the acknowledgement."""

    def __init__(self, desk: ChatDesk, settings: ChatSettings, body: Callable[[Request], Awaitable[bytes]]) -> None:
        self.desk = desk
        self.settings = settings
        self.body = body
        self.verifiers = [SignatureVerifier(s.decode()) for s in secret_values(settings.slack_signing_secret)]
        self.seen = ReplayGuard(2 * WINDOW_SECONDS)
        self.tasks: set[asyncio.Task[None]] = set()
        self.messages: dict[tuple[str, str], Message] = {}
        tokens = secret_values(settings.slack_token)
        self.web = (
            AsyncWebClient(token=tokens[0].decode(), base_url=str(settings.slack_api_url).rstrip("/") + "/")
            if tokens
            else None
        )

    # --- the gate ---------------------------------------------------------------------------

    async def verified(self, request: Request) -> bytes | None:
        """The body of a genuine Slack request, None for an exact replay; Problem otherwise."""
        if not self.verifiers:
            raise Problem(403, "disabled", NOT_CONFIGURED)
        raw = await self.body(request)
        stamp = request.headers.get("x-slack-request-timestamp", "").strip()
        signature = request.headers.get("x-slack-signature", "").strip()
        if not stamp or not signature:
            raise Problem(401, "unauthenticated", "X-Slack-Request-Timestamp and X-Slack-Signature are required")
        if not _STAMP.fullmatch(stamp):
            raise Problem(401, "stale", "X-Slack-Request-Timestamp is not a Unix timestamp")
        if not _SIGNATURE.fullmatch(signature):
            raise Problem(401, "bad_signature", "X-Slack-Signature is not v0=<64 hex digits>")
        if abs(time.time() - int(stamp)) > WINDOW_SECONDS:
            raise Problem(401, "stale", f"the request timestamp is outside the {WINDOW_SECONDS}s window")
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            raise Problem(401, "bad_signature", "the signature does not match the body") from None
        valid = False
        for verifier in self.verifiers:  # every secret, no short cut: timing says nothing about which
            valid |= verifier.is_valid(raw, stamp, signature)
        if not valid:
            raise Problem(401, "bad_signature", "the signature does not match the body")
        if self.seen.seen(signature):
            log.info("slack: a replay of a request already handled; ignored")
            return None
        self.seen.remember(signature)
        retry = request.headers.get("x-slack-retry-num")
        if retry:
            reason = request.headers.get("x-slack-retry-reason", "")[:40]
            log.info("slack: retry %s (%s) of %s", retry[:8], reason, request.url.path)
        return raw

    def later(self, work: Coroutine[Any, Any, None], what: str) -> None:
        """Finish after answering; a failure is logged, never raised (Slack has its answer)."""

        async def guarded() -> None:
            try:
                await work
            except Exception:
                log.exception("slack: %s failed", what)

        task = asyncio.create_task(guarded(), name=f"slack {what}")
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    # --- /slack/commands ------------------------------------------------------------------

    async def command(self, raw: bytes, request: Request) -> Response:
        cmd = _model(SlashCommand, _form(raw, request))
        user = ChatUser(platform="slack", user_id=cmd.user_id, team_id=cmd.team_id, user_name=cmd.user_name)
        try:
            quick = parse(cmd.text).name == "help" or self.desk.roster.person(user) is None
        except ChatInputError:
            quick = True
        if quick:  # help, a typo or an unknown user: answered now, nothing sent anywhere
            outcome = await self.desk.command(user, cmd.text, key=cmd.trigger_id, channel_name=cmd.channel_name)
            return JSONResponse(ephemeral(outcome.text))
        self.later(self._finish_command(cmd, user), "command")
        return Response(status_code=200)

    async def _finish_command(self, cmd: SlashCommand, user: ChatUser) -> None:
        outcome = await self.desk.command(user, cmd.text, key=cmd.trigger_id, channel_name=cmd.channel_name)
        if outcome.ok and outcome.result is not None:
            reply = in_channel(cmd.user_id, cmd.command, cmd.text, outcome.text)
        else:
            reply = ephemeral(outcome.text)
        await self._respond(str(cmd.response_url), reply)

    # --- /slack/interactions ----------------------------------------------------------------

    async def interaction(self, raw: bytes, request: Request) -> Response:
        form = _form(raw, request)
        if set(form) != {"payload"}:
            raise Problem(422, "invalid", "an interaction is one form field, `payload`")
        data = _strict_json(form["payload"])
        kind = data.get("type") if isinstance(data, dict) else None
        if kind == "block_actions":
            return self.block_actions(_model(BlockActions, data))
        if kind == "view_submission":
            return self.view_submission(_model(ViewSubmission, data))
        return Response(status_code=200)  # shortcuts, view_closed…: not warroom's

    def block_actions(self, payload: BlockActions) -> Response:
        pressed = next((a for a in payload.actions if is_warroom_action(a.action_id)), None)
        if pressed is None:
            return Response(status_code=200)
        try:
            action = ChatAction.from_value(pressed.value or "")
        except ChatInputError as exc:
            raise Problem(422, "invalid", str(exc)) from None
        if action.action_id != pressed.action_id:
            raise Problem(422, "invalid", "that button's value does not match its action_id")
        channel, ts = payload.container.channel_id, payload.container.message_ts
        if not channel or not ts:
            raise Problem(422, "invalid", "a warroom button is on a message: container.channel_id and message_ts")
        user = _user(payload.user, payload.team)
        key = f"{channel}/{ts}/{pressed.action_id}"
        self.later(self._finish_press(payload, user, action, channel, ts, key), "button")
        return Response(status_code=200)

    async def _finish_press(
        self, payload: BlockActions, user: ChatUser, action: ChatAction, channel: str, ts: str, key: str
    ) -> None:
        outcome = await self.desk.press(user, action, key)
        response_url = str(payload.response_url) if payload.response_url else None
        if outcome.needs_reason:
            await self._ask_reason(payload, user, action, channel, ts, response_url)
        elif outcome.ok:
            await self._decided(channel, ts, payload.message, outcome.decided or outcome.text, response_url)
        else:
            await self._refuse(channel, user, outcome, response_url)

    async def _ask_reason(
        self, payload: BlockActions, user: ChatUser, action: ChatAction, channel: str, ts: str, url: str | None
    ) -> None:
        if self.web is None or not payload.trigger_id:
            text = f"Deny asks for a reason: /incident deny {action.incident_id} {action.step_id} --reason TEXT"
            await self._refuse(channel, user, ChatOutcome(ok=False, text=text), url)
            return
        if payload.message is not None:
            if len(self.messages) >= MESSAGES_KEPT:
                self.messages.pop(next(iter(self.messages)))
            self.messages[(channel, ts)] = payload.message
        await self.web.views_open(trigger_id=payload.trigger_id, view=deny_modal(action.to_value(), channel, ts))

    def view_submission(self, payload: ViewSubmission) -> Response:
        if payload.view.callback_id != DENY_CALLBACK:
            return Response(status_code=200)
        meta = _model(DenyMetadata, _strict_json(payload.view.private_metadata or "null"))
        try:
            action = ChatAction.from_value(meta.value)
        except ChatInputError as exc:
            raise Problem(422, "invalid", str(exc)) from None
        if action.kind != "deny":
            raise Problem(422, "invalid", "the Deny modal carries a deny button")
        reason = _dig(payload.view.state, "values", REASON_BLOCK, REASON_ACTION, "value")
        reason = reason.strip() if isinstance(reason, str) else ""
        if not reason:
            return JSONResponse(reason_errors())
        if len(reason) > REASON_LIMIT or any(ord(c) < 32 and c not in "\n\t" for c in reason):
            return JSONResponse(reason_errors(f"At most {REASON_LIMIT} characters of plain text"))
        user = _user(payload.user, payload.team)
        key = f"{meta.channel}/{meta.ts}/{DENY_CALLBACK}"
        self.later(self._finish_deny(user, action, meta, reason, key), "deny")
        return Response(status_code=200)  # closes the modal

    async def _finish_deny(self, user: ChatUser, action: ChatAction, meta: DenyMetadata, reason: str, key: str) -> None:
        outcome = await self.desk.press(user, action, key, reason=reason)
        if outcome.ok:
            decided = f"{outcome.decided or outcome.text}: {reason}"
            await self._decided(meta.channel, meta.ts, self.messages.pop((meta.channel, meta.ts), None), decided, None)
        else:
            await self._refuse(meta.channel, user, outcome, None)

    # --- replies ---------------------------------------------------------------------------

    async def _decided(self, channel: str, ts: str, message: Message | None, decided: str, url: str | None) -> None:
        """The message rewritten in place: its buttons replaced by who decided what."""
        text = message.text if message else ""
        blocks = decided_blocks(message.blocks if message else None, text, decided)
        if self.web is not None:
            await self.web.chat_update(channel=channel, ts=ts, text=text or decided, blocks=blocks)
        elif url:
            await self._respond(url, {"replace_original": True, "text": text or decided, "blocks": blocks})

    async def _refuse(self, channel: str, user: ChatUser, outcome: ChatOutcome, url: str | None) -> None:
        """Only the person who pressed sees why; the message stays as it was."""
        reply = ephemeral(outcome.text)
        if self.web is not None:
            await self.web.chat_postEphemeral(channel=channel, user=user.user_id, text=reply["text"])
        elif url:
            await self._respond(url, {**reply, "replace_original": False})
        else:
            log.info("slack: refused %s, and no way to tell them (no bot token)", user.handle)

    async def _respond(self, url: str, body: dict[str, Any]) -> None:
        response = await AsyncWebhookClient(url).send_dict(body)
        if response.status_code >= 300:
            log.warning("slack: response_url answered %d", response.status_code)

    # --- /slack/events ----------------------------------------------------------------------

    async def event(self, raw: bytes, request: Request) -> Response:
        media = (request.headers.get("content-type") or "").split(";", 1)[0].strip().lower()
        if media != "application/json":
            raise Problem(415, "unsupported_media_type", "send Content-Type: application/json")
        data = _strict_json(raw.decode("utf-8"))
        if isinstance(data, dict) and data.get("type") == "url_verification":
            return JSONResponse({"challenge": _model(UrlVerification, data).challenge})
        return Response(status_code=200)  # warroom subscribes to no events


def router(desk: ChatDesk, settings: ChatSettings, body: Callable[[Request], Awaitable[bytes]]) -> APIRouter:
    """The /slack/* routes; each answers 403 until WARROOM_SLACK_SIGNING_SECRET is set."""
    app = SlackApp(desk, settings, body)
    routes = APIRouter(prefix="/slack", tags=["chat"])

    def endpoint(
        handle: Callable[[bytes, Request], Awaitable[Response]], name: str
    ) -> Callable[[Request], Awaitable[Response]]:
        async def serve(request: Request) -> Response:
            try:
                raw = await app.verified(request)
                if raw is None:
                    count(request.app, "slack", name, "replay")
                    return Response(status_code=200)
                response = await handle(raw, request)
                count(request.app, "slack", name, "accepted")
                return response
            except Problem as problem:
                log.info("slack %s: %d %s", name, problem.status, problem.reason)
                count(request.app, "slack", name, problem.reason)
                return JSONResponse({"detail": problem.detail}, status_code=problem.status, headers=problem.headers)

        serve.__name__ = f"slack_{name}"
        return serve

    routes.add_api_route("/commands", endpoint(app.command, "commands"), methods=["POST"], summary="/incident")
    routes.add_api_route(
        "/interactions", endpoint(app.interaction, "interactions"), methods=["POST"], summary="buttons and modals"
    )
    routes.add_api_route("/events", endpoint(app.event, "events"), methods=["POST"], summary="URL verification")
    return routes
