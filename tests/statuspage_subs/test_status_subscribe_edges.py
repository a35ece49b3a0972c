"""The subscription routes' refusals (4xx with reasons, 429 with Retry-After, 503 without SMTP) on the
standalone status app, and the fan-out's guarantees without Temporal: a failing subscriber never
fails the post, the hourly limit holds, a retried activity mails nobody twice, 410 unsubscribes."""

from __future__ import annotations

import email
import email.policy
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from pydantic import SecretStr
from temporalio.testing import ActivityEnvironment

from activities.channels.email import SmtpMailer
from activities.channels.status_subscribers import SubscriberFanout, SubscriberMail
from tests.comms.fakes import SMTP_PASSWORD, SMTP_USER, Mailbox, free_port
from tests.statuspage_subs.subs_support import SIGNING_KEY, mails_to, smtp_env, subscriber_settings, webhook_receiver
from warroom.models import Notification
from warroom.statuspage.page import create_status_app
from warroom.statuspage.store import StatusStore
from warroom.statuspage.subscribers import State, SubscriberStore, resolve_webhook, sign_token
from warroom.telemetry.metrics import REGISTRY


@pytest_asyncio.fixture
async def status(
    tmp_path: Path, smtp_server: Mailbox, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[httpx.AsyncClient]:
    smtp_env(monkeypatch, smtp_server)
    app = create_status_app(tmp_path, subscriber_settings("http://status.test"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://status.test") as client:
        yield client


@pytest.mark.parametrize(
    ("body", "kind", "code", "reason"),
    [
        (b"email=a@example.com", "text/plain", 415, "application/json"),
        (b'{"email": "not-an-address"}', "application/json", 422, "email: not an e-mail"),
        (b'{"email": "a@example.com\\r\\nBcc: all@example.com"}', "application/json", 422, "email"),
        (b"{}", "application/json", 422, "email"),
        (b'["a@example.com"]', "application/json", 400, "JSON object"),
        (b'{"email": ', "application/json", 400, "does not parse"),
        (b"x" * 5000, "application/json", 413, "4096"),
    ],
)
async def test_bad_subscriptions_are_4xx_with_a_reason(
    status: httpx.AsyncClient, body: bytes, kind: str, code: int, reason: str
) -> None:
    answer = await status.post("/status/subscribe", content=body, headers={"Content-Type": kind})
    assert answer.status_code == code and reason in answer.json()["detail"], answer.text


async def test_bad_links_and_webhooks_are_4xx(status: httpx.AsyncClient) -> None:
    assert (await status.get("/status/confirm")).status_code == 400
    assert (await status.get("/status/confirm?token=abc.def")).status_code == 400
    forged = sign_token(b"not-our-key-at-all-not-our-key-at-all", "confirm", "x")
    page = await status.get(f"/status/confirm?token={forged}")
    assert page.status_code == 400 and "not issued by this status page" in page.text
    unsub_as_confirm = sign_token(SIGNING_KEY.encode(), "unsubscribe", "x")
    assert (await status.get(f"/status/confirm?token={unsub_as_confirm}")).status_code == 400
    assert (await status.post("/status/unsubscribe?token=nope")).status_code == 400
    unknown = sign_token(SIGNING_KEY.encode(), "unsubscribe", "no-such-subscriber")
    assert (await status.post(f"/status/unsubscribe?token={unknown}")).status_code == 404
    for url in ("ftp://example.com/x", "https://user:pw@example.com/", "", "https://" + "a" * 3000):
        answer = await status.post("/status/webhooks", json={"url": url})
        assert answer.status_code in (413, 422) and answer.json()["detail"], url


async def test_a_second_confirmation_within_the_interval_is_429_with_retry_after(
    status: httpx.AsyncClient, smtp_server: Mailbox
) -> None:
    before = len(smtp_server.received)
    first = await status.post("/status/subscribe", data={"email": "twice@example.com"})
    assert first.status_code == 202 and "Check your inbox" in first.text, "a form gets a page"
    second = await status.post("/status/subscribe", json={"email": "TWICE@example.com"})
    assert second.status_code == 429 and 0 < int(second.headers["retry-after"]) <= 600
    assert len(mails_to(smtp_server, "twice@example.com", before)) == 1, "one mail, not two"


async def test_without_smtp_email_is_503_and_webhooks_still_work(tmp_path: Path) -> None:
    app = create_status_app(tmp_path, subscriber_settings("http://status.test"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://status.test") as client:
        answer = await client.post("/status/subscribe", json={"email": "a@example.com"})
        assert answer.status_code == 503 and "SMTP" in answer.json()["detail"]
        assert (await client.post("/status/webhooks", json={"url": "https://hooks.example.com/x"})).status_code == 201


async def test_off_by_default_the_routes_and_the_form_do_not_exist(tmp_path: Path) -> None:
    app = create_status_app(tmp_path)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://status.test") as client:
        assert (await client.post("/status/subscribe", json={"email": "a@example.com"})).status_code == 404
        page = await client.get("/status")
    assert "<form" not in page.text and "form-action 'none'" in page.headers["content-security-policy"]


async def test_the_page_offers_the_form_when_subscriptions_are_on(status: httpx.AsyncClient) -> None:
    page = await status.get("/status")
    assert '<form method="post" action="status/subscribe">' in page.text and 'name="email"' in page.text
    assert "form-action 'self'" in page.headers["content-security-policy"]
    assert "script-src" not in page.headers["content-security-policy"]


# --- The fan-out, without Temporal --------------------------------------------------------------


def note() -> Notification:
    return Notification(
        incident_id="order-api-20261128-140700",
        channel="status_page",
        template="status_update",  # type: ignore[arg-type]
        audience=["status-page"],
        context={"public_status": "identified", "commander": "alice"},
    )


def fanout(tmp_path: Path, box: Mailbox, *, smtp_port: int | None = None, **settings: object) -> SubscriberFanout:
    subs = subscriber_settings("http://status.test", **settings)
    smtp = SmtpMailer(
        box.host,
        smtp_port or box.port,
        sender="status@acme.test",
        username=SMTP_USER,
        password=SecretStr(SMTP_PASSWORD),
        ca_file=box.ca_file,
        timeout=5,
    )
    return SubscriberFanout(
        StatusStore(tmp_path), SubscriberStore.open(subs, tmp_path), subs, mail=SubscriberMail(smtp, subs)
    )


def confirmed(store: SubscriberStore, address: str) -> str:
    sub, _ = store.subscribe_email(address, timedelta(minutes=10))
    store.confirm(sub.id)
    return sub.id


async def test_failing_subscribers_never_fail_the_post(tmp_path: Path, smtp_server: Mailbox) -> None:
    out = fanout(tmp_path, smtp_server, smtp_port=free_port())  # nothing listens there: every mail fails
    confirmed(out.store, "one@example.com")
    with webhook_receiver(status=500) as broken, webhook_receiver() as fine:
        out.store.add_webhook(broken.url)
        out.store.add_webhook(fine.url)
        where = await out.deliver(note(), "IDENTIFIED: Checkout delays\nA fix is rolling out.")
    assert where.endswith("subscribers: 2 failed, 1 sent"), where
    assert REGISTRY.get_sample_value("warroom_status_subscriber_deliveries_total", {"outcome": "failed"})
    assert len(broken.got) == 1 and len(fine.got) == 1
    assert out.page.snapshot().current[0].status == "identified", "the post itself is recorded"
    assert "one@example.com" not in where and broken.url not in where
    await out.aclose()


async def test_a_webhook_stored_with_a_private_address_is_not_posted_to(tmp_path: Path, smtp_server: Mailbox) -> None:
    """Deliveries resolve the host again: a webhook whose name now points inside is refused, counted."""
    out = fanout(tmp_path, smtp_server, status_webhook_private=False)
    with webhook_receiver() as inside:
        out.store.add_webhook(inside.url)  # 127.0.0.1: what a name rebound to an internal address reaches
        where = await out.deliver(note(), "IDENTIFIED: Checkout delays\nA fix is rolling out.")
    assert where.endswith("subscribers: 1 failed"), where
    assert inside.got == []
    await out.aclose()


async def test_a_webhook_is_posted_to_the_address_it_was_checked_at_under_its_own_name(
    tmp_path: Path, smtp_server: Mailbox
) -> None:
    """The delivery connects to the address it resolved and checked (no second lookup a rebinding
    name could answer differently) and still names the host it was given, in Host."""
    out = fanout(tmp_path, smtp_server, status_webhook_private=True)
    with webhook_receiver() as hook:
        named = hook.url.replace("127.0.0.1", "localhost")  # may resolve to ::1 first: tried in turn
        out.store.add_webhook(named)
        where = await out.deliver(note(), "IDENTIFIED: Checkout delays")
    assert where.endswith("subscribers: 1 sent"), where
    assert hook.got[0][0]["host"] == httpx.URL(named).netloc.decode()
    assert await resolve_webhook(named, private_allowed=True) and "127.0.0.1" in await resolve_webhook(
        named, private_allowed=True
    )
    await out.aclose()


async def test_the_hourly_limit_and_a_retry_send_nothing_more(tmp_path: Path, smtp_server: Mailbox) -> None:
    out = fanout(tmp_path, smtp_server, status_mails_per_hour=2)
    confirmed(out.store, "limited@example.com")
    before = len(smtp_server.received)
    sent = [await out.deliver(note(), f"IDENTIFIED: Checkout delays\nupdate {i}") for i in range(3)]
    assert [s.rsplit(": ", 1)[1] for s in sent] == ["1 sent", "1 sent", "1 rate-limited"]
    assert len(mails_to(smtp_server, "limited@example.com", before)) == 2

    # The same activity retried (same workflow, run and activity id): its delivery key repeats.
    env = ActivityEnvironment()
    other = fanout(tmp_path / "retry", smtp_server)
    confirmed(other.store, "retry@example.com")
    first = await env.run(other.deliver, note(), "IDENTIFIED: Checkout delays\nonce")
    again = await env.run(other.deliver, note(), "IDENTIFIED: Checkout delays\nonce")
    assert first.endswith("1 sent") and again.endswith("1 already sent")
    assert len(mails_to(smtp_server, "retry@example.com", before)) == 1
    await out.aclose()
    await other.aclose()


async def test_a_fan_out_mails_everyone_over_one_connection(tmp_path: Path, smtp_server: Mailbox) -> None:
    """One TLS handshake and one login for the whole fan-out, not one per subscriber; a refused
    address fails alone."""
    out = fanout(tmp_path, smtp_server)
    addresses = [f"reader{i}@example.com" for i in range(25)]
    for address in addresses:
        confirmed(out.store, address)
    received, logins = len(smtp_server.received), len(smtp_server.logins)
    sent_before = REGISTRY.get_sample_value("warroom_status_subscriber_deliveries_total", {"outcome": "sent"})
    where = await out.deliver(note(), "IDENTIFIED: Checkout delays\nA fix is rolling out.")
    assert where.endswith("subscribers: 25 sent"), where
    sent = REGISTRY.get_sample_value("warroom_status_subscriber_deliveries_total", {"outcome": "sent"})
    assert sent is not None and sent_before is not None and sent - sent_before == 25
    assert len(smtp_server.logins) - logins == 1, "one login: one connection"
    got = smtp_server.received[received:]
    assert sorted(m["rcpt_tos"][0] for m in got) == sorted(addresses)
    assert all(m["tls"] for m in got)
    # Each mail still carries its own subscriber's unsubscribe link.
    links = {email.message_from_string(m["data"], policy=email.policy.default)["List-Unsubscribe"] for m in got}
    assert len(links) == 25
    await out.aclose()


async def test_a_webhook_answering_410_is_unsubscribed(tmp_path: Path, smtp_server: Mailbox) -> None:
    out = fanout(tmp_path, smtp_server)
    with webhook_receiver(status=410) as gone:
        hook = out.store.add_webhook(gone.url)
        await out.deliver(note(), "IDENTIFIED: Checkout delays")
    assert out.store.get(hook.id).state == State.UNSUBSCRIBED  # type: ignore[union-attr]
    await out.aclose()


async def test_one_click_unsubscribe_accepts_multipart_as_rfc_8058_allows(tmp_path: Path) -> None:
    app = create_status_app(tmp_path, subscriber_settings("http://status.test"))
    store: SubscriberStore = app.state.subscribers
    sub_id = confirmed(store, "multipart@example.com")
    link = f"/status/unsubscribe?token={sign_token(SIGNING_KEY.encode(), 'unsubscribe', sub_id)}"
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://status.test") as client:
        gone = await client.post(link, files={"List-Unsubscribe": (None, "One-Click")})
    assert gone.status_code == 200 and store.get(sub_id).state == State.UNSUBSCRIBED  # type: ignore[union-attr]


async def test_a_body_that_trickles_in_is_408(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    from warroom.intake.server import running

    monkeypatch.setattr("warroom.statuspage.subscribe.BODY_SECONDS", 0.5)
    app = create_status_app(tmp_path, subscriber_settings("http://status.test"))
    async with running(app) as url:
        host, port = url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(
            b"POST /status/webhooks HTTP/1.1\r\nHost: status.test\r\nContent-Type: application/json\r\n"
            b'Content-Length: 60\r\n\r\n{"url": "https://'
        )
        await writer.drain()
        head = await asyncio.wait_for(reader.readline(), 10)
        writer.close()
    assert head.startswith(b"HTTP/1.1 408"), head
