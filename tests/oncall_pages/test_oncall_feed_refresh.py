"""A schedule kept as an iCal URL follows the feed: it is read again every `ical.refresh`, beside
the worker, and a feed that cannot be read keeps its last copy (a failed fetch never empties a
rotation). Served by a real local HTTP server whose answer the test changes."""

from __future__ import annotations

import asyncio
import http.server
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from activities.oncall import OncallResolver
from tests.helpers import assert_eventually
from warroom.oncall.load import load_directory
from warroom.oncall.resolve import resolve_roles

AT = datetime(2026, 12, 8, 12, 0, tzinfo=UTC)


def feed(person: str, email: str) -> bytes:
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//PagerDuty Inc.//PagerDuty Calendar//EN\r\n"
        "BEGIN:VEVENT\r\nUID:shift-1@pagerduty.com\r\nDTSTAMP:20261201T000000Z\r\n"
        "DTSTART:20261207T080000Z\r\nDTEND:20261214T080000Z\r\n"
        f"SUMMARY:On Call - {person} - Primary\r\nATTENDEE;CN={person}:mailto:{email}\r\n"
        "END:VEVENT\r\nEND:VCALENDAR\r\n"
    ).encode()


class FeedServer:
    def __init__(self) -> None:
        self.body, self.status = feed("Alice Smith", "alice@example.com"), 200
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
                if outer.status != 200:
                    self.send_error(outer.status)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/calendar")
                self.end_headers()
                self.wfile.write(outer.body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/primary.ics"


@pytest.fixture
def served() -> Iterator[FeedServer]:
    server = FeedServer()
    thread = threading.Thread(target=server.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.server.shutdown()
        server.server.server_close()


def resolver(tmp_path: Path, url: str, refresh: str = "15m") -> OncallResolver:
    path = tmp_path / "oncall.yaml"
    path.write_text(
        f"""
people:
  - {{name: alice, display_name: Alice Smith, contacts: {{email: alice@example.com}}}}
  - {{name: bob, display_name: Bob Jones, contacts: {{email: bob@example.com}}}}
schedules:
  - {{name: primary, ical: {{url: "{url}", refresh: {refresh}}}}}
teams:
  - {{name: orders, services: [order-api], roles: {{on-call-engineer: {{schedule: primary}}}}}}
""",
        encoding="utf-8",
    )
    return OncallResolver(load_directory(path))


def on_call(oncall: OncallResolver) -> str | None:
    [found], _ = resolve_roles(oncall.directory, [], "orders", ["on-call-engineer"], AT)
    return found.person


async def test_the_feed_is_read_again_after_its_interval_and_the_new_shift_counts(
    tmp_path: Path, served: FeedServer
) -> None:
    oncall = resolver(tmp_path, served.url)
    assert on_call(oncall) == "alice"
    served.body = feed("Bob Jones", "bob@example.com")  # PagerDuty's export changed: bob took the week

    start = oncall._read_at["primary"]
    assert oncall.feeds_due(start + 14 * 60) == []  # not yet: 15 minutes
    assert await oncall.refresh_feeds(start + 14 * 60) == []
    assert on_call(oncall) == "alice"

    assert oncall.feeds_due(start + 15 * 60) == ["primary"]
    assert await oncall.refresh_feeds(start + 15 * 60) == []
    assert on_call(oncall) == "bob"
    assert oncall.feeds_due(start + 16 * 60) == []  # read just now


async def test_a_feed_that_cannot_be_read_keeps_its_last_copy_and_says_why(tmp_path: Path, served: FeedServer) -> None:
    oncall = resolver(tmp_path, served.url)
    served.status = 503
    later = oncall._read_at["primary"] + 15 * 60
    [problem] = await oncall.refresh_feeds(later)
    assert "schedules.0.ical (primary)" in problem and "503" in problem
    assert on_call(oncall) == "alice"  # never nobody because a fetch failed
    assert oncall.feeds_due(later + 60) == []  # tried again after its interval, not at every page
    assert oncall.feeds_due(later + 15 * 60) == ["primary"]


async def test_the_worker_side_loop_refreshes_on_its_own(tmp_path: Path, served: FeedServer) -> None:
    oncall = resolver(tmp_path, served.url, refresh="1s")
    served.body = feed("Bob Jones", "bob@example.com")
    loop = asyncio.create_task(oncall.keep_feeds_fresh(every=0.1))
    try:

        async def bob_on_call() -> None:
            assert on_call(oncall) == "bob"

        await assert_eventually(bob_on_call)
    finally:
        loop.cancel()
