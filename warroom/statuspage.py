"""warroom's built-in status page: `/status` (HTML) and `/status.json`, from status_page messages only.

The worker records every status_page notification in a small store (`<data_dir>/status/*.json`,
one file per incident, written atomically under a file lock); this router reads it. The page shows
only what those notifications said — their public title and text, the status they announced and
when — never the incident id, names, the channel or anything internal. Current incidents first,
then the ones resolved in the last 7 days. Server-rendered, autoescaped, no JavaScript; the page
refreshes itself every 30 s.

    app.include_router(status_router(settings.data_dir))   # in the intake app
    uvicorn.run(create_status_app(Path(".warroom")))        # standalone
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

import jinja2
from fastapi import APIRouter, FastAPI
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, Field

from warroom.enums import PublicStatus as PublicStatus  # re-exported: the channels import it from here
from warroom.http_framing import RejectAmbiguousFraming
from warroom.models import Notification

LABELS = {status: status.value.title() for status in PublicStatus}
RESOLVED_SHOWN_FOR = timedelta(days=7)
REFRESH_SECONDS = 30
MAX_UPDATES = 50

# The built-in templates and what they announce; overridden templates fall back to the text's prefix.
TEMPLATE_STATUS: dict[str, PublicStatus] = {
    "status_initial": PublicStatus.INVESTIGATING,
    "still_investigating": PublicStatus.INVESTIGATING,
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


# --- HTTP ------------------------------------------------------------------------------------

_PAGE = """{% macro card(i) %}
<article id="incident-{{ i.key }}" class="incident {{ i.status }}" data-status="{{ i.status }}">
<h3>{{ i.title }}</h3>
<p class="status">{{ i.label }}</p>
<p class="message">{{ i.message }}</p>
<p class="times">Started {{ when(i.started_at) }} · updated {{ when(i.updated_at) }}
{%- if i.resolved_at %} · resolved {{ when(i.resolved_at) }}{% endif %}</p>
{%- if i.updates | length > 1 %}
<details><summary>Earlier updates ({{ i.updates | length - 1 }})</summary>
{%- for u in i.updates[:-1] | reverse %}
<p><strong>{{ labels[u.status] }}</strong> · {{ when(u.at) }}
{{ u.text }}</p>
{%- endfor %}
</details>
{%- endif %}
</article>
{%- endmacro -%}
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="{{ refresh }}">
<title>{{ "All systems operational" if snap.status == "operational" else "Service disruption" }} — Status</title>
<style>
 body { font: 16px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; background: #f6f7f9; color: #1b1f24; }
 main { max-width: 46rem; margin: 0 auto; padding: 1.5rem 1rem 3rem; }
 h1 { font-size: 1.5rem; margin: 0 0 1rem; }
 h2 { font-size: 1.1rem; margin: 2rem 0 .5rem; color: #4a5360; }
 .banner { padding: .9rem 1.1rem; border-radius: .5rem; font-weight: 600; color: #fff; }
 .banner.operational { background: #1f883d; } .banner.disrupted { background: #bc4c00; }
 article { background: #fff; border: 1px solid #d8dee4; border-left: .35rem solid #bc4c00; border-radius: .5rem;
           padding: .8rem 1.1rem; margin: .8rem 0; }
 article.resolved { border-left-color: #1f883d; }
 h3 { margin: 0; font-size: 1.05rem; }
 .status { display: inline-block; font-size: .85rem; font-weight: 600; padding: .05rem .5rem; border-radius: 1rem;
           background: #fff1e5; color: #953800; margin: .3rem 0; }
 .resolved .status { background: #dafbe1; color: #116329; }
 .message { white-space: pre-line; margin: .4rem 0; }
 .times, footer, .empty { color: #57606a; font-size: .9rem; }
 details { margin-top: .4rem; font-size: .92rem; } details p { white-space: pre-line; margin: .4rem 0 .8rem; }
</style>
</head>
<body>
<main>
<h1>Service status</h1>
<p class="banner {{ snap.status }}" data-overall="{{ snap.status }}">
{%- if snap.status == "operational" %}All systems operational{% else %}We are working on {{ snap.current | length }} active incident{{ "s" if snap.current | length > 1 }}{% endif -%}
</p>
<section id="current">
<h2>Current incidents</h2>
{%- for i in snap.current %}
{{ card(i) }}
{%- else %}
<p class="empty">No current incidents.</p>
{%- endfor %}
</section>
<section id="resolved">
<h2>Resolved in the last 7 days</h2>
{%- for i in snap.resolved %}
{{ card(i) }}
{%- else %}
<p class="empty">No incidents resolved in the last 7 days.</p>
{%- endfor %}
</section>
<footer>Updated {{ when(snap.generated_at) }} · this page refreshes every {{ refresh }} s · <a href="{{ json_href }}">JSON</a></footer>
</main>
</body>
</html>
"""

_ENV = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=False)
_TEMPLATE = _ENV.from_string(_PAGE)
_HEADERS = {
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
}


def _when(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def render_status_page(snap: StatusSnapshot, json_href: str = "status.json") -> str:
    return _TEMPLATE.render(snap=snap, refresh=REFRESH_SECONDS, when=_when, labels=LABELS, json_href=json_href)


def _public_json(snap: StatusSnapshot) -> dict[str, Any]:
    def one(i: PublicIncident) -> dict[str, Any]:
        return {
            "id": i.key,
            "title": i.title,
            "status": i.status,
            "message": i.message,
            "started_at": i.started_at.isoformat(),
            "updated_at": i.updated_at.isoformat(),
            "resolved_at": i.resolved_at.isoformat() if i.resolved_at else None,
            "updates": [{"at": u.at.isoformat(), "status": u.status, "text": u.text} for u in reversed(i.updates)],
        }

    return {
        "status": snap.status,
        "generated_at": snap.generated_at.isoformat(),
        "incidents": [one(i) for i in snap.current],
        "resolved": [one(i) for i in snap.resolved],
    }


def status_router(source: StatusStore | Path | str) -> APIRouter:
    """`/status` and `/status.json` over a store (or the data dir the worker writes to)."""
    store = source if isinstance(source, StatusStore) else StatusStore(Path(source))
    router = APIRouter(tags=["status page"])

    @router.get("/status", response_class=HTMLResponse, summary="Public status page (HTML)")
    async def status_html() -> HTMLResponse:
        snap = await asyncio.to_thread(store.snapshot)
        return HTMLResponse(render_status_page(snap), headers=_HEADERS)

    @router.get("/status.json", summary="Public status page (JSON)")
    async def status_json() -> JSONResponse:
        snap = await asyncio.to_thread(store.snapshot)
        return JSONResponse(_public_json(snap), headers=_HEADERS)

    return router


def create_status_app(data_dir: Path | str) -> FastAPI:
    """The status page alone (tests, or a public host that should expose nothing else)."""
    app = FastAPI(title="warroom status", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(RejectAmbiguousFraming)
    app.include_router(status_router(Path(data_dir)))
    return app
