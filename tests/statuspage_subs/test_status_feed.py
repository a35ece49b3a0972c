"""The status page's Atom feed: valid (feedparser, bozo == 0), RFC 4287's required elements, stable
entry ids and times, linked from the page, and nothing internal in it."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime, timedelta
from pathlib import Path

import feedparser
import httpx

from tests.helpers import utc
from warroom.models import Notification
from warroom.statuspage.page import create_status_app
from warroom.statuspage.store import StatusStore

ATOM = "{http://www.w3.org/2005/Atom}"
T0 = utc(2026, 11, 28, 14, 7)
INCIDENT = "order-api-20261128-140700"


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def note(template: str, **context: object) -> Notification:
    return Notification(
        incident_id=INCIDENT,
        channel="status_page",
        template=template,  # type: ignore[arg-type]
        audience=["status-page"],
        context={"commander": "alice", "reason": "bob's deploy", **context},
    )


def filled(tmp_path: Path) -> tuple[StatusStore, Clock]:
    clock = Clock()
    store = StatusStore(tmp_path, clock=clock)
    store.record(note("status_initial"), "INVESTIGATING: Elevated Error Rate — Order Api\nWe are investigating.")
    clock.now += timedelta(minutes=10)
    store.record(
        note("status_update", public_status="identified"), "IDENTIFIED: Elevated Error Rate\nA deploy & a fix <b>"
    )
    return store, clock


async def get(tmp_path: Path, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=create_status_app(tmp_path))
    async with httpx.AsyncClient(transport=transport, base_url="http://status.test") as client:
        return await client.get(path)


async def test_the_feed_is_valid_atom_with_every_required_element(tmp_path: Path) -> None:
    filled(tmp_path)
    response = await get(tmp_path, "/status/feed.atom")
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/atom+xml")

    parsed = feedparser.parse(response.content)
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    assert parsed.version == "atom10"
    assert [e.title for e in parsed.entries] == [
        "Identified: Elevated Error Rate",
        "Investigating: Elevated Error Rate",
    ], "newest first; the incident's public title as it is now"
    assert parsed.entries[0].content[0].value == "IDENTIFIED: Elevated Error Rate\nA deploy & a fix <b>"

    # RFC 4287 4.1.1: atom:feed has exactly one id, title and updated, and an author (no entry has one).
    root = ET.fromstring(response.content)
    assert root.tag == f"{ATOM}feed"
    for name in ("id", "title", "updated"):
        assert len(root.findall(f"{ATOM}{name}")) == 1, name
    assert root.find(f"{ATOM}author/{ATOM}name") is not None
    assert root.find(f"{ATOM}updated").text.startswith("2026-11-28T14:17:00")  # type: ignore[union-attr]
    self_links = [link.get("href") for link in root.findall(f"{ATOM}link") if link.get("rel") == "self"]
    assert self_links == ["http://status.test/status/feed.atom"]
    # 4.1.2: each entry has exactly one id, title and updated; content is text (escaped, not markup).
    for entry in root.findall(f"{ATOM}entry"):
        for name in ("id", "title", "updated"):
            assert len(entry.findall(f"{ATOM}{name}")) == 1, name
        assert entry.find(f"{ATOM}id").text.startswith("urn:uuid:")  # type: ignore[union-attr]
        assert entry.find(f"{ATOM}content").get("type") == "text"  # type: ignore[union-attr]
    assert "<b>" not in response.text.replace("&lt;b&gt;", "")


async def test_entry_ids_and_times_are_stable_across_renders_and_new_updates(tmp_path: Path) -> None:
    store, clock = filled(tmp_path)
    before = feedparser.parse((await get(tmp_path, "/status/feed.atom")).content)
    clock.now += timedelta(minutes=11)
    store.record(note("status_resolved"), "RESOLVED: Elevated Error Rate — Order Api — 14:28 UTC")
    after = feedparser.parse((await get(tmp_path, "/status/feed.atom")).content)

    old = {e.id: e.updated for e in before.entries}
    new = {e.id: e.updated for e in after.entries}
    assert old.items() <= new.items(), "an entry keeps its id and its time"
    assert len(new) == 3 and after.entries[0].title.startswith("Resolved:")
    assert after.feed.updated.startswith("2026-11-28T14:28:00"), "the feed's updated is its newest entry's"
    assert len({e.id for e in after.entries}) == 3


async def test_the_feed_says_nothing_internal_and_the_page_links_it(tmp_path: Path) -> None:
    filled(tmp_path)
    feed = await get(tmp_path, "/status/feed.atom")
    page = await get(tmp_path, "/status")
    for text in (feed.text,):
        assert "alice" not in text and "bob" not in text and INCIDENT not in text and "order-api-2026" not in text
    assert '<link rel="alternate" type="application/atom+xml"' in page.text
    assert 'href="status/feed.atom"' in page.text
    # The page's relative href resolves to the feed's route.
    assert str(httpx.URL("http://status.test/status").join("status/feed.atom")) == "http://status.test/status/feed.atom"


async def test_an_empty_feed_is_still_valid(tmp_path: Path) -> None:
    response = await get(tmp_path / "never-written", "/status/feed.atom")
    parsed = feedparser.parse(response.content)
    assert parsed.bozo == 0 and parsed.entries == [] and parsed.feed.title == "Service status"
