"""The built-in status page with its subscribers: record the post, then tell every confirmed subscriber.

`SubscriberFanout` is the `Notifier` of the built-in page when WARROOM_STATUS_SUBSCRIPTIONS is on:
it records the post in the status store exactly as before, then reads the confirmed subscribers
from their store and delivers the public update (the same fields as /status.json):

    e-mail    one message per address through the configured SMTP, up to 100 over one connection,
              each with its own signed unsubscribe link and the List-Unsubscribe / List-Unsubscribe-Post headers (RFC 8058)
    webhook   a JSON POST signed like warroom's webhook: `X-Warroom-Timestamp: <unix s>` and
              `X-Warroom-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">` with the
              subscriber's own secret; 410 Gone unsubscribes it

Addresses and secrets are read here, inside the activity: the workflow's Notification does not
carry them and the delivery it gets back holds counts only. A failing subscriber never fails the
post: it is counted and logged (by subscriber id, never by address). Each send is claimed in the
store before it goes out, keyed by the activity (workflow, run, activity id), so a retried activity
does not mail anyone twice, and the per-address hourly limit is enforced there too.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
import uuid
from collections import Counter
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import TYPE_CHECKING, Any

from temporalio import activity

from activities.channels.email import SmtpMailer
from activities.channels.webhook import sign
from warroom.models import Notification
from warroom.statuspage.store import LABELS, PublicIncident, StatusStore
from warroom.statuspage.subscribers import (
    Kind,
    Subscriber,
    SubscriberSettings,
    SubscriberStore,
    resolve_webhook,
    sign_token,
)
from warroom.telemetry import metrics

if TYPE_CHECKING:  # httpx loads when first used: a worker with no HTTP integration never imports it
    import httpx

log = logging.getLogger("warroom.statuspage.subscribers")
ONE_CLICK = "List-Unsubscribe=One-Click"
MAILS_PER_CONNECTION = 100
"""Update mails sent over one SMTP connection (one TLS handshake, one login) before a new one."""


def public_update(incident: PublicIncident) -> dict[str, Any]:
    """What a webhook receives: the public fields of the page and the latest update, nothing internal."""
    latest = incident.updates[-1] if incident.updates else None
    return {
        "type": "status.update",
        "incident": {
            "id": incident.key,
            "title": incident.title,
            "status": incident.status.value,
            "message": incident.message,
            "started_at": incident.started_at.isoformat(),
            "updated_at": incident.updated_at.isoformat(),
            "resolved_at": incident.resolved_at.isoformat() if incident.resolved_at else None,
        },
        "update": {"at": latest.at.isoformat(), "status": latest.status.value, "text": latest.text} if latest else None,
    }


class SubscriberMail:
    """The two mails subscribers get: the confirmation (sent by the intake) and an update (by the worker)."""

    def __init__(self, mailer: SmtpMailer, settings: SubscriberSettings) -> None:
        self.mailer = mailer
        self.settings = settings

    def _message(self, to: str, subject: str, body: str) -> EmailMessage:
        msg = EmailMessage()
        msg["From"] = self.mailer.sender
        msg["To"] = to
        msg["Subject"] = subject
        msg["Date"] = formatdate(usegmt=True)
        domain = self.mailer.sender.rsplit("@", 1)[-1].strip(">") or None
        msg["Message-ID"] = make_msgid(domain=domain)
        msg["Auto-Submitted"] = "auto-generated"
        msg.set_content(body)
        return msg

    def unsubscribe_link(self, subscriber: Subscriber) -> str:
        return self.settings.link("/status/unsubscribe", sign_token(self.settings.key(), "unsubscribe", subscriber.id))

    def confirmation(self, subscriber: Subscriber, now: datetime) -> EmailMessage:
        expires = now + timedelta(hours=self.settings.status_confirm_valid)
        token = sign_token(self.settings.key(), "confirm", subscriber.id, expires)
        body = (
            f"Someone (hopefully you) asked to receive the status updates of {self.settings.page_url()} "
            "at this address.\n\n"
            f"Confirm the subscription:\n{self.settings.link('/status/confirm', token)}\n\n"
            f"The link is valid for {self.settings.status_confirm_valid} hours. "
            "If you did not ask for this, ignore this message: nothing will be sent.\n"
        )
        return self._message(subscriber.address, "Confirm your status page subscription", body)

    def update(self, subscriber: Subscriber, incident: PublicIncident) -> EmailMessage:
        link = self.unsubscribe_link(subscriber)
        page = self.settings.page_url()
        body = f"{incident.message}\n\n— {incident.label} · {page}\n\nUnsubscribe: {link}\n"
        msg = self._message(subscriber.address, f"[{LABELS[incident.status]}] {incident.title}", body)
        msg["List-Unsubscribe"] = f"<{link}>"
        msg["List-Unsubscribe-Post"] = ONE_CLICK
        msg["Precedence"] = "bulk"
        return msg

    async def send(self, msg: EmailMessage, to: str) -> None:
        refused = await self.mailer.send(msg, [to])
        if refused:
            raise RuntimeError(f"refused by the SMTP server ({sorted({code for code, _ in refused.values()})})")

    async def send_updates(self, subscribers: list[Subscriber], incident: PublicIncident) -> list[bool]:
        """One update mail per subscriber, MAILS_PER_CONNECTION to a connection; whether each was taken."""
        taken: list[bool] = []
        for start in range(0, len(subscribers), MAILS_PER_CONNECTION):
            chunk = subscribers[start : start + MAILS_PER_CONNECTION]
            outcomes = await self.mailer.send_many([(self.update(s, incident), [s.address]) for s in chunk])
            for sub, outcome in zip(chunk, outcomes, strict=True):
                if outcome:  # refused recipients, or the error that stopped it
                    log.warning("status page subscriber %s not reached: %s", sub.id, type(outcome).__name__)
                taken.append(not outcome)
        return taken


def delivery_key(incident: PublicIncident) -> str:
    """The same for every attempt of one activity (so a retry sends nothing twice), new otherwise."""
    try:
        info = activity.info()
        basis = f"{info.workflow_id}/{info.workflow_run_id}/{info.activity_id}/{incident.key}"
    except RuntimeError:  # outside an activity (tests, tools): every call is a new delivery
        basis = uuid.uuid4().hex
    return hashlib.sha256(basis.encode()).hexdigest()[:64]


class SubscriberFanout:
    """A `Notifier`: the built-in status page, then its subscribers (best effort, counted)."""

    def __init__(
        self,
        page: StatusStore,
        store: SubscriberStore,
        settings: SubscriberSettings,
        *,
        mail: SubscriberMail | None,
        http: httpx.AsyncClient | None = None,
        concurrency: int = 8,
        budget: float = 40.0,
    ) -> None:
        self.page = page
        self.store = store
        self.settings = settings
        self.mail = mail
        if http is None:
            import httpx

            http = httpx.AsyncClient(timeout=httpx.Timeout(8.0, connect=4.0), follow_redirects=False)
        self.http = http
        self.concurrency = concurrency
        self.budget = budget
        self.last: Counter[str] = Counter()

    async def deliver(self, notification: Notification, text: str) -> str:
        incident = await asyncio.to_thread(self.page.record, notification, text)
        counts = await self.fan_out(incident)
        self.last = counts
        metrics.record_subscriber_deliveries(counts)
        summary = ", ".join(f"{n} {what}" for what, n in sorted(counts.items())) or "none"
        return f"built-in status page: {incident.label} — {incident.title}; subscribers: {summary}"

    async def fan_out(self, incident: PublicIncident) -> Counter[str]:
        counts: Counter[str] = Counter()
        try:
            subscribers = await asyncio.to_thread(self.store.confirmed)
        except Exception:  # noqa: BLE001 - the post is recorded; the subscribers' store being down must not fail it
            log.exception("status page subscribers unavailable: no subscriber was told")
            counts["store unavailable"] += 1
            return counts
        key = delivery_key(incident)
        gate = asyncio.Semaphore(self.concurrency)

        to_mail: list[Subscriber] = []

        async def one(sub: Subscriber) -> None:
            async with gate:
                outcome = await self._one(sub, incident, key)
            if outcome == "claimed":
                to_mail.append(sub)
            else:
                counts[outcome] += 1

        async def everyone() -> None:
            await asyncio.gather(*(one(s) for s in subscribers))
            if to_mail and self.mail is not None:  # one connection per MAILS_PER_CONNECTION mails, not one each
                taken = await self.mail.send_updates(to_mail, incident)
                counts.update("sent" if ok else "failed" for ok in taken)

        tasks = [asyncio.create_task(everyone())] if subscribers else []
        if tasks:
            done, pending = await asyncio.wait(tasks, timeout=self.budget)
            for task in pending:
                task.cancel()
            if pending:
                missed = len(subscribers) - sum(counts.values())
                if missed:
                    counts["failed"] += missed
                log.warning("status page fan-out: %d subscriber(s) not reached within %.0f s", missed, self.budget)
            try:
                await asyncio.to_thread(self.store.forget_sends)  # a claim matters for an hour, or for a retry
            except Exception:  # noqa: BLE001 - housekeeping never fails the post
                log.warning("status page fan-out: old send records not pruned", exc_info=True)
        return counts

    async def _one(self, sub: Subscriber, incident: PublicIncident, key: str) -> str:
        if sub.kind == Kind.EMAIL and self.mail is None:
            return "skipped (no SMTP)"
        per_hour = self.settings.status_mails_per_hour if sub.kind == Kind.EMAIL else None
        try:
            claim = await asyncio.to_thread(self.store.claim_send, sub.id, key, per_hour)
            if claim == "limited":
                log.info("status page subscriber %s: hourly limit reached, update not mailed", sub.id)
                return "rate-limited"
            if claim == "duplicate":
                return "already sent"
            if sub.kind == Kind.EMAIL:
                return "claimed"  # mailed with the others over one connection (fan_out)
            await self._post(sub, incident, key)
            return "sent"
        except Exception as exc:  # noqa: BLE001 - one subscriber never fails the post
            log.warning("status page subscriber %s (%s) not reached: %s", sub.id, sub.kind, type(exc).__name__)
            return "failed"

    async def _post(self, sub: Subscriber, incident: PublicIncident, key: str) -> None:
        assert sub.secret is not None
        import httpx  # loaded when first used (a worker with no HTTP integration never imports it)

        # Resolved now (a name may point inside since it subscribed), and connected to as resolved.
        addresses = await resolve_webhook(sub.address, private_allowed=self.settings.status_webhook_private)
        url = httpx.URL(sub.address)
        extensions = {"sni_hostname": url.host} if url.scheme == "https" else {}  # TLS checks the name
        body = json.dumps(public_update(incident), ensure_ascii=False, separators=(",", ":")).encode()
        stamp = str(int(time.time()))
        headers = {
            "Host": url.netloc.decode("ascii"),
            "Content-Type": "application/json",
            "User-Agent": "warroom-status",
            "X-Warroom-Event": "status.update",
            "X-Warroom-Delivery": key,
            "X-Warroom-Timestamp": stamp,
            "X-Warroom-Signature": sign(sub.secret.get_secret_value(), stamp, body),
        }
        for n, address in enumerate(addresses, 1):  # each resolved address in turn, as a resolver-led client would
            try:
                pinned = url.copy_with(host=address)
                response = await self.http.post(pinned, content=body, headers=headers, extensions=extensions)
                break
            except httpx.ConnectError:
                if n == len(addresses):
                    raise
        if response.status_code == 410:
            await asyncio.to_thread(self.store.unsubscribe, sub.id)
            raise RuntimeError("410 Gone: unsubscribed")
        if not 200 <= response.status_code < 300:
            raise RuntimeError(f"HTTP {response.status_code}")

    async def aclose(self) -> None:
        await self.http.aclose()
        await asyncio.to_thread(self.store.close)
