"""Notification activities: render a template and hand the text to a Notifier.

This issue ships the local sink (an incident-channel log file per incident plus the console);
Slack, PagerDuty, Statuspage and e-mail adapters implement the same `Notifier` protocol.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import logging
import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from temporalio import activity
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from activities.delivery import BATCH_INDEX, delivery_key, is_retry
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

    def ledger_file(self, incident_id: str) -> Path:
        """`<incident>.delivered.jsonl`: one line per message this sink logged, with its delivery key."""
        return self.channel_file(incident_id).with_suffix(".delivered.jsonl")

    async def append(self, notification: Notification, text: str) -> str:
        """Log the message (the router's copy of what an adapter delivered, and the sink itself), once
        per delivery key: a notify activity retried after its worker died (delivered, completion lost)
        finds its key in the incident's ledger and logs nothing again. The key is the activity's
        identity (workflow, run, activity id), the same on every attempt on any worker sharing the
        data dir; outside an activity (tests, the CLI) there is none and every call logs."""
        path = self.channel_file(notification.incident_id, notification.channel)
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        who = ",".join(notification.audience) or "-"
        record = f"[{stamp}] [{notification.channel}] [{who}]\n{text}\n\n"
        key = delivery_key()
        entry: dict[str, object] | None = None
        if key is not None:
            context = notification.context
            entry = {
                "key": key,
                "id": notification.incident_id,
                "channel": notification.channel,
                "template": notification.template,
                "deadline_kind": context.get("deadline_kind"),
                "deadline_due_at": context.get("deadline_due_at"),
            }
        async with self._lock:
            logged = await asyncio.to_thread(
                _append_once, path, record, self.ledger_file(notification.incident_id), entry, is_retry()
            )
        if not logged:
            log.info(
                "%s %s: delivery %s already logged (a retried attempt)",
                notification.incident_id,
                notification.channel,
                key,
            )
            return str(path)
        if self.echo:
            log.info("%s %s → %s: %s", notification.incident_id, notification.channel, who, text.splitlines()[0])
        return str(path)


async def _running(workflow_id: str) -> bool:
    """Whether the workflow's latest run is running; an error asking counts as running (when in doubt, page)."""
    try:
        client = activity.client()
    except RuntimeError:  # no client (an activity environment without one): nothing to ask
        return True
    try:
        described = await client.get_workflow_handle(workflow_id).describe()
    except RPCError as err:
        return err.status != RPCStatusCode.NOT_FOUND
    return described.status == WorkflowExecutionStatus.RUNNING


def _append_once(path: Path, record: str, ledger: Path, entry: dict[str, object] | None, retry: bool) -> bool:
    """Append `record` unless the ledger holds `entry`'s key; False when it did. Only a retry reads the
    ledger (a first attempt cannot find its key there), so an incident's thousandth message costs what
    its first did. An exclusive lock on the ledger makes the check and both writes one step for every
    process sharing the directory (several workers on one volume). The record is written before its
    ledger line: a crash between the two can log a message twice, never lose one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if entry is None:
        with path.open("a", encoding="utf-8") as handle:
            handle.write(record)
        return True
    with ledger.open("a+", encoding="utf-8") as book:
        fcntl.flock(book, fcntl.LOCK_EX)
        if retry:
            book.seek(0)
            needle = '{"key": ' + json.dumps(entry["key"]) + ","
            if any(line.startswith(needle) for line in book):
                return False
        with path.open("a", encoding="utf-8") as handle:
            handle.write(record)
        book.write(json.dumps({**entry, "t": time.time()}) + "\n")
        book.flush()
    return True


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
            if batch.report_to is not None and not await _running(batch.report_to):
                log.warning("%s is no longer running: its phase's messages are not sent", batch.report_to)
                return BatchDelivered(outcomes=[], incident_closed=True)
            outcomes = []
            for index, notification in enumerate(batch.notifications):
                token = BATCH_INDEX.set(index)
                try:
                    outcomes.append(await self._try(notification))
                finally:
                    BATCH_INDEX.reset(token)
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
