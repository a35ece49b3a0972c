"""Status-page subscribers (e-mail with double opt-in, signed webhooks), kept in SQLite or PostgreSQL (#17).

SQLAlchemy Core over `<data_dir>/status/subscribers.db` (SQLite) by default, or the PostgreSQL
database of `WARROOM_DATABASE_URL` (psycopg 3). The intake writes subscriptions; the worker's
status page adapter reads the confirmed ones and records each send, so the addresses and webhook
secrets stay in this store: they never enter a workflow's history.

Links in mails carry tokens signed with `WARROOM_STATUS_SIGNING_KEY` (HMAC-SHA256): a confirm token
expires, an unsubscribe token does not (an old mail's link keeps working). Rate limits are per
address: one confirmation mail per `WARROOM_STATUS_CONFIRM_INTERVAL` minutes, at most
`WARROOM_STATUS_MAILS_PER_HOUR` updates an hour. No web framework here: activities import it.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import ipaddress
import json
import re
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self, TypeVar

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from warroom.validation import HttpUrl, no_control

if TYPE_CHECKING:
    import sqlalchemy as sa

_T = TypeVar("_T")
MAX_EMAIL = 254
MAX_URL = 2048
_EMAIL = re.compile(r"[^@\s<>()\[\],;:\"\\]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?\.[A-Za-z]{2,63}")


class SubscriberSettings(BaseSettings):
    """Subscriptions are off unless WARROOM_STATUS_SUBSCRIPTIONS=true; then a signing key and the
    public URL (the links in mails) are required, checked at start."""

    model_config = SettingsConfigDict(env_prefix="WARROOM_", extra="ignore")

    status_subscriptions: bool = Field(False, description="accept e-mail and webhook subscriptions")
    status_signing_key: SecretStr | None = Field(
        None, description="signs confirm and unsubscribe links (HMAC-SHA256); at least 32 characters"
    )
    status_public_url: HttpUrl | None = Field(
        None, description="the public base URL of /status (https://status.example.com), for links in mails"
    )
    database_url: SecretStr | None = Field(
        None, description="postgresql://user:password@host/db for subscribers; default SQLite in the data dir"
    )
    status_mails_per_hour: int = Field(10, ge=1, le=1000, description="update mails per address per hour at most")
    status_confirm_interval: int = Field(10, ge=0, le=1440, description="minutes between confirmation mails")
    status_confirm_valid: int = Field(48, ge=1, le=720, description="hours a confirmation link stays valid")
    status_webhook_private: bool = Field(
        False,
        description="deliver webhooks to private, loopback and link-local addresses too (off: anyone may "
        "subscribe a webhook, and it must not reach inside your network)",
    )

    @field_validator("database_url")
    @classmethod
    def _database(cls, value: SecretStr | None) -> SecretStr | None:
        # Checked without echoing it: the URL usually carries a password.
        if value is not None:
            url = value.get_secret_value()
            no_control(url)
            if not url.startswith(("postgresql://", "postgres://", "postgresql+psycopg://", "sqlite:///")):
                raise ValueError("must be a postgresql:// URL (psycopg 3) or sqlite:///<path>")
        return value

    @model_validator(mode="after")
    def _complete(self) -> SubscriberSettings:
        if self.status_subscriptions:
            key = self.status_signing_key.get_secret_value() if self.status_signing_key else ""
            if len(key) < 32:
                raise ValueError(
                    "WARROOM_STATUS_SUBSCRIPTIONS needs WARROOM_STATUS_SIGNING_KEY (at least 32 characters, "
                    "e.g. `openssl rand -hex 32`) to sign confirm and unsubscribe links"
                )
            if not self.status_public_url:
                raise ValueError(
                    "WARROOM_STATUS_SUBSCRIPTIONS needs WARROOM_STATUS_PUBLIC_URL (where readers open /status)"
                )
        return self

    def engine_url(self, data_dir: Path) -> str:
        if self.database_url is None:
            path = Path(data_dir) / "status" / "subscribers.db"
            path.parent.mkdir(parents=True, exist_ok=True)
            return f"sqlite:///{path}"
        url = self.database_url.get_secret_value()
        for prefix in ("postgresql://", "postgres://"):
            if url.startswith(prefix):
                return "postgresql+psycopg://" + url[len(prefix) :]
        return url

    def key(self) -> bytes:
        if self.status_signing_key is None:
            raise ValueError("WARROOM_STATUS_SIGNING_KEY is not set")
        return self.status_signing_key.get_secret_value().encode()

    def page_url(self) -> str:
        return f"{str(self.status_public_url).rstrip('/')}/status"

    def link(self, path: str, token: str) -> str:
        return f"{str(self.status_public_url).rstrip('/')}{path}?token={token}"


# --- Addresses --------------------------------------------------------------------------------


def email_address(value: str) -> str:
    """A plain address (local@domain.tld), lower-cased; refuses display names, lists and header tricks."""
    text = value.strip()
    if len(text) > MAX_EMAIL or not _EMAIL.fullmatch(text) or ".." in text:
        raise ValueError("not an e-mail address (local@example.com)")
    return text.lower()


def webhook_url(value: str, private: bool = False) -> str:
    """An http(s) URL of at most 2048 characters with a host, no credentials and no control characters;
    unless `private`, not a private, loopback or link-local address (names are checked again when
    resolved, at each delivery: `public_address`)."""
    text = value.strip()
    if len(text) > MAX_URL:
        raise ValueError(f"a URL of at most {MAX_URL} characters")
    no_control(text)
    match = re.fullmatch(r"(https?)://([^/?#@\s]+)([/?#][^\s]*)?", text, re.IGNORECASE)
    if not match:
        raise ValueError("must be an http:// or https:// URL with a host and no user:password@")
    import httpx  # here: the worker's router imports this module, and needs no httpx without HTTP adapters

    host = httpx.URL(text).host
    if not private and (host == "localhost" or host.endswith(".localhost") or not _public_literal(host)):
        raise ValueError("must be a public address: private, loopback and link-local hosts are refused")
    return text


def _public_literal(host: str) -> bool:
    """False for an IP literal that is not globally routable; True for a name (checked when resolved)."""
    try:
        return ipaddress.ip_address(host).is_global
    except ValueError:
        return True


async def resolve_webhook(url: str, *, private_allowed: bool) -> list[str]:
    """The addresses a webhook delivery connects to (in the resolver's order), resolved now.

    Unless `private_allowed`, every address the host resolves to must be globally routable (SSRF:
    a subscriber naming an internal service, or a name rebound to one since it subscribed); raises
    ValueError naming the host. The caller connects to the returned addresses itself, so a second
    lookup by the HTTP client cannot answer differently (DNS rebinding between check and use)."""
    import asyncio
    import socket

    import httpx

    parsed = httpx.URL(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    infos = await asyncio.get_running_loop().getaddrinfo(parsed.host, port, type=socket.SOCK_STREAM)
    addresses = list(dict.fromkeys(str(sockaddr[0]).split("%")[0] for *_, sockaddr in infos))
    if not addresses:
        raise ValueError(f"{parsed.host} does not resolve: not delivered")
    if not private_allowed and not all(ipaddress.ip_address(a).is_global for a in addresses):
        raise ValueError(f"{parsed.host} resolves to a private address: not delivered")
    return addresses


async def public_address(url: str) -> list[str]:
    """`resolve_webhook` with private addresses refused: the checked addresses to connect to."""
    return await resolve_webhook(url, private_allowed=False)


# --- Signed tokens ----------------------------------------------------------------------------


class BadToken(ValueError):
    """A link that was not signed with our key, was altered, is for something else, or has expired."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign_token(key: bytes, purpose: str, subscriber_id: str, expires: datetime | None = None) -> str:
    body: dict[str, Any] = {"p": purpose, "s": subscriber_id}
    if expires is not None:
        body["x"] = int(expires.timestamp())
    payload = _b64(json.dumps(body, separators=(",", ":"), sort_keys=True).encode())
    mac = hmac.new(key, payload.encode(), hashlib.sha256).digest()
    return f"{payload}.{_b64(mac)}"


def read_token(key: bytes, token: str, purpose: str, now: datetime) -> str:
    """The subscriber id a valid token names; `BadToken` otherwise."""
    payload, _, mac = token.partition(".")
    if not payload or not mac or len(token) > 512:
        raise BadToken("malformed link")
    expected = hmac.new(key, payload.encode(), hashlib.sha256).digest()
    try:
        given = _unb64(mac)
        body = json.loads(_unb64(payload))
    except ValueError:
        raise BadToken("malformed link") from None
    if not hmac.compare_digest(expected, given):
        raise BadToken("this link was not issued by this status page")
    if not isinstance(body, dict) or body.get("p") != purpose or not isinstance(body.get("s"), str):
        raise BadToken(f"not a {purpose} link")
    if "x" in body and now.timestamp() > body["x"]:
        raise BadToken("this link has expired: subscribe again for a new one")
    return str(body["s"])


# --- The store --------------------------------------------------------------------------------


class Kind(StrEnum):
    EMAIL = "email"
    WEBHOOK = "webhook"


class State(StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    UNSUBSCRIBED = "unsubscribed"


class Subscriber(BaseModel):
    id: str
    kind: Kind
    address: str = Field(description="the e-mail address or the webhook URL")
    state: State
    secret: SecretStr | None = Field(None, description="a webhook's HMAC key")
    created_at: datetime
    confirmed_at: datetime | None = None


class RateLimited(Exception):
    def __init__(self, retry_after: timedelta) -> None:
        super().__init__(f"try again in {max(1, int(retry_after.total_seconds()))} s")
        self.retry_after = retry_after


@functools.cache
def _tables() -> Any:
    """The schema, built on first use: SQLAlchemy loads only in the processes that open the store
    (the worker and the intake), not in every `warroom` command that reads the settings."""
    import sqlalchemy as sa

    meta = sa.MetaData()
    subscribers = sa.Table(
        "status_subscribers",
        meta,
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("address", sa.String(MAX_URL), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("secret", sa.String(64)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True)),
        sa.Column("confirm_sent_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("kind", "address", name="status_subscribers_kind_address"),
    )
    sends = sa.Table(
        "status_sends",
        meta,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("subscriber_id", sa.String(32), sa.ForeignKey("status_subscribers.id"), nullable=False, index=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("delivery", sa.String(64), nullable=False),
        sa.UniqueConstraint("subscriber_id", "delivery", name="status_sends_once"),
    )
    return meta, subscribers, sends


def _utc(value: datetime | None) -> datetime | None:
    """SQLite hands datetimes back naive; they were written in UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class SubscriberStore:
    """Synchronous (SQLAlchemy Core): callers in an event loop use `asyncio.to_thread`."""

    def __init__(self, engine: sa.Engine, clock: Callable[[], datetime] = _utcnow) -> None:
        import sqlalchemy

        self._sa = sqlalchemy
        meta, self.subscribers, self.sends = _tables()
        self.engine = engine
        self.clock = clock
        meta.create_all(engine, checkfirst=True)

    @classmethod
    def open(cls, settings: SubscriberSettings, data_dir: Path, clock: Callable[[], datetime] = _utcnow) -> Self:
        url = settings.engine_url(data_dir)
        options: dict[str, Any] = {"pool_pre_ping": True}
        if url.startswith("sqlite"):
            options = {"connect_args": {"timeout": 15}}  # the intake and the worker share the file
        import sqlalchemy as sa

        return cls(sa.create_engine(url, **options), clock)

    def close(self) -> None:
        self.engine.dispose()

    @staticmethod
    def _row(row: Any) -> Subscriber:
        return Subscriber(
            id=row.id,
            kind=Kind(row.kind),
            address=row.address,
            state=State(row.state),
            secret=SecretStr(row.secret) if row.secret else None,
            created_at=_utc(row.created_at),
            confirmed_at=_utc(row.confirmed_at),
        )

    def get(self, subscriber_id: str) -> Subscriber | None:
        with self.engine.connect() as conn:
            row = conn.execute(self._sa.select(self.subscribers).where(self.subscribers.c.id == subscriber_id)).first()
        return self._row(row) if row else None

    def _once_more_on_conflict(self, change: Callable[[], _T]) -> _T:
        """Two first subscriptions of one address at once: the loser of the unique key reads the winner's row."""
        try:
            return change()
        except self._sa.exc.IntegrityError:
            return change()

    def subscribe_email(self, address: str, confirm_interval: timedelta) -> tuple[Subscriber, bool]:
        """(the subscriber, whether to mail a confirmation). An address already confirmed gets no mail;
        a pending or unsubscribed one gets one at most every `confirm_interval` (`RateLimited`)."""
        return self._once_more_on_conflict(lambda: self._subscribe_email(address, confirm_interval))

    def _subscribe_email(self, address: str, confirm_interval: timedelta) -> tuple[Subscriber, bool]:
        now = self.clock()
        with self.engine.begin() as conn:
            row = conn.execute(
                self._sa.select(self.subscribers)
                .where(self.subscribers.c.kind == Kind.EMAIL.value, self.subscribers.c.address == address)
                .with_for_update()
            ).first()
            if row is None:
                new_id = secrets.token_hex(16)
                conn.execute(
                    self.subscribers.insert().values(
                        id=new_id,
                        kind=Kind.EMAIL.value,
                        address=address,
                        state=State.PENDING.value,
                        created_at=now,
                        confirm_sent_at=now,
                    )
                )
                row = conn.execute(self._sa.select(self.subscribers).where(self.subscribers.c.id == new_id)).one()
                return self._row(row), True
            if row.state == State.CONFIRMED.value:
                return self._row(row), False
            last = _utc(row.confirm_sent_at)
            if last is not None and now - last < confirm_interval:
                raise RateLimited(confirm_interval - (now - last))
            conn.execute(
                self.subscribers.update()
                .where(self.subscribers.c.id == row.id)
                .values(state=State.PENDING.value, confirm_sent_at=now)
            )
            row = conn.execute(self._sa.select(self.subscribers).where(self.subscribers.c.id == row.id)).one()
            return self._row(row), True

    def confirmation_failed(self, subscriber_id: str) -> None:
        """The confirmation mail did not go out: the address may ask again at once."""
        with self.engine.begin() as conn:
            conn.execute(
                self.subscribers.update().where(self.subscribers.c.id == subscriber_id).values(confirm_sent_at=None)
            )

    def add_webhook(self, url: str) -> Subscriber:
        """A webhook subscription, active at once, with a fresh secret (a URL subscribed again gets a new one)."""
        return self._once_more_on_conflict(lambda: self._add_webhook(url))

    def _add_webhook(self, url: str) -> Subscriber:
        now = self.clock()
        secret = secrets.token_hex(32)
        with self.engine.begin() as conn:
            row = conn.execute(
                self._sa.select(self.subscribers.c.id)
                .where(self.subscribers.c.kind == Kind.WEBHOOK.value, self.subscribers.c.address == url)
                .with_for_update()
            ).first()
            values = dict(state=State.CONFIRMED.value, secret=secret, confirmed_at=now)
            if row is None:
                sub_id = secrets.token_hex(16)
                conn.execute(
                    self.subscribers.insert().values(
                        id=sub_id, kind=Kind.WEBHOOK.value, address=url, created_at=now, **values
                    )
                )
            else:
                sub_id = row.id
                conn.execute(self.subscribers.update().where(self.subscribers.c.id == sub_id).values(**values))
            out = conn.execute(self._sa.select(self.subscribers).where(self.subscribers.c.id == sub_id)).one()
        return self._row(out)

    def _set_state(self, subscriber_id: str, state: State, allowed_from: tuple[State, ...]) -> Subscriber | None:
        now = self.clock()
        values: dict[str, Any] = {"state": state.value}
        if state == State.CONFIRMED:
            values["confirmed_at"] = now
        with self.engine.begin() as conn:
            conn.execute(
                self.subscribers.update()
                .where(
                    self.subscribers.c.id == subscriber_id,
                    self.subscribers.c.state.in_([s.value for s in allowed_from]),
                )
                .values(**values)
            )
        return self.get(subscriber_id)

    def confirm(self, subscriber_id: str) -> Subscriber | None:
        """Pending → confirmed (an unsubscribed address must subscribe again: its old confirm link is spent)."""
        return self._set_state(subscriber_id, State.CONFIRMED, (State.PENDING,))

    def unsubscribe(self, subscriber_id: str) -> Subscriber | None:
        return self._set_state(subscriber_id, State.UNSUBSCRIBED, (State.PENDING, State.CONFIRMED))

    def confirmed(self) -> list[Subscriber]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                self._sa.select(self.subscribers)
                .where(self.subscribers.c.state == State.CONFIRMED.value)
                .order_by(self.subscribers.c.id)
            ).all()
        return [self._row(r) for r in rows]

    def claim_send(self, subscriber_id: str, delivery: str, per_hour: int | None) -> str:
        """Record one send before it happens: "ok", "duplicate" (this delivery already went to this
        subscriber: a retried activity) or "limited" (`per_hour` sends in the last hour)."""
        now = self.clock()
        with self.engine.begin() as conn:
            conn.execute(
                self._sa.select(self.subscribers.c.id).where(self.subscribers.c.id == subscriber_id).with_for_update()
            )
            seen = conn.execute(
                self._sa.select(self.sends.c.id).where(
                    self.sends.c.subscriber_id == subscriber_id, self.sends.c.delivery == delivery
                )
            ).first()
            if seen:
                return "duplicate"
            if per_hour is not None:
                recent = conn.execute(
                    self._sa.select(self._sa.func.count())
                    .select_from(self.sends)
                    .where(self.sends.c.subscriber_id == subscriber_id, self.sends.c.at > now - timedelta(hours=1))
                ).scalar_one()
                if recent >= per_hour:
                    return "limited"
            conn.execute(self.sends.insert().values(subscriber_id=subscriber_id, delivery=delivery, at=now))
            return "ok"

    def forget_sends(self, older_than: timedelta = timedelta(days=2)) -> int:
        with self.engine.begin() as conn:
            result = conn.execute(self.sends.delete().where(self.sends.c.at < self.clock() - older_than))
        return int(result.rowcount or 0)
