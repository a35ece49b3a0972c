"""Notification activities: render a template and hand the text to a Notifier.

This issue ships the local sink (an incident-channel log file per incident plus the console);
Slack, PagerDuty, Statuspage and e-mail adapters implement the same `Notifier` protocol.
"""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from temporalio import activity
from temporalio.service import RPCError

from activities.tickets import LocalTickets
from warroom.contracts.errors import ActivityFailure, boundary
from warroom.contracts.notify import NOTIFY, NOTIFY_BATCH, BatchDelivered, NotifyBatch
from warroom.models import Delivery, Notification
from warroom.oncall.models import OncallResult
from warroom.policy.deadline_report import MessageOutcome, report_events
from warroom.telemetry import metrics as telemetry
from warroom.templates import render

if TYPE_CHECKING:  # activities.oncall reaches the channels package, which imports this module
    from activities.oncall import OncallResolver

log = logging.getLogger("warroom.notify")
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,100}$")


class TemplateError(ActivityFailure):
    """A template failed to render: a bug that will not fix itself on retry."""

    type = "TemplateError"


class Notifier(Protocol):
    """Delivers rendered text to one channel kind; returns where it went (for the timeline)."""

    async def deliver(self, notification: Notification, text: str) -> str: ...


class LocalSink:
    """Appends each message to `<root>/channels/<incident>.log` (status page: `<incident>.status.log`).

    The ticket channel is the exception: its messages open and update a local ticket
    (`LocalTickets`, `<root>/tickets/<incident>.md`), the ticket system of a worker with no other."""

    def __init__(self, root: Path, echo: bool = True) -> None:
        self.root = root
        self.echo = echo
        self.tickets = LocalTickets(root)
        self._lock = asyncio.Lock()

    def channel_file(self, incident_id: str, channel: str = "incident") -> Path:
        if not _SAFE_ID.fullmatch(incident_id):
            raise ValueError(f"unsafe incident id for a file name: {incident_id!r}")
        suffix = {"status_page": ".status.log", "ticket": ".ticket.log"}.get(channel, ".log")
        return self.root / "channels" / f"{incident_id}{suffix}"

    async def deliver(self, notification: Notification, text: str) -> str:
        if notification.channel == "ticket":
            return await self.tickets.deliver(notification, text)
        return await self.append(notification, text)

    async def append(self, notification: Notification, text: str) -> str:
        """Log the message (the router's copy of what an adapter delivered, and the sink itself)."""
        path = self.channel_file(notification.incident_id, notification.channel)
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        who = ",".join(notification.audience) or "-"
        record = f"[{stamp}] [{notification.channel}] [{who}]\n{text}\n\n"
        async with self._lock:
            await asyncio.to_thread(_append, path, record)
        if self.echo:
            log.info("%s %s → %s: %s", notification.incident_id, notification.channel, who, text.splitlines()[0])
        return str(path)


def _append(path: Path, record: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(record)


class NotifyActivities:
    """Activity holder so the worker can inject the notifier chosen by config, and its roster."""

    def __init__(
        self, notifier: Notifier, templates_dir: str | None = None, oncall: OncallResolver | None = None
    ) -> None:
        self.notifier = notifier
        self.templates_dir = templates_dir
        self.oncall = oncall

    @activity.defn(name=NOTIFY.name)
    async def notify(self, notification: Notification) -> Delivery:
        with boundary():
            return await self._deliver(notification)

    @activity.defn(name=NOTIFY_BATCH.name)
    async def notify_batch(self, batch: NotifyBatch) -> BatchDelivered:
        """Every message of the batch, each tried once, then the report signalled to the incident
        (`phase_events`, which ignores a report it already took: a retry after the signal is
        harmless). A message that may still go out on retry, or a signal that failed, leaves the
        report to the workflow: the activity never fails after delivering, so nothing is sent twice."""
        with boundary():
            outcomes = [await self._try(n) for n in batch.notifications]
            if batch.report_to is None or any(o.retryable for o in outcomes):
                return BatchDelivered(outcomes=outcomes)
            channels = [(n.channel, n.template) for n in batch.notifications]
            events = report_events(batch.reports, channels, outcomes)
            try:
                await activity.client().get_workflow_handle(batch.report_to).signal("phase_events", events)
            except RPCError as err:
                log.warning("report to %s not signalled (%s): the workflow reports it", batch.report_to, err)
                return BatchDelivered(outcomes=outcomes)
        return BatchDelivered(outcomes=outcomes, reported=True)

    async def _try(self, notification: Notification) -> MessageOutcome:
        """One delivery attempt; its failure is the outcome, not the activity's."""
        try:
            return MessageOutcome(delivery=await self._deliver(notification))
        except ActivityFailure as exc:
            return MessageOutcome(error=str(exc), retryable=exc.retryable)
        except Exception as exc:  # as Temporal would: an unexpected error is worth another attempt
            return MessageOutcome(error=str(exc), retryable=True)

    async def _deliver(self, notification: Notification) -> Delivery:
        resolved = await self._resolve(notification)
        if resolved is not None:
            notification = notification.model_copy(
                update={"audience": resolved.audience or notification.audience, "recipients": resolved.resolutions}
            )
        context = dict(notification.context)
        telemetry.record_notification(notification.channel, context, first_attempt=telemetry.first_attempt())
        context.setdefault("audience", _audience_text(notification, resolved))
        try:
            text = render(notification.template, context, self.templates_dir)
        except Exception as exc:  # a template bug will not fix itself on retry
            raise TemplateError(f"template {notification.template!r} failed: {exc}") from exc
        try:
            destination = await self.notifier.deliver(notification, text)
        except BaseException:
            telemetry.record_delivery(notification.channel, ok=False)
            raise
        telemetry.record_delivery(notification.channel, ok=True)
        return Delivery(
            channel=notification.channel,
            destination=destination,
            text=text,
            delivered_at=datetime.now(UTC),
            oncall=resolved,
        )

    async def _resolve(self, notification: Notification) -> OncallResult | None:
        """The people the roles name at `page_at`; None without a roster or for a message to nobody."""
        if notification.page_at is None or self.oncall is None or not notification.audience:
            return None
        service = notification.context.get("service")
        return await self.oncall.resolve(str(service or ""), notification.audience, notification.page_at)


def _audience_text(notification: Notification, resolved: OncallResult | None) -> str:
    """ "Alice Smith (on-call-engineer)" for people the roster named; role names as before."""
    if resolved is None or not resolved.resolutions:
        return ", ".join(notification.audience) or "everyone"
    parts = []
    for r in resolved.resolutions:
        if r.person is None:
            parts.append(r.role)
        elif r.instead_of:
            parts.append(f"{r.display_name or r.person} ({r.role}, for {r.instead_of}: nobody on call)")
        else:
            parts.append(f"{r.display_name or r.person} ({r.role})")
    return ", ".join(parts)
