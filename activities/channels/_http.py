"""One shared httpx client for every vendor adapter: timeouts, bounded retries, typed errors.

Retried here: 429 (honouring Retry-After), 5xx and network failures, with exponential backoff and
jitter, inside a budget that fits the notify contract's start-to-close timeout. Never retried:
any other 4xx — a bad token or a malformed request will not fix itself. When the budget runs out
(or Retry-After asks for longer than we may wait), the error is raised as retryable with the
server's delay, and Temporal's activity retry takes over (`ChannelError` is an `ActivityFailure`).

Errors name the service and an endpoint *label*, never the URL (webhook URLs carry their secret in
the path) and never a header; vendor error text is cut short and scrubbed of the adapter's secrets.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from warroom.contracts.errors import ActivityFailure

if TYPE_CHECKING:  # httpx loads when a client is first made: a worker with no HTTP integration never does
    import httpx

log = logging.getLogger("warroom.channels")

Sleep = Callable[[float], Awaitable[None]]


# --- Errors: the retry meaning lives in the type ---------------------------------------------


class ChannelError(ActivityFailure):
    """A delivery failed. `retryable` says whether trying again later can help."""

    type = "ChannelError"
    retryable = False

    def __init__(
        self,
        service: str,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(f"{service}: {message}", retry_after)
        self.service = service
        self.status = status
        self.code = code


class ChannelUnavailable(ChannelError):
    """5xx, a network failure or a timeout: the service may answer later."""

    type = "ChannelUnavailable"
    retryable = True


class ChannelRateLimited(ChannelUnavailable):
    """429 (or Slack's `ratelimited`): retry after `retry_after` seconds."""

    type = "ChannelRateLimited"


class ChannelRejected(ChannelError):
    """The service refused this request (4xx, or an API-level error): retrying will not help."""

    type = "ChannelRejected"


class ChannelAuthError(ChannelRejected):
    """The credentials are missing, wrong, revoked or lack a permission: fix the configuration."""

    type = "ChannelAuthError"


class ChannelConfigError(ChannelError):
    """warroom is not configured to deliver this (no recipient, no channel, ...)."""

    type = "ChannelConfigError"


class AlreadyDelivered(Exception):
    """Not a failure: a try whose answer was lost had landed (`HttpClient.request`'s `landed` said so)."""


Landed = Callable[[], Awaitable[bool]]
"""Asked before re-sending after an answer that was lost (a read timeout, a reset, a 5xx): whether the
request landed anyway (an adapter looks for its delivery key). True ends the retries."""


class Landing:
    """A `Landed` for one keyed post: asks the adapter's look-up and keeps the id it found."""

    def __init__(self, find: Callable[[], Awaitable[str | None]]) -> None:
        self._find = find
        self.found: str | None = None

    async def __call__(self) -> bool:
        self.found = await self._find()
        return self.found is not None


# --- Helpers ---------------------------------------------------------------------------------


def redact(text: str, secrets: Iterable[str | None]) -> str:
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text


def short(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds from a Retry-After header: delta-seconds or an HTTP date; None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


@dataclass(frozen=True)
class DeliveryRetry:
    """In-activity retries of one HTTP delivery (Temporal's RetryPolicy takes over after them); keep
    `budget` well under the notify activity's start-to-close timeout."""

    attempts: int = 3
    backoff: float = 0.5
    max_backoff: float = 8.0
    max_retry_after: float = 15.0
    budget: float = 20.0

    def backoff_for(self, attempt: int) -> float:
        """Exponential with equal jitter: attempt 1 → 0.25-0.5 s, 2 → 0.5-1 s, ..."""
        ceiling = min(self.max_backoff, self.backoff * 2.0 ** (attempt - 1))
        return ceiling / 2 + random.uniform(0, ceiling / 2)


class _RedactSecrets(logging.Filter):
    """httpx logs every request URL at INFO ("HTTP Request: POST https://..."); a webhook URL is a
    secret, so records from the httpx logger are scrubbed of every secret an adapter has used."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            message = record.getMessage()
            cleaned = redact(message, self.secrets)
            if cleaned != message:
                record.msg, record.args = cleaned, None
        return True


_REDACT = _RedactSecrets()
logging.getLogger("httpx").addFilter(_REDACT)


# --- The client ------------------------------------------------------------------------------


class HttpClient:
    """The one httpx.AsyncClient every adapter shares (created lazily, closed by `aclose`)."""

    def __init__(
        self,
        *,
        timeout: float = 10.0,
        connect_timeout: float = 5.0,
        retry: DeliveryRetry | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep | None = None,
        user_agent: str = "warroom",
    ) -> None:
        self._timeouts = (timeout, connect_timeout)
        self.retry = retry or DeliveryRetry()
        self._transport = transport
        self._sleep = sleep or asyncio.sleep
        self._user_agent = user_agent
        self._client: httpx.AsyncClient | None = None

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None or self._client.is_closed:
            import httpx

            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(self._timeouts[0], connect=self._timeouts[1]),
                transport=self._transport,
                follow_redirects=False,
                headers={"User-Agent": self._user_agent},
            )
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def request(
        self,
        service: str,
        label: str,
        method: str,
        url: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
        secrets: Iterable[str | None] = (),
        landed: Landed | None = None,
    ) -> httpx.Response:
        """Send with retries; return a 2xx/3xx response or raise a `ChannelError`.

        `label` names the endpoint in logs and errors ("chat.postMessage"); the URL never appears.
        `landed`: asked before re-sending a request whose answer was lost (it may have been taken);
        True raises `AlreadyDelivered` instead of sending it twice.
        """
        import httpx

        usable = [secret for secret in secrets if secret and len(secret) >= 4]
        _REDACT.secrets.update(usable)
        policy = self.retry
        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            error: ChannelError
            server_delay: float | None = None
            lost = False  # the request may have been taken: only its answer is missing
            try:
                response = await self.client.request(
                    method, url, json=json, params=params, headers=headers, content=content
                )
            except httpx.InvalidURL:
                raise ChannelConfigError(service, f"{label}: the configured URL is not valid") from None
            except httpx.TimeoutException as exc:
                error = ChannelUnavailable(service, f"{label}: timed out ({type(exc).__name__})")
                lost = not isinstance(exc, (httpx.ConnectTimeout, httpx.PoolTimeout))
            except httpx.HTTPError as exc:  # refused, reset, protocol error
                error = ChannelUnavailable(service, f"{label}: {type(exc).__name__}")
                lost = not isinstance(exc, httpx.ConnectError)  # a reset after sending may have been taken
            else:
                status = response.status_code
                if status < 400:
                    return response
                detail = short(redact(_safe_text(response), usable))
                if status == 429:
                    server_delay = parse_retry_after(response.headers.get("Retry-After"))
                    error = ChannelRateLimited(
                        service, f"{label}: HTTP 429 rate limited", status=status, retry_after=server_delay
                    )
                elif status >= 500:
                    lost = True
                    server_delay = parse_retry_after(response.headers.get("Retry-After"))
                    error = ChannelUnavailable(
                        service,
                        f"{label}: HTTP {status}{': ' + detail if detail else ''}",
                        status=status,
                        retry_after=server_delay,
                    )
                elif status in (401, 403):
                    raise ChannelAuthError(
                        service,
                        f"{label}: HTTP {status} — check the credentials and their scopes"
                        f"{': ' + detail if detail else ''}",
                        status=status,
                    )
                else:
                    raise ChannelRejected(
                        service, f"{label}: HTTP {status}{': ' + detail if detail else ''}", status=status
                    )

            delay = server_delay if server_delay is not None else policy.backoff_for(attempt)
            elapsed = time.monotonic() - started
            if attempt >= policy.attempts or delay > policy.max_retry_after or elapsed + delay > policy.budget:
                log.warning("%s giving up after %d attempt(s): %s", service, attempt, error)
                raise error
            log.info("%s %s attempt %d failed (%s); retrying in %.2fs", service, label, attempt, error, delay)
            await self._sleep(delay)
            if lost and landed is not None and await landed():
                log.info("%s %s: attempt %d had landed; not sent again", service, label, attempt)
                raise AlreadyDelivered(label)


def _safe_text(response: httpx.Response) -> str:
    try:
        return response.text
    except Exception:  # undecodable body: say nothing rather than fail here
        return ""
