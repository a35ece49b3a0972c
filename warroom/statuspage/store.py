"""The status page's store: what status_page messages said publicly, one file per incident.

The worker records every status_page notification here (`<data_dir>/status/*.json`, written
atomically under a file lock); `warroom.statuspage.page` serves it. Only what those notifications
said is kept — their public title and text, the status they announced and when — never the incident
id, names, the channel or anything internal. No web framework here: activities import this module.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from warroom.enums import PublicStatus
from warroom.models import Notification

LABELS = {status: status.value.title() for status in PublicStatus}
RESOLVED_SHOWN_FOR = timedelta(days=7)
REFRESH_SECONDS = 30
MAX_UPDATES = 50

# The built-in templates and what they announce; overridden templates fall back to the text's prefix.
TEMPLATE_STATUS: dict[str, PublicStatus] = {
    "status_initial": PublicStatus.INVESTIGATING,
    "still_investigating": PublicStatus.INVESTIGATING,
    "still_identified": PublicStatus.IDENTIFIED,
    "still_monitoring": PublicStatus.MONITORING,
    "status_resolved": PublicStatus.RESOLVED,
}
_VALUES = tuple(status.value for status in PublicStatus)
_PREFIX = re.compile(rf"^\s*({'|'.join(_VALUES)})\b\s*:?\s*(.*)$", re.IGNORECASE)


def public_status(notification: Notification, text: str, previous: PublicStatus | None = None) -> PublicStatus:
    """What a status page message announces: by template, then `public_status`, then its first word."""
    if notification.template in TEMPLATE_STATUS:
        return TEMPLATE_STATUS[notification.template]
    declared = notification.context.get("public_status")
    if isinstance(declared, str) and declared.lower() in _VALUES:
        return PublicStatus(declared.lower())
    match = _PREFIX.match(text.splitlines()[0] if text else "")
    if match:
        return PublicStatus(match.group(1).lower())
    return previous or PublicStatus.INVESTIGATING


def public_title(notification: Notification, text: str) -> str:
    """The public title: the template context's `title` (public context only), else the first line."""
    title = notification.context.get("title")
    if isinstance(title, str) and title.strip():
        return title.strip()[:200]
    first = text.splitlines()[0] if text else ""
    match = _PREFIX.match(first)
    first = match.group(2) if match else first
    return (first.strip() or "Service disruption")[:200]


def public_key(incident_id: str) -> str:
    """A stable public handle that does not reveal the incident id."""
    return hashlib.sha256(f"warroom-status:{incident_id}".encode()).hexdigest()[:16]


# --- The store -------------------------------------------------------------------------------


class PublicUpdate(BaseModel):
    at: datetime
    status: PublicStatus
    text: str


class PublicIncident(BaseModel):
    key: str
    title: str
    status: PublicStatus
    started_at: datetime
    updated_at: datetime
    resolved_at: datetime | None = None
    updates: list[PublicUpdate] = Field(default_factory=list, description="oldest first")

    @property
    def message(self) -> str:
        return self.updates[-1].text if self.updates else ""

    @property
    def label(self) -> str:
        return LABELS[self.status]


class StatusSnapshot(BaseModel):
    generated_at: datetime
    status: Literal["operational", "disrupted"]
    current: list[PublicIncident]
    resolved: list[PublicIncident]


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive advisory lock beside `path` (several workers on one machine share the folder)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def write_atomically(path: Path, data: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def update_json(path: Path, change: Callable[[dict[str, Any]], dict[str, Any]]) -> dict[str, Any]:
    """Read-modify-write a small JSON object file under its lock; returns what was written."""
    with locked(path):
        try:
            current = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            current = {}
        new = change(current)
        write_atomically(path, json.dumps(new, indent=1, sort_keys=True, default=str))
        return new


def _utcnow() -> datetime:
    return datetime.now(UTC)


class StatusStore:
    """What status_page notifications said, per incident. Also a `Notifier` (the built-in route)."""

    def __init__(self, data_dir: Path, clock: Callable[[], datetime] = _utcnow) -> None:
        self.folder = Path(data_dir) / "status"
        self.clock = clock

    async def deliver(self, notification: Notification, text: str) -> str:
        incident = await asyncio.to_thread(self.record, notification, text)
        return f"built-in status page: {incident.label} — {incident.title}"

    def record(self, notification: Notification, text: str, at: datetime | None = None) -> PublicIncident:
        at = at or self.clock()
        key = public_key(notification.incident_id)
        result: dict[str, PublicIncident] = {}

        def change(raw: dict[str, Any]) -> dict[str, Any]:
            previous = PublicIncident.model_validate(raw) if raw else None
            status = public_status(notification, text, previous.status if previous else None)
            updates = [*(previous.updates if previous else []), PublicUpdate(at=at, status=status, text=text)]
            incident = PublicIncident(
                key=key,
                title=public_title(notification, text),
                status=status,
                started_at=previous.started_at if previous else at,
                updated_at=at,
                resolved_at=(previous.resolved_at if previous and previous.resolved_at else at)
                if status == PublicStatus.RESOLVED
                else None,
                updates=updates[-MAX_UPDATES:],
            )
            result["incident"] = incident
            return incident.model_dump(mode="json")

        update_json(self.folder / f"{key}.json", change)
        return result["incident"]

    def incidents(self) -> list[PublicIncident]:
        out: list[PublicIncident] = []
        if not self.folder.is_dir():
            return out
        for path in self.folder.glob("*.json"):
            try:
                out.append(PublicIncident.model_validate_json(path.read_text(encoding="utf-8")))
            except (OSError, ValueError):
                continue  # a file being replaced or damaged by hand: skip it, never fail the page
        return out

    def snapshot(self, now: datetime | None = None) -> StatusSnapshot:
        now = now or self.clock()
        every = self.incidents()
        current = sorted(
            (i for i in every if i.status != PublicStatus.RESOLVED), key=lambda i: i.started_at, reverse=True
        )
        resolved = sorted(
            (
                i
                for i in every
                if i.status == PublicStatus.RESOLVED and i.resolved_at and now - i.resolved_at <= RESOLVED_SHOWN_FOR
            ),
            key=lambda i: i.resolved_at or i.updated_at,
            reverse=True,
        )
        return StatusSnapshot(
            generated_at=now, status="disrupted" if current else "operational", current=current, resolved=resolved
        )
