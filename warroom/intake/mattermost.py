"""Mattermost endpoints of the intake: the `/incident` slash command, message buttons, the deny dialog.

    POST /mattermost/commands   form body with the command's token (WARROOM_MATTERMOST_COMMAND_TOKEN)
    POST /mattermost/actions    a button press: JSON whose `context` warroom signed when it posted
    POST /mattermost/dialogs    the deny dialog's submission: its `state` signed the same way

Mattermost signs nothing itself: a slash command carries the token Mattermost generated for it
(compared in constant time against each configured value), and a button or a dialog carries back
the context warroom put on it, HMAC-signed with WARROOM_MATTERMOST_ACTION_SECRET. Anything that
fails a check gets a 4xx and makes no Temporal call. What passes goes to the chat desk, exactly as
a Slack request does; Mattermost waits for the answer, so every route answers synchronously.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from warroom.chat.desk import ChatDesk, decided_line
from warroom.chat.settings import ChatSettings, secret_values
from warroom.contracts.chat import (
    ChatAction,
    ChatInputError,
    ChatOutcome,
    ChatUser,
    context_verified,
    sign_context,
)
from warroom.intake.bodies import Problem

log = logging.getLogger("warroom.intake.mattermost")

BodyReader = Callable[[Request], Awaitable[bytes]]
MATTERMOST_ID = re.compile(r"^[a-z0-9]{26}$")
"""Mattermost's ids (users, teams, channels, posts): 26 characters a-z, 0-9."""
TRIGGER_ID = re.compile(r"^[A-Za-z0-9:._=-]{1,512}$")
DENY_CALLBACK = "warroom_deny"
REASON_LIMIT = 300
FORM_FIELDS = 64
API_TIMEOUT = 5.0


def _json(body: dict[str, Any], status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status)


def _problem(problem: Problem) -> JSONResponse:
    if problem.status < 500:
        log.info("mattermost: %d %s", problem.status, problem.reason)
    return JSONResponse({"detail": problem.detail}, status_code=problem.status, headers=problem.headers)


def _media(request: Request) -> str:
    return (request.headers.get("content-type") or "").split(";", 1)[0].strip().lower()


def _clean(value: str, name: str, limit: int = 4000) -> str:
    if len(value) > limit:
        raise Problem(422, "invalid", f"{name}: over {limit} characters")
    if "\x00" in value or any(ord(c) < 32 and c not in "\t\n\r" for c in value):
        raise Problem(422, "invalid", f"{name}: control characters are not accepted")
    return value


def _id(value: Any, name: str, required: bool = True) -> str | None:
    if value in (None, "") and not required:
        return None
    if not isinstance(value, str) or not MATTERMOST_ID.fullmatch(value):
        raise Problem(422, "invalid", f"{name}: not a Mattermost id (26 characters a-z, 0-9)")
    return value


def _user(user_id: Any, team_id: Any, user_name: Any = None) -> ChatUser:
    uid = _id(user_id, "user_id")
    tid = _id(team_id, "team_id", required=False)
    name = _clean(user_name, "user_name", 100) if isinstance(user_name, str) and user_name else None
    try:
        return ChatUser(platform="mattermost", user_id=uid, team_id=tid, user_name=name)
    except ValidationError:
        raise Problem(422, "invalid", "user: not a usable Mattermost user") from None


def _form(raw: bytes) -> dict[str, str]:
    """A slash command's form body: one value per field, UTF-8, no control characters."""
    try:
        text = raw.decode("utf-8")
        fields = parse_qs(text, keep_blank_values=True, strict_parsing=False, max_num_fields=FORM_FIELDS)
    except (UnicodeDecodeError, ValueError):
        raise Problem(422, "invalid", "the form body is not UTF-8 form fields") from None
    form: dict[str, str] = {}
    for name, values in fields.items():
        if len(values) != 1:
            raise Problem(422, "invalid", f"{name[:40]!r}: given more than once")
        form[name] = _clean(values[0], name[:40])
    return form


def _object(raw: bytes) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        raise Problem(422, "invalid", "the body is not JSON") from None
    if not isinstance(data, dict):
        raise Problem(422, "invalid", "the body is not a JSON object")
    return data


def _token_ok(given: str, tokens: list[bytes]) -> bool:
    """Constant time against every configured value (rotation), whichever matches."""
    ok = False
    for token in tokens:
        ok |= hmac.compare_digest(token, given.encode())
    return ok and bool(given)


def _decided(message: str, decided: str) -> dict[str, Any]:
    """The post as it stays: its text, the decided line in place of the buttons."""
    return {"message": message, "props": {"attachments": [{"text": decided}]}}


class MattermostApi:
    """The few Mattermost REST calls the intake makes with the bot token: open a dialog, patch a post."""

    def __init__(self, settings: ChatSettings) -> None:
        tokens = secret_values(settings.mattermost_token)
        self._token = tokens[0].decode() if tokens else None
        self._url = str(settings.mattermost_url).rstrip("/") if settings.mattermost_url else None

    @property
    def usable(self) -> bool:
        return bool(self._token and self._url)

    async def call(self, method: str, path: str, payload: dict[str, Any]) -> bool:
        """True on 2xx; a failure is logged (status only: no token, no body) and answered as False."""
        assert self._token and self._url
        headers = {"Authorization": f"Bearer {self._token}"}
        try:
            async with httpx.AsyncClient(timeout=API_TIMEOUT, follow_redirects=False) as http:
                response = await http.request(method, f"{self._url}{path}", json=payload, headers=headers)
        except httpx.HTTPError as exc:
            log.warning("mattermost %s %s failed: %s", method, path.split("/")[3], type(exc).__name__)
            return False
        if response.status_code >= 300:
            log.warning("mattermost %s %s answered HTTP %d", method, path.split("/")[3], response.status_code)
            return False
        return True


def router(desk: ChatDesk, settings: ChatSettings, body: BodyReader) -> APIRouter:
    """The /mattermost/* routes; each answers 403 until its secret is configured."""
    api = APIRouter(prefix="/mattermost", tags=["chat"])
    mattermost = MattermostApi(settings)

    def secrets() -> list[bytes]:
        found = secret_values(settings.mattermost_action_secret)
        if not found:
            raise Problem(403, "not_configured", "set WARROOM_MATTERMOST_ACTION_SECRET to accept Mattermost buttons")
        return found

    async def json_body(request: Request) -> dict[str, Any]:
        raw = await body(request)
        if _media(request) != "application/json":
            raise Problem(415, "unsupported_media_type", "send Content-Type: application/json")
        return _object(raw)

    @api.post("/commands", summary="The /incident slash command")
    async def commands(request: Request) -> JSONResponse:
        try:
            tokens = secret_values(settings.mattermost_command_token)
            if not tokens:
                raise Problem(403, "not_configured", "set WARROOM_MATTERMOST_COMMAND_TOKEN to accept /incident")
            raw = await body(request)
            if _media(request) != "application/x-www-form-urlencoded":
                raise Problem(415, "unsupported_media_type", "send Content-Type: application/x-www-form-urlencoded")
            form = _form(raw)
            if not _token_ok(form.get("token", ""), tokens):
                raise Problem(401, "unauthorized", "the slash command's token is missing or wrong")
            user = _user(form.get("user_id"), form.get("team_id"), form.get("user_name"))
            trigger = form.get("trigger_id", "")
            key = f"command/{trigger}" if TRIGGER_ID.fullmatch(trigger) else f"command/once-{uuid.uuid4().hex}"
        except Problem as problem:
            return _problem(problem)
        outcome = await desk.command(user, form.get("text", ""), key, channel_name=form.get("channel_name") or None)
        # A change everyone in the channel sees; refusals, help and status only the person who typed.
        visible = outcome.ok and outcome.result is not None
        return _json({"response_type": "in_channel" if visible else "ephemeral", "text": outcome.text})

    @api.post("/actions", summary="A warroom button on a Mattermost post")
    async def actions(request: Request) -> JSONResponse:
        try:
            keys = secrets()
            data = await json_body(request)
            context = data.get("context")
            if not isinstance(context, dict) or not context_verified(context, keys):
                raise Problem(401, "unauthorized", "the button's context is not one warroom signed")
            user = _user(data.get("user_id"), data.get("team_id"), data.get("user_name"))
            post_id = _id(data.get("post_id"), "post_id")
            channel_id = _id(data.get("channel_id"), "channel_id", required=False)
            value, message = context.get("action"), context.get("message", "")
            if not isinstance(value, str) or not isinstance(message, str):
                raise Problem(422, "invalid", "context: action and message must be strings")
        except Problem as problem:
            return _problem(problem)
        try:
            action = ChatAction.from_value(value)
        except ChatInputError as exc:
            return _json({"ephemeral_text": str(exc)})
        outcome = await desk.press(user, action, key=f"{post_id}/{action.action_id}")
        if outcome.needs_reason:
            return await _ask_reason(request, data, action, value, post_id, channel_id, keys)
        if not outcome.ok or not outcome.decided:
            return _json({"ephemeral_text": outcome.text})
        return _json({"update": _decided(message, outcome.decided)})

    async def _ask_reason(
        request: Request,
        data: dict[str, Any],
        action: ChatAction,
        value: str,
        post_id: str | None,
        channel_id: str | None,
        keys: list[bytes],
    ) -> JSONResponse:
        hint = f"deny with `/incident deny {action.incident_id} {action.step_id} --reason ...`"
        trigger = data.get("trigger_id")
        if not mattermost.usable or not isinstance(trigger, str) or not TRIGGER_ID.fullmatch(trigger):
            return _json({"ephemeral_text": hint})
        state = sign_context(
            {"use": DENY_CALLBACK, "value": value, "post_id": post_id, "channel_id": channel_id}, keys[0]
        )
        dialog = {
            "trigger_id": trigger,
            "url": str(request.url.replace(path=request.url.path.rsplit("/", 1)[0] + "/dialogs", query="")),
            "dialog": {
                "callback_id": DENY_CALLBACK,
                "title": f"Deny step {action.step_id}"[:24],
                "introduction_text": f"Why is step `{action.step_id}` of {action.incident_id} denied?",
                "elements": [
                    {
                        "display_name": "Reason",
                        "name": "reason",
                        "type": "textarea",
                        "max_length": REASON_LIMIT,
                        "optional": False,
                    }
                ],
                "submit_label": "Deny",
                "state": json.dumps(state, separators=(",", ":")),
            },
        }
        if await mattermost.call("POST", "/api/v4/actions/dialogs/open", dialog):
            return _json({})
        return _json({"ephemeral_text": f"the reason dialog could not be opened; {hint}"})

    @api.post("/dialogs", summary="The deny dialog's submission")
    async def dialogs(request: Request) -> JSONResponse:
        try:
            keys = secrets()
            data = await json_body(request)
            raw_state = data.get("state")
            try:
                state = json.loads(raw_state) if isinstance(raw_state, str) and len(raw_state) <= 4096 else None
            except (ValueError, RecursionError):
                state = None
            # `use` keeps a button's signed context from passing for a dialog's state.
            if not isinstance(state, dict) or state.get("use") != DENY_CALLBACK or not context_verified(state, keys):
                raise Problem(401, "unauthorized", "the dialog's state is not one warroom signed")
            if data.get("callback_id") != DENY_CALLBACK or data.get("type", "dialog_submission") != "dialog_submission":
                raise Problem(422, "invalid", f"callback_id: only {DENY_CALLBACK} dialogs are warroom's")
            user = _user(data.get("user_id"), data.get("team_id"))
            post_id = _id(state.get("post_id"), "state.post_id")
            submission = data.get("submission") or {}
            reason = submission.get("reason") if isinstance(submission, dict) else None
        except Problem as problem:
            return _problem(problem)
        if data.get("cancelled") is True:
            return _json({})
        if not isinstance(reason, str) or not reason.strip():
            return _json({"errors": {"reason": "say why the step is denied"}})
        if len(reason) > REASON_LIMIT or "\x00" in reason:
            return _json({"errors": {"reason": f"at most {REASON_LIMIT} characters, no control characters"}})
        try:
            action = ChatAction.from_value(str(state.get("value", "")))
        except ChatInputError as exc:
            return _json({"error": str(exc)})
        outcome: ChatOutcome = await desk.press(user, action, key=f"{post_id}/{action.action_id}", reason=reason)
        if not outcome.ok:
            return _json({"error": outcome.text})
        person = desk.roster.person(user) or user.handle
        line = decided_line(action, person, user, reason.strip())
        if mattermost.usable and not await mattermost.call(
            "PUT", f"/api/v4/posts/{post_id}/patch", {"props": {"attachments": [{"text": line}]}}
        ):
            log.warning("%s: denied, but the post's buttons could not be replaced", action.incident_id)
        return _json({})

    return api
