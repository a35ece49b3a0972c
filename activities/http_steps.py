"""HTTP steps: send a rendered catalog request (a feature-flag kill switch, a traffic shift), once.

The request arrives rendered by `warroom.policy.http_request` and is checked again here, before
anything is sent: http(s) only, no userinfo, no fragment, no `..` segment, no control character;
an origin outside the worker's allow-list (`WARROOM_HTTP_STEP_ORIGINS`) or a credential the worker
does not hold is refused (`StepRefused`) without a request.

One attempt per activity attempt; Temporal's WRITE_RETRY retries, and the `Idempotency-Key`
header (incident/step) lets the server recognise a retry of a request it already took.

    2xx                      applied (or already_applied when the server says `Idempotent-Replayed: true`)
    3xx                      HttpStepRejected: redirects are not followed (a redirect could leave the allow-list)
    409 with a key sent      HttpStepUnavailable, retryable: the IETF Idempotency-Key draft's "the first
                             request is still being processed"; never guessed to be already applied
    429, 5xx, no answer      HttpStepUnavailable, retryable (Retry-After honoured)
    other 4xx                HttpStepRejected, not retryable

Credentials are header values held by the worker (`WARROOM_HTTP_CREDENTIALS`, JSON {name: value},
sent as `Authorization: <value>`); they are never logged, never in an error or the outcome.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import unquote, urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from temporalio import activity

from activities.channels._http import parse_retry_after, redact, short
from warroom.contracts.errors import ActivityFailure, StepRefused, boundary
from warroom.contracts.steps import HTTP_STEP_APPLY, OUTPUT_MAX, HttpStepRequest, StepOutcome
from warroom.validation import json_object, sendable_secret

if TYPE_CHECKING:  # httpx loads when first used: a worker with no HTTP integration never imports it
    import httpx

_CONTROL = re.compile(r"[\x00-\x20\x7f\\]")
_HEADER_BREAK = re.compile(r"[\x00-\x1f\x7f]")
READ_MAX = 64 * 1024
"""Bytes of a response body read at most; the rest is never downloaded."""


class HttpStepError(ActivityFailure):
    """An HTTP step's request failed; `retryable` says whether the same request may succeed later."""

    type = "HttpStepError"


class HttpStepUnavailable(HttpStepError):
    """No answer, a timeout, 5xx, 429, or 409 (the first request with this key still running)."""

    type = "HttpStepUnavailable"
    retryable = True


class HttpStepRejected(HttpStepError):
    """The server refused the request (4xx) or redirected it: sending it again will not help."""

    type = "HttpStepRejected"


def _origins(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def origin_of(url: str) -> str:
    """`scheme://host:port`, lower-case, with the scheme's default port spelt out."""
    parts = urlsplit(url.strip())
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme, 0)
    return f"{parts.scheme.lower()}://{(parts.hostname or '').lower()}:{port}"


class HttpStepSettings(BaseSettings):
    """Worker configuration, never activity input (env WARROOM_HTTP_*)."""

    model_config = SettingsConfigDict(env_prefix="WARROOM_HTTP_", extra="ignore")

    credentials: Annotated[dict[str, SecretStr], NoDecode] = Field(
        default_factory=dict, description='JSON {"flags-admin": "Bearer ..."}: the Authorization header by name'
    )
    step_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="comma-separated origins HTTP steps may reach; empty: any"
    )

    @field_validator("credentials", mode="before")
    @classmethod
    def _json(cls, value: Any) -> Any:
        return json_object(value)

    @field_validator("credentials", mode="after")
    @classmethod
    def _sendable(cls, value: dict[str, SecretStr]) -> dict[str, SecretStr]:
        for name, secret in value.items():
            try:
                sendable_secret(secret)
            except ValueError as exc:
                raise ValueError(f"credential {name!r}: {exc}") from None
        return value

    @field_validator("step_origins", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        return _origins(value)

    @field_validator("step_origins", mode="after")
    @classmethod
    def _normalise(cls, value: list[str]) -> list[str]:
        for origin in value:
            parts = urlsplit(origin)
            if parts.scheme not in ("http", "https") or not parts.hostname or parts.path.strip("/") or parts.query:
                raise ValueError(f"{origin!r} is not an origin (scheme://host[:port])")
        return [origin_of(origin) for origin in value]


async def _beating(work: Awaitable[tuple[httpx.Response, bytes]], every: float) -> tuple[httpx.Response, bytes]:
    """Await `work`, heartbeating `every` seconds; cancelled with the activity."""
    task = asyncio.ensure_future(work)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=every)
            if done:
                return task.result()
            activity.heartbeat("waiting for the answer")
    finally:
        task.cancel()


def _check_url(url: str) -> None:
    """What the renderer guarantees, checked again where the request leaves (StepRefused)."""
    if _CONTROL.search(url):
        raise StepRefused("HTTP step: the URL holds whitespace, a backslash or a control character")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise StepRefused("HTTP step: only http:// and https:// URLs with a host")
    if "@" in parts.netloc or parts.fragment or "#" in url:
        raise StepRefused("HTTP step: a URL with a user, a password or a #fragment is refused")
    if any(segment in (".", "..") for segment in unquote(parts.path).split("/")):
        raise StepRefused("HTTP step: a URL with a . or .. segment is refused")


class HttpStepActivities:
    """Activity holder: the worker builds one with its settings and registers `activities()`."""

    def __init__(
        self,
        settings: HttpStepSettings | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        beat_seconds: float = 5.0,
    ) -> None:
        """`beat_seconds`: heartbeat while the server thinks; cancellation reaches an activity only through them."""
        self.settings = settings or HttpStepSettings()
        self.beat_seconds = beat_seconds
        self._transport = transport
        self._client: httpx.AsyncClient | None = None

    def activities(self) -> list[Callable[..., Any]]:
        """Every activity, in the order of `warroom.contracts.steps.HTTP`."""
        return [self.http_step_apply]

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None or self._client.is_closed:
            import httpx

            # trust_env=False: a step goes where its URL says, not through a proxy the environment names
            self._client = httpx.AsyncClient(
                follow_redirects=False, trust_env=False, transport=self._transport, headers={"User-Agent": "warroom"}
            )
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    @activity.defn(name=HTTP_STEP_APPLY.name)
    async def http_step_apply(self, req: HttpStepRequest) -> StepOutcome:
        with boundary():
            return await self._apply(req)

    def _headers(self, req: HttpStepRequest) -> tuple[dict[str, str], str | None]:
        headers: dict[str, str] = {}
        if req.idempotency_key:
            if _HEADER_BREAK.search(req.idempotency_key):
                raise StepRefused("HTTP step: the idempotency key holds a control character")
            headers["Idempotency-Key"] = req.idempotency_key
        secret: str | None = None
        if req.credential is not None:
            held = self.settings.credentials.get(req.credential)
            if held is None:
                raise StepRefused(f"HTTP step: this worker holds no credential named {req.credential!r}")
            secret = held.get_secret_value()
            headers["Authorization"] = secret
        return headers, secret

    async def _send(self, req: HttpStepRequest, headers: dict[str, str]) -> tuple[httpx.Response, bytes]:
        """One request; the body read up to READ_MAX bytes."""
        import httpx

        timeout = httpx.Timeout(req.timeout_seconds, connect=min(5.0, req.timeout_seconds))
        async with self.client.stream(req.method, req.url, json=req.body, headers=headers, timeout=timeout) as response:
            raw = b""
            async for chunk in response.aiter_bytes():
                raw += chunk
                if len(raw) >= READ_MAX:
                    break
        return response, raw[:READ_MAX]

    async def _apply(self, req: HttpStepRequest) -> StepOutcome:
        import httpx

        _check_url(req.url)
        allowed = self.settings.step_origins
        if allowed and origin_of(req.url) not in allowed:
            raise StepRefused(f"HTTP step: {origin_of(req.url)} is not in this worker's WARROOM_HTTP_STEP_ORIGINS")
        headers, secret = self._headers(req)
        what = f"{req.method} {req.url}"
        try:
            response, raw = await _beating(self._send(req, headers), self.beat_seconds)
        except httpx.TimeoutException as exc:
            raise HttpStepUnavailable(f"{what}: timed out ({type(exc).__name__})") from None
        except httpx.HTTPError as exc:
            raise HttpStepUnavailable(f"{what}: {type(exc).__name__}") from None
        status = response.status_code
        body = redact(raw.decode(response.encoding or "utf-8", errors="replace"), [secret])
        detail = short(body)
        if status < 300:
            replayed = response.headers.get("Idempotent-Replayed", "").lower() == "true"
            return StepOutcome(
                outcome="already_applied" if replayed and req.idempotency_key else "applied",
                summary=short(f"{what} → {status}", 300),
                output=body[:OUTPUT_MAX],
                details={"status": str(status)},
                api_calls=1,
            )
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        said = f"{what} → {status}{': ' + detail if detail else ''}"
        if status < 400:
            raise HttpStepRejected(f"{what} → {status}: redirects are not followed; put the final URL in the runbook")
        if status == 409 and req.idempotency_key:
            raise HttpStepUnavailable(f"{said} (the first request with this key may still be running)", retry_after)
        if status == 429 or status >= 500:
            raise HttpStepUnavailable(said, retry_after)
        if status in (401, 403):
            raise HttpStepRejected(f"{said}: check credential {req.credential or '(none named)'}")
        raise HttpStepRejected(said)
