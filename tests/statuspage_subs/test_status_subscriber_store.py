"""The subscriber store on SQLite and on a real PostgreSQL: double opt-in states, the per-address
rate limits, sends claimed once, webhook secrets; signed links; settings refused at start."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from tests.ansible.support import Postgres
from tests.helpers import utc
from tests.statuspage_subs.subs_support import SIGNING_KEY, postgres_url, subscriber_settings
from warroom.statuspage.subscribers import (
    BadToken,
    RateLimited,
    State,
    SubscriberSettings,
    SubscriberStore,
    email_address,
    public_address,
    read_token,
    sign_token,
    webhook_url,
)

T0 = utc(2026, 11, 28, 14, 7)
KEY = SIGNING_KEY.encode()


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.system("postgresql"))])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[SubscriberStore, Clock]]:
    clock = Clock()
    if request.param == "sqlite":
        settings = subscriber_settings()
    else:
        pg: Postgres = request.getfixturevalue("postgres")
        settings = subscriber_settings(database_url=postgres_url(pg))
    opened = SubscriberStore.open(settings, tmp_path, clock)
    assert opened.engine.dialect.name == request.param
    try:
        yield opened, clock
    finally:
        opened.close()


def test_sqlite_is_the_default_in_the_data_dir(tmp_path: Path) -> None:
    store = SubscriberStore.open(subscriber_settings(), tmp_path)
    store.subscribe_email("a@example.com", timedelta(minutes=10))
    assert (tmp_path / "status" / "subscribers.db").is_file()
    store.close()


def test_double_opt_in_then_unsubscribe(store: tuple[SubscriberStore, Clock]) -> None:
    subs, clock = store
    sub, mail = subs.subscribe_email("reader@example.com", timedelta(minutes=10))
    assert mail and sub.state == State.PENDING and subs.confirmed() == []

    assert subs.confirm(sub.id).state == State.CONFIRMED  # type: ignore[union-attr]
    assert [s.address for s in subs.confirmed()] == ["reader@example.com"]
    again, mail = subs.subscribe_email("reader@example.com", timedelta(minutes=10))
    assert again.id == sub.id and not mail, "a confirmed address gets no second confirmation mail"

    assert subs.unsubscribe(sub.id).state == State.UNSUBSCRIBED  # type: ignore[union-attr]
    assert subs.confirmed() == []
    assert subs.confirm(sub.id).state == State.UNSUBSCRIBED, "an old confirm link does not resubscribe"  # type: ignore[union-attr]
    clock.now += timedelta(minutes=11)
    back, mail = subs.subscribe_email("reader@example.com", timedelta(minutes=10))
    assert mail and back.state == State.PENDING, "subscribing again starts a new opt-in"
    assert subs.get("no-such-id") is None and subs.confirm("no-such-id") is None


def test_one_confirmation_mail_per_address_per_interval(store: tuple[SubscriberStore, Clock]) -> None:
    subs, clock = store
    sub, _ = subs.subscribe_email("flood@example.com", timedelta(minutes=10))
    clock.now += timedelta(minutes=4)
    with pytest.raises(RateLimited) as limited:
        subs.subscribe_email("flood@example.com", timedelta(minutes=10))
    assert limited.value.retry_after == timedelta(minutes=6)
    subs.subscribe_email("other@example.com", timedelta(minutes=10))  # per address, not global

    subs.confirmation_failed(sub.id)  # the mail did not go out: the reader may ask again at once
    assert subs.subscribe_email("flood@example.com", timedelta(minutes=10))[1]
    clock.now += timedelta(minutes=10)
    assert subs.subscribe_email("flood@example.com", timedelta(minutes=10))[1]


def test_sends_are_claimed_once_and_limited_per_hour(store: tuple[SubscriberStore, Clock]) -> None:
    subs, clock = store
    sub, _ = subs.subscribe_email("busy@example.com", timedelta(minutes=10))
    other, _ = subs.subscribe_email("calm@example.com", timedelta(minutes=10))
    assert subs.claim_send(sub.id, "d1", per_hour=3) == "ok"
    assert subs.claim_send(sub.id, "d1", per_hour=3) == "duplicate", "a retried activity sends nothing twice"
    clock.now += timedelta(minutes=1)
    assert [subs.claim_send(sub.id, f"d{i}", per_hour=3) for i in (2, 3, 4)] == ["ok", "ok", "limited"]
    assert subs.claim_send(other.id, "d4", per_hour=3) == "ok", "the limit is per address"
    clock.now += timedelta(minutes=60)
    assert subs.claim_send(sub.id, "d5", per_hour=3) == "ok", "the hour slides"
    clock.now += timedelta(days=3)
    assert subs.forget_sends() == 5


def test_webhooks_get_their_own_secret_renewed_on_resubscribe(store: tuple[SubscriberStore, Clock]) -> None:
    subs, _ = store
    hook = subs.add_webhook("https://hooks.example.com/status")
    assert hook.state == State.CONFIRMED and hook.secret is not None and len(hook.secret.get_secret_value()) == 64
    again = subs.add_webhook("https://hooks.example.com/status")
    assert again.id == hook.id and again.secret != hook.secret
    assert "https://hooks.example.com/status" not in repr(again.secret)
    assert [s.id for s in subs.confirmed()] == [hook.id]


def test_tokens_are_signed_scoped_and_expire() -> None:
    token = sign_token(KEY, "confirm", "abc", expires=T0 + timedelta(hours=48))
    assert read_token(KEY, token, "confirm", T0) == "abc"
    with pytest.raises(BadToken, match="expired"):
        read_token(KEY, token, "confirm", T0 + timedelta(hours=49))
    with pytest.raises(BadToken, match="not a unsubscribe link"):
        read_token(KEY, token, "unsubscribe", T0)
    with pytest.raises(BadToken, match="not issued"):
        read_token(b"another-key-" * 3, token, "confirm", T0)
    payload, mac = token.split(".")
    forged = sign_token(b"attacker", "confirm", "victim").split(".")[0] + "." + mac
    with pytest.raises(BadToken, match="not issued"):
        read_token(KEY, forged, "confirm", T0)
    for broken in ("", "x", "a.b.c", payload + ".", "." + mac, "é" * 600):
        with pytest.raises(BadToken):
            read_token(KEY, broken, "confirm", T0)
    unsub = sign_token(KEY, "unsubscribe", "abc")
    assert read_token(KEY, unsub, "unsubscribe", T0 + timedelta(days=3650)) == "abc", "never expires"


@pytest.mark.parametrize(
    "value",
    [
        "",
        "plain",
        "a@b",
        "a b@example.com",
        "A <a@example.com>",
        "a@example.com\r\nBcc: x@example.com",
        "a@example.com,b@example.com",
        "a..b@example.com",
        "x" * 250 + "@example.com",
    ],
)
def test_addresses_that_are_refused(value: str) -> None:
    with pytest.raises(ValueError):
        email_address(value)


@pytest.mark.parametrize(
    "value",
    [
        "ftp://example.com/x",
        "javascript:alert(1)",
        "https://",
        "https://user:pw@example.com/x",
        "https://example.com/\nx",
        "http://example.com/" + "a" * 2048,
        "//example.com/x",
    ],
)
def test_webhook_urls_that_are_refused(value: str) -> None:
    with pytest.raises(ValueError):
        webhook_url(value)


@pytest.mark.parametrize(
    "value",
    [
        "http://127.0.0.1:8080/hook",
        "http://10.0.0.7/hook",
        "http://169.254.169.254/latest/meta-data/",  # a cloud's metadata service
        "http://[::1]/hook",
        "http://localhost/hook",
        "https://admin.localhost/hook",
    ],
)
def test_webhooks_to_private_addresses_are_refused_unless_allowed(value: str) -> None:
    with pytest.raises(ValueError, match="public address"):
        webhook_url(value)
    assert webhook_url(value, private=True) == value


async def test_a_name_resolving_to_a_private_address_is_not_delivered_to() -> None:
    with pytest.raises(ValueError, match="localhost resolves to a private address"):
        await public_address("http://localhost:8080/hook")
    await public_address("http://93.184.215.14/hook")  # a global literal resolves to itself


def test_addresses_and_urls_that_pass() -> None:
    assert email_address(" Reader.Name+status@Example.COM ") == "reader.name+status@example.com"
    assert webhook_url("https://hooks.example.com:8443/a?b=c") == "https://hooks.example.com:8443/a?b=c"


def test_settings_refuse_subscriptions_without_a_key_or_a_public_url() -> None:
    assert not SubscriberSettings().status_subscriptions, "off by default"
    with pytest.raises(ValidationError, match="WARROOM_STATUS_SIGNING_KEY"):
        SubscriberSettings(status_subscriptions=True, status_public_url="https://status.example.com")
    with pytest.raises(ValidationError, match="WARROOM_STATUS_SIGNING_KEY"):
        SubscriberSettings(
            status_subscriptions=True, status_public_url="https://s.example.com", status_signing_key=SecretStr("short")
        )
    with pytest.raises(ValidationError, match="WARROOM_STATUS_PUBLIC_URL"):
        SubscriberSettings(status_subscriptions=True, status_signing_key=SecretStr(SIGNING_KEY))
    with pytest.raises(ValidationError, match="postgresql://") as refused:
        SubscriberSettings(database_url=SecretStr("mysql://root:hunter22@db/x"))
    assert "hunter22" not in str(refused.value), "the URL (and its password) is never echoed"


def test_the_worker_and_the_intake_refuse_it_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    from activities.channels.settings import ChannelSettings
    from warroom.settings import Settings

    monkeypatch.setenv("WARROOM_STATUS_SUBSCRIPTIONS", "true")
    monkeypatch.setenv("WARROOM_STATUS_PUBLIC_URL", "https://status.example.com")
    for settings in (ChannelSettings, Settings):
        with pytest.raises(ValidationError, match="WARROOM_STATUS_SIGNING_KEY"):
            settings()
    monkeypatch.setenv("WARROOM_STATUS_SIGNING_KEY", SIGNING_KEY)
    monkeypatch.setenv("WARROOM_DATABASE_URL", "postgresql://warroom:pw@db.internal/warroom")
    assert Settings().subscribers.engine_url(Path(".")) == "postgresql+psycopg://warroom:pw@db.internal/warroom"
    assert ChannelSettings().subscribers.status_subscriptions


def test_concurrent_first_subscriptions_of_one_address_make_one_subscriber(
    store: tuple[SubscriberStore, Clock],
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    subs, _ = store
    with ThreadPoolExecutor(max_workers=8) as pool:
        mails = list(pool.map(lambda _: subs.subscribe_email("race@example.com", timedelta(0)), range(16)))
        hooks = list(pool.map(lambda _: subs.add_webhook("https://hooks.example.com/race"), range(16)))
    assert len({sub.id for sub, _ in mails}) == 1 and len({h.id for h in hooks}) == 1
