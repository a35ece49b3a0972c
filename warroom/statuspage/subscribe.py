"""Subscribing to the built-in status page: e-mail with double opt-in, and signed webhooks.

    POST /status/subscribe        {"email": "..."} (JSON) or email=... (a form): 202, a confirmation mail
    GET  /status/confirm?token=   the link in that mail: pending → confirmed
    GET  /status/unsubscribe?token=   a page with one button (mail scanners follow GET links; nothing changes)
    POST /status/unsubscribe?token=   unsubscribes; RFC 8058 one-click (`List-Unsubscribe=One-Click`) included
    POST /status/webhooks         {"url": "https://..."}: 201 with the subscriber's HMAC secret (shown once)
                                  and its unsubscribe URL

Bad input is a 4xx with the reason (400 a bad or expired link, 408 too slow, 413 too big, 415 not JSON or a form,
422 not an address or URL, 429 a confirmation mail sent minutes ago, with Retry-After). Answers
never say whether an address is already subscribed. Mounted by the intake and the standalone
status app when WARROOM_STATUS_SUBSCRIPTIONS is on.
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from activities.channels.email import SmtpMailer
from activities.channels.router import build_mailer
from activities.channels.settings import ChannelSettings
from activities.channels.status_subscribers import SubscriberMail
from warroom.statuspage.subscribers import (
    BadToken,
    RateLimited,
    Subscriber,
    SubscriberSettings,
    SubscriberStore,
    email_address,
    read_token,
    sign_token,
    webhook_url,
)

log = logging.getLogger("warroom.statuspage.subscribe")
BODY_LIMIT = 4096
BODY_SECONDS = 10.0
SendConfirmation = Callable[[Subscriber], Awaitable[None]]
"""Mails the confirmation link to a pending subscriber (raises when the mail did not go out)."""
_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
}


T = TypeVar("T")


class Refused(Exception):
    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers or {}


def _page(title: str, text: str, form_action: str | None = None, status: int = 200) -> HTMLResponse:
    button = (
        f'<form method="post" action="{html.escape(form_action)}">'
        '<input type="hidden" name="List-Unsubscribe" value="One-Click">'
        '<button type="submit">Unsubscribe</button></form>'
        if form_action
        else ""
    )
    body = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title>"
        "<style>body{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem}</style>"
        f'</head><body><h1>{html.escape(title)}</h1><p>{html.escape(text)}</p>{button}<p><a href="/status">'
        "Back to the status page</a></p></body></html>"
    )
    return HTMLResponse(body, status_code=status, headers=_HEADERS)


async def _read_fields(request: Request) -> dict[str, str]:
    """The fields of a small JSON object or form body: 413 over BODY_LIMIT, 408 slower than BODY_SECONDS,
    415 any other type, 400 unreadable."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > BODY_LIMIT):
        raise Refused(413, f"body over {BODY_LIMIT} bytes")
    raw = b""
    try:
        async with asyncio.timeout(BODY_SECONDS):  # a body trickling in holds no connection for long
            async for chunk in request.stream():
                raw += chunk
                if len(raw) > BODY_LIMIT:
                    raise Refused(413, f"body over {BODY_LIMIT} bytes")
    except TimeoutError:
        raise Refused(408, f"body not complete within {BODY_SECONDS:g} s") from None
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        if kind == "application/json":
            data = json.loads(raw or b"{}")
            if not isinstance(data, dict):
                raise Refused(400, "the body must be a JSON object")
            return {str(k): v for k, v in data.items() if isinstance(v, str)}
        if kind == "application/x-www-form-urlencoded":
            return {k: v[0] for k, v in parse_qs(raw.decode("utf-8"), max_num_fields=10).items()}
    except (UnicodeDecodeError, ValueError):
        raise Refused(400, "the body does not parse") from None
    if not raw and kind == "":
        return {}
    raise Refused(415, "send application/json or application/x-www-form-urlencoded")


async def _checked_field(request: Request, name: str, check: Callable[[str], T]) -> T:
    """One field of the form (or JSON) body, checked: Refused 422 naming the field when it is not valid."""
    fields = await _read_fields(request)
    try:
        return check(fields.get(name, ""))
    except ValueError as exc:
        raise Refused(422, f"{name}: {exc}") from None


def subscribe_router(
    store: SubscriberStore, settings: SubscriberSettings, send_confirmation: SendConfirmation | None
) -> APIRouter:
    """The routes over a subscriber store; without `send_confirmation` (no SMTP) e-mail is refused (503)."""
    router = APIRouter(tags=["status page"])
    key = settings.key()

    def token_of(request: Request, fields: dict[str, str] | None = None) -> str:
        token = request.query_params.get("token") or (fields or {}).get("token", "")
        if not token:
            raise Refused(400, "the link has no token")
        return token

    def read_link(request: Request, purpose: str, fields: dict[str, str] | None = None) -> tuple[str, str] | Response:
        """A signed link's token and the subscriber it names, or the answer saying why it does not work."""
        try:
            token = token_of(request, fields)
            return token, read_token(key, token, purpose, store.clock())
        except Refused as err:
            return refused(err)
        except BadToken as exc:
            return _page("This link does not work", str(exc), status=400)

    def refused(err: Refused) -> Response:
        return JSONResponse({"detail": err.detail}, status_code=err.status, headers={**_HEADERS, **err.headers})

    @router.post("/status/subscribe", status_code=202, summary="Subscribe an e-mail address (double opt-in)")
    async def subscribe(request: Request) -> Response:
        try:
            address = await _checked_field(request, "email", email_address)
            if send_confirmation is None:
                raise Refused(503, "e-mail subscriptions are not available (no SMTP server configured)")
            interval = timedelta(minutes=settings.status_confirm_interval)
            try:
                subscriber, mail = await asyncio.to_thread(store.subscribe_email, address, interval)
            except RateLimited as limited:
                seconds = str(max(1, int(limited.retry_after.total_seconds())))
                raise Refused(
                    429, f"a confirmation mail went to this address recently; {limited}", {"Retry-After": seconds}
                ) from None
            if mail:
                try:
                    await send_confirmation(subscriber)
                except Exception as exc:  # noqa: BLE001 - the reader gets a 503, the log the reason
                    log.warning("confirmation mail to subscriber %s failed: %s", subscriber.id, type(exc).__name__)
                    await asyncio.to_thread(store.confirmation_failed, subscriber.id)
                    raise Refused(503, "the confirmation mail could not be sent; try again later") from None
        except Refused as err:
            return refused(err)
        text = "If the address can receive mail, a confirmation link is on its way. Follow it to subscribe."
        if "json" in request.headers.get("content-type", ""):
            return JSONResponse({"status": "pending", "detail": text}, status_code=202, headers=_HEADERS)
        return _page("Check your inbox", text, status=202)

    @router.get("/status/confirm", summary="Confirm an e-mail subscription (the link in the mail)")
    async def confirm(request: Request) -> Response:
        link = read_link(request, "confirm")
        if isinstance(link, Response):
            return link
        subscriber = await asyncio.to_thread(store.confirm, link[1])
        if subscriber is None:
            return _page("This link does not work", "no such subscription", status=404)
        if subscriber.state != "confirmed":
            return _page("Not subscribed", "This address unsubscribed since: subscribe again.", status=409)
        return _page("Subscribed", "You will receive an e-mail for each update on the status page.")

    @router.get("/status/unsubscribe", summary="The unsubscribe page (one button)")
    async def unsubscribe_page(request: Request) -> Response:
        link = read_link(request, "unsubscribe")
        if isinstance(link, Response):
            return link
        return _page(
            "Unsubscribe", "Stop receiving status updates at this address?", f"/status/unsubscribe?token={link[0]}"
        )

    @router.post("/status/unsubscribe", summary="Unsubscribe (RFC 8058 one-click included)")
    async def unsubscribe(request: Request) -> Response:
        try:
            # RFC 8058: the token is in the URL; the body (`List-Unsubscribe=One-Click`) may come as a form
            # or as multipart/form-data, so it is only read when the URL has no token (the page's button).
            fields = {} if request.query_params.get("token") else await _read_fields(request)
        except Refused as err:
            return refused(err)
        link = read_link(request, "unsubscribe", fields)
        if isinstance(link, Response):
            return link
        subscriber = await asyncio.to_thread(store.unsubscribe, link[1])
        if subscriber is None:
            return _page("This link does not work", "no such subscription", status=404)
        return _page("Unsubscribed", "You will receive no more status updates.")

    @router.post("/status/webhooks", status_code=201, summary="Subscribe a webhook (signed with HMAC-SHA256)")
    async def webhooks(request: Request) -> Response:
        try:
            url = await _checked_field(
                request, "url", lambda value: webhook_url(value, private=settings.status_webhook_private)
            )
        except Refused as err:
            return refused(err)
        subscriber = await asyncio.to_thread(store.add_webhook, url)
        assert subscriber.secret is not None
        body: dict[str, Any] = {
            "id": subscriber.id,
            "secret": subscriber.secret.get_secret_value(),
            "signature": "X-Warroom-Signature: sha256=<hex HMAC-SHA256(secret, X-Warroom-Timestamp + '.' + body)>",
            "unsubscribe_url": settings.link("/status/unsubscribe", sign_token(key, "unsubscribe", subscriber.id)),
        }
        return JSONResponse(body, status_code=201, headers=_HEADERS)

    return router


def mount_subscriptions(app: Any, settings: SubscriberSettings, data_dir: Any) -> SubscriberStore | None:
    """Add the routes to `app` when subscriptions are on (the intake, the standalone status app).

    Confirmation mails go through the worker's SMTP settings (WARROOM_SMTP_*)."""
    if not settings.status_subscriptions:
        return None
    store = SubscriberStore.open(settings, data_dir)
    mailer: SmtpMailer | None = build_mailer(ChannelSettings(data_dir=data_dir, subscribers=settings))
    send: SendConfirmation | None = None
    if mailer is not None:
        mail = SubscriberMail(mailer, settings)

        async def send(subscriber: Subscriber) -> None:
            await mail.send(mail.confirmation(subscriber, store.clock()), subscriber.address)

    app.include_router(subscribe_router(store, settings, send))
    return store
