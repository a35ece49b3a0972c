"""What every ticket adapter shares, and the default ticket system: a file under the data dir.

One ticket per incident, whatever retries: each adapter keeps a record of the ticket it opened
(`<data>/tickets/<incident>.json`), and before it opens one it looks in that record and then in
the ticket system itself, by a label that names the incident (`dedup_label`). A timeline comment
is likewise added once: the record says so, and the system's comments are searched for
`timeline_marker`. The text of a ticket message is a rendered template whose first line is the
title and whose rest is the body.

`LocalTickets` is what a worker with no Jira or GitHub configured uses: the ticket is
`<data>/tickets/<incident>.md`, its description first, the timeline appended at resolution.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from warroom.contracts.ticket import TIMELINE, TicketRef, TicketSystem
from warroom.models import Notification

_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
TITLE_MAX = 255  # Jira's summary limit; GitHub allows longer titles
LABEL_MAX = 50  # GitHub's label name limit; Jira's is 255


def action(notification: Notification) -> Literal["open", "timeline"]:
    return "timeline" if notification.template == TIMELINE else "open"


def title_and_body(text: str, fallback: str) -> tuple[str, str]:
    """The first non-empty line is the title (one line, at most TITLE_MAX), the rest the body."""
    lines = text.strip().splitlines()
    title = " ".join(lines[0].split()) if lines else ""
    if len(title) > TITLE_MAX:
        title = title[: TITLE_MAX - 1] + "…"
    return title or fallback, "\n".join(lines[1:]).strip()


def dedup_label(incident_id: str) -> str:
    """The label that finds an incident's ticket: `incident-<id>`, hashed if it would be too long."""
    label = f"incident-{incident_id}"
    if len(label) <= LABEL_MAX:
        return label
    return f"incident-{hashlib.sha256(incident_id.encode()).hexdigest()[:24]}"


def timeline_marker(incident_id: str) -> str:
    """The line that opens every timeline comment: seeing it means the timeline is already there."""
    return f"Timeline recorded by warroom for incident {incident_id}"


def fallback_title(notification: Notification) -> str:
    """A title from the incident's facts, for a ticket opened without its opening message."""
    ctx = notification.context
    title = f"[{ctx.get('severity') or 'incident'}] {ctx.get('service') or notification.incident_id}"
    summary = ctx.get("summary")
    title = f"{title}: {summary}" if summary and not ctx.get("restricted") else title
    return title if len(title) <= TITLE_MAX else title[: TITLE_MAX - 1] + "…"


class TicketRecord(BaseModel):
    model_config = ConfigDict(extra="ignore")

    system: TicketSystem
    key: str
    url: str
    timeline_added: bool = False

    def ref(self) -> TicketRef:
        return TicketRef(system=self.system, key=self.key, url=self.url)


class TicketRecords:
    """`<data>/tickets/<incident>.json`: the ticket an adapter opened, so a retry finds it at once."""

    def __init__(self, root: Path) -> None:
        self.folder = root / "tickets"

    def path(self, incident_id: str, suffix: str = ".json") -> Path:
        if not _SAFE_ID.fullmatch(incident_id):
            raise ValueError(f"unsafe incident id for a file name: {incident_id!r}")
        return self.folder / f"{incident_id}{suffix}"

    def load(self, incident_id: str, system: TicketSystem) -> TicketRecord | None:
        """The record of this system's ticket for the incident (a record of another system is not it)."""
        try:
            record = TicketRecord.model_validate_json(self.path(incident_id).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return record if record.system == system else None

    def save(self, incident_id: str, record: TicketRecord) -> None:
        path = self.path(incident_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".json.partial")
        partial.write_text(record.model_dump_json(indent=2), encoding="utf-8")
        os.replace(partial, path)  # a crash mid-write leaves the old record, never half of one


class LocalTickets:
    """The default ticket system: one Markdown file per incident under `<data>/tickets/`."""

    def __init__(self, root: Path) -> None:
        self.records = TicketRecords(root)
        self._lock = asyncio.Lock()

    async def deliver(self, notification: Notification, text: str) -> str:
        async with self._lock:
            return await asyncio.to_thread(self._deliver, notification, text)

    def _deliver(self, notification: Notification, text: str) -> str:
        incident = notification.incident_id
        record = self.records.load(incident, "local")
        document = self.records.path(incident, ".md")
        if record is None:
            if action(notification) == "timeline":  # no ticket was opened at declaration: open it now
                title, body = fallback_title(notification), "Opened by warroom at resolution."
            else:
                title, body = title_and_body(text, fallback_title(notification))
            document.parent.mkdir(parents=True, exist_ok=True)
            document.write_text(f"# {title}\n\n{body}\n" if body else f"# {title}\n", encoding="utf-8")
            record = TicketRecord(system="local", key=incident, url=document.resolve().as_uri())
            self.records.save(incident, record)
        if action(notification) == "timeline" and not record.timeline_added:
            with document.open("a", encoding="utf-8") as handle:
                handle.write(f"\n## {timeline_marker(incident)}\n\n{text.strip()}\n")
            record = record.model_copy(update={"timeline_added": True})
            self.records.save(incident, record)
        return record.ref().destination()
