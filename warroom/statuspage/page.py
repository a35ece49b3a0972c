"""The built-in status page over HTTP: `/status` (HTML), `/status.json` and `/status/feed.atom`, from the store only.

Server-rendered, autoescaped, no JavaScript; the page refreshes itself every 30 s.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from warroom.http_framing import RejectAmbiguousFraming
from warroom.statuspage.feed import FEED_TYPE, render_feed
from warroom.statuspage.store import LABELS, REFRESH_SECONDS, PublicIncident, StatusSnapshot, StatusStore
from warroom.statuspage.subscribers import SubscriberSettings

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
<link rel="alternate" type="application/atom+xml" title="Status updates (Atom)" href="{{ feed_href }}">
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
{%- if subscribe %}
<section id="subscribe">
<h2>Get updates</h2>
<form method="post" action="{{ subscribe_href }}"><label>E-mail <input type="email" name="email" required maxlength="254" autocomplete="email"></label>
<button type="submit">Subscribe</button></form>
<p class="empty">We send a confirmation link first; every message has a one-click unsubscribe link.</p>
</section>
{%- endif %}
<footer>Updated {{ when(snap.generated_at) }} · this page refreshes every {{ refresh }} s · <a href="{{ json_href }}">JSON</a> · <a href="{{ feed_href }}">Atom feed</a></footer>
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


def render_status_page(
    snap: StatusSnapshot,
    json_href: str = "status.json",
    feed_href: str = "status/feed.atom",
    subscribe_href: str | None = None,
) -> str:
    """The page; with `subscribe_href` (subscriptions on) it ends with the e-mail subscription form."""
    return _TEMPLATE.render(
        snap=snap,
        refresh=REFRESH_SECONDS,
        when=_when,
        labels=LABELS,
        json_href=json_href,
        feed_href=feed_href,
        subscribe=subscribe_href is not None,
        subscribe_href=subscribe_href or "",
    )


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


def status_router(
    source: StatusStore | Path | str, public_url: str | None = None, subscribe: bool = False
) -> APIRouter:
    """`/status`, `/status.json` and `/status/feed.atom` over a store (or the data dir the worker writes to).

    The feed's links and id use `public_url` (WARROOM_STATUS_PUBLIC_URL), else the request's own URL."""
    store = source if isinstance(source, StatusStore) else StatusStore(Path(source))
    router = APIRouter(tags=["status page"])

    @router.get("/status", response_class=HTMLResponse, summary="Public status page (HTML)")
    async def status_html() -> HTMLResponse:
        snap = await asyncio.to_thread(store.snapshot)
        if subscribe:  # the form posts to /status/subscribe: the only form this page may submit
            csp = _HEADERS["Content-Security-Policy"].replace("form-action 'none'", "form-action 'self'")
            page = render_status_page(snap, subscribe_href="status/subscribe")
            return HTMLResponse(page, headers={**_HEADERS, "Content-Security-Policy": csp})
        return HTMLResponse(render_status_page(snap), headers=_HEADERS)

    @router.get("/status.json", summary="Public status page (JSON)")
    async def status_json() -> JSONResponse:
        snap = await asyncio.to_thread(store.snapshot)
        return JSONResponse(_public_json(snap), headers=_HEADERS)

    @router.get("/status/feed.atom", response_class=Response, summary="Public status page (Atom feed)")
    async def status_feed(request: Request) -> Response:
        incidents = await asyncio.to_thread(store.incidents)
        base = public_url or str(request.base_url)
        return Response(
            render_feed(incidents, base, store.clock()), media_type=f"{FEED_TYPE}; charset=utf-8", headers=_HEADERS
        )

    return router


def create_status_app(data_dir: Path | str, subscribers: SubscriberSettings | None = None) -> FastAPI:
    """The status page alone (tests, or a public host that should expose nothing else), with the
    subscription routes when `subscribers` turns them on."""
    app = FastAPI(title="warroom status", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(RejectAmbiguousFraming)
    public_url = str(subscribers.status_public_url) if subscribers and subscribers.status_public_url else None
    on = subscribers is not None and subscribers.status_subscriptions
    app.include_router(status_router(Path(data_dir), public_url, subscribe=on))
    if subscribers is not None and on:
        from warroom.statuspage.subscribe import mount_subscriptions  # SQLAlchemy and SMTP only when on

        app.state.subscribers = mount_subscriptions(app, subscribers, Path(data_dir))
    return app
