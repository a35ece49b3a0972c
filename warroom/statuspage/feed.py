"""The status page as an Atom feed (RFC 4287, drawn by feedgen): one entry per public update.

The same public fields as /status and /status.json, nothing internal: an entry's title is the
announced status and the incident's public title, its content the update's text. Ids are stable
(`urn:uuid:` derived from the incident's public key and the update's instant), so a reader shows a
new update once and never shows an old one again; `updated` is the update's own instant and the
feed's is the newest of them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime

from feedgen.feed import FeedGenerator

from warroom.statuspage.store import LABELS, PublicIncident, PublicUpdate

MAX_ENTRIES = 100
FEED_TYPE = "application/atom+xml"
_NAMESPACE = uuid.UUID("9d3c5a52-3a39-4c4b-9a59-6f6b2f3f6f01")


def entry_id(incident_key: str, update: PublicUpdate) -> str:
    return f"urn:uuid:{uuid.uuid5(_NAMESPACE, f'{incident_key}/{update.at.isoformat()}')}"


def render_feed(
    incidents: Iterable[PublicIncident], base_url: str, generated_at: datetime, title: str = "Service status"
) -> bytes:
    """The Atom document of every stored incident's updates (the newest MAX_ENTRIES): a reader that was
    away longer than the page's 7 days still gets the resolution. `base_url` is where /status is served."""
    base = base_url.rstrip("/")
    page, feed_url = f"{base}/status", f"{base}/status/feed.atom"
    updates: list[tuple[PublicIncident, PublicUpdate]] = [
        (incident, update) for incident in incidents for update in incident.updates
    ]
    updates.sort(key=lambda pair: pair[1].at, reverse=True)
    updates = updates[:MAX_ENTRIES]
    newest: datetime = updates[0][1].at if updates else generated_at

    fg = FeedGenerator()
    fg.id(f"urn:uuid:{uuid.uuid5(_NAMESPACE, feed_url)}")
    fg.title(title)
    fg.subtitle("Incidents and their updates, as posted on the status page")
    fg.author({"name": title})
    fg.link(href=page, rel="alternate", type="text/html")
    fg.link(href=feed_url, rel="self", type=FEED_TYPE)
    fg.language("en")
    fg.updated(newest)
    for incident, update in reversed(updates):  # feedgen prepends: oldest in, newest first out
        entry = fg.add_entry()
        entry.id(entry_id(incident.key, update))
        entry.title(f"{LABELS[update.status]}: {incident.title}")
        entry.updated(update.at)
        entry.published(update.at)
        entry.link(href=f"{page}#incident-{incident.key}", rel="alternate", type="text/html")
        entry.content(update.text or LABELS[update.status], type="text")
    data: bytes = fg.atom_str(pretty=True)
    return data
