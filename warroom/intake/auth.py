"""Who may post alerts: bearer or basic credentials per source, HMAC signatures, replay bounds.

Everything here runs before the body is parsed, and nothing here talks to Temporal: a request
that fails is answered 401 (no credentials), 403 (wrong ones, a bad or stale signature) and
changes nothing. Every secret comparison is constant-time (`hmac.compare_digest`) and compares
against every configured value, so timing says nothing about which one nearly matched.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections import OrderedDict
from collections.abc import Mapping
from datetime import UTC, datetime

from warroom.intake.settings import IntakeSettings

MAX_SIGNATURES = 8


class AuthFailed(Exception):
    """`status` is 401 (missing), or 403 (wrong, stale, not configured); `reason` labels the metric."""

    def __init__(self, status: int, reason: str, detail: str, challenge: str | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.reason = reason
        self.detail = detail
        self.challenge = challenge


def _any_equal(candidate: bytes, expected: list[bytes]) -> bool:
    matched = False
    for value in expected:
        matched |= hmac.compare_digest(candidate, value)
    return matched


def check_authorization(
    header: str | None, tokens: list[bytes], basic: tuple[bytes, bytes] | None, source: str
) -> None:
    """Bearer (any configured token) or Basic (the configured user and password)."""
    schemes = (["Bearer"] if tokens else []) + (["Basic"] if basic else [])
    challenge = ", ".join(f'{s} realm="warroom-intake"' for s in schemes)
    if not header:
        raise AuthFailed(401, "unauthenticated", f"{source}: credentials required ({' or '.join(schemes)})", challenge)
    scheme, _, credentials = header.strip().partition(" ")
    credentials = credentials.strip()
    raw = credentials.encode("utf-8", "surrogateescape")
    if scheme.lower() == "bearer" and tokens and _any_equal(raw, tokens):
        return
    if scheme.lower() == "basic" and basic is not None:
        try:
            user, sep, password = base64.b64decode(raw, validate=True).partition(b":")
        except (binascii.Error, ValueError):
            user, sep, password = b"", b"", b""
        user_ok = hmac.compare_digest(user, basic[0])
        password_ok = hmac.compare_digest(password, basic[1])
        if sep and user_ok and password_ok:
            return
    raise AuthFailed(403, "forbidden", f"{source}: credentials not accepted")


def _hex_signature(secret: bytes, message: bytes) -> bytes:
    return hmac.new(secret, message, hashlib.sha256).hexdigest().encode()


def verify_pagerduty(body: bytes, header: str | None, secrets: list[bytes]) -> None:
    """`X-PagerDuty-Signature: v1=<hex>[,v1=<hex>…]`: one per signing secret during a rotation;
    any one matching any configured secret is enough (PagerDuty's documented rule)."""
    if not header:
        raise AuthFailed(401, "unauthenticated", "pagerduty: X-PagerDuty-Signature header required")
    offered = [
        part.strip()[3:].lower().encode()
        for part in header.split(",")[:MAX_SIGNATURES]
        if part.strip().startswith("v1=")
    ]
    expected = [_hex_signature(secret, body) for secret in secrets]
    matched = False
    for signature in offered:
        matched |= _any_equal(signature, expected)
    if not matched:
        raise AuthFailed(403, "bad_signature", "pagerduty: signature does not match the body")


def verify_grafana(
    body: bytes, headers: Mapping[str, str], settings: IntakeSettings, now: float | None = None
) -> str | None:
    """Grafana's hex HMAC-SHA256 of "<unix seconds>:<body>" (of the body alone when no timestamp
    header is configured, which also means no replay window). Returns the signature as the
    replay key when the request is timestamped."""
    signature = headers.get(settings.grafana_signature_header)
    if not signature:
        raise AuthFailed(401, "unauthenticated", f"grafana: {settings.grafana_signature_header} header required")
    stamp = None
    message = body
    if settings.grafana_timestamp_header:
        stamp = (headers.get(settings.grafana_timestamp_header) or "").strip()
        if not stamp:
            raise AuthFailed(401, "unauthenticated", f"grafana: {settings.grafana_timestamp_header} header required")
        message = stamp.encode() + b":" + body
    offered = signature.strip().lower().encode()
    if not _any_equal(offered, [_hex_signature(secret, message) for secret in settings.signing_secrets("grafana")]):
        raise AuthFailed(403, "bad_signature", "grafana: signature does not match the body")
    if stamp is None:
        return None
    try:
        sent = int(stamp)
    except ValueError:
        raise AuthFailed(
            403, "stale", f"grafana: {settings.grafana_timestamp_header} is not a Unix timestamp"
        ) from None
    moment = datetime.fromtimestamp(sent, tz=UTC) if 0 < sent < 10**11 else None
    check_fresh(moment, settings.replay_window.total_seconds(), "grafana", now)
    return offered.decode()


def check_fresh(moment: datetime | None, window_seconds: float, source: str, now: float | None = None) -> None:
    """Refuse a signed timestamp outside ±window (a replay, or a badly skewed clock)."""
    now = time.time() if now is None else now
    if moment is None or abs(now - moment.timestamp()) > window_seconds:
        raise AuthFailed(403, "stale", f"{source}: timestamp outside the {window_seconds:.0f}s replay window")


def authenticate(source: str, body: bytes, headers: Mapping[str, str], settings: IntakeSettings) -> str | None:
    """Raise AuthFailed unless the request carries this source's credentials.

    Returns a replay key when the request is signed with a timestamp (Grafana), else None.
    """
    if not settings.configured(source):
        raise AuthFailed(
            403,
            "disabled",
            f"{source}: no credentials are configured for this source "
            f"(set WARROOM_INTAKE_{source.upper()}_TOKEN or see docs/intake.md)",
        )
    tokens, basic = settings.tokens(source), settings.basic(source)
    if tokens or basic:
        check_authorization(headers.get("authorization"), tokens, basic, source)
    secrets = settings.signing_secrets(source)
    if secrets and source == "pagerduty":
        verify_pagerduty(body, headers.get("x-pagerduty-signature"), secrets)
    elif secrets and source == "grafana":
        return verify_grafana(body, headers, settings)
    return None


class ReplayGuard:
    """Recently accepted signed deliveries (PagerDuty event ids, Grafana signatures).

    Only deliveries answered 2xx are remembered, so a sender's retry after a 503 still goes
    through; a copy of an accepted one within the window is answered 200 without a second record.
    Per process: several intake replicas each keep their own.
    """

    def __init__(self, ttl_seconds: float, max_entries: int = 100_000) -> None:
        self.ttl = ttl_seconds
        self.max_entries = max_entries
        self._seen: OrderedDict[str, float] = OrderedDict()

    def _prune(self, now: float) -> None:
        while self._seen and (next(iter(self._seen.values())) < now or len(self._seen) > self.max_entries):
            self._seen.popitem(last=False)

    def seen(self, key: str, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        self._prune(now)
        return key in self._seen

    def remember(self, key: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        self._seen.pop(key, None)
        self._seen[key] = now + self.ttl
        self._prune(now)
