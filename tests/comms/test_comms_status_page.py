"""The built-in status page: what status_page notifications said, and nothing else — checked as JSON,
as HTML, and in a real headless Chromium following an incident from Investigating to Resolved."""

from __future__ import annotations

import asyncio
import re
import tempfile
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from html import unescape
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
import uvicorn
from temporalio.testing import ActivityEnvironment

from activities.channels import ChannelSettings, build_router
from activities.notify import NotifyActivities
from tests.comms.fakes import free_port
from tests.helpers import utc
from warroom.enums import Role, Severity
from warroom.messages import public_context
from warroom.models import IncidentState, Notification
from warroom.runbook import load_runbook
from warroom.statuspage.page import create_status_app
from warroom.statuspage.store import StatusStore, public_key

RUNBOOK = load_runbook()
CHROMIUM = "/usr/bin/chromium"
T0 = utc(2026, 11, 28, 14, 7)
STATE = IncidentState(
    incident_id="order-api-20261128-140700",
    service="order-api",
    summary="Order API 503s after bob's deploy",
    severity=Severity.P1,
    channel="#incident-2026-11-28-order-api-1407",
    roles={Role.INCIDENT_COMMANDER: "alice"},
    opened_at=T0,
    declared_at=T0,
)


def status_note(template: str, state: IncidentState = STATE, now: datetime = T0, **extra: object) -> Notification:
    return Notification(
        incident_id=state.incident_id,
        channel="status_page",
        template=template,  # type: ignore[arg-type]
        audience=["status-page"],
        context=public_context(state, RUNBOOK, now, True, **extra),
    )  # type: ignore[arg-type]


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def test_status_comes_from_each_message_and_resolution_retires_the_incident(tmp_path: Path) -> None:
    clock = Clock(T0)
    store = StatusStore(tmp_path, clock=clock)
    store.record(status_note("status_initial"), "INVESTIGATING: Elevated Error Rate — Order Api\nWe are investigating.")
    clock.now += timedelta(minutes=10)
    store.record(
        status_note("status_update", public_status="identified", public_message="A deploy."),
        "IDENTIFIED: Elevated Error Rate — Order Api\nA deploy.",
    )
    snap = store.snapshot()
    assert snap.status == "disrupted" and [i.status for i in snap.current] == ["identified"]
    incident = snap.current[0]
    assert incident.title == "Elevated Error Rate — Order Api" and incident.message.endswith("A deploy.")
    assert incident.started_at == T0 and incident.updated_at == T0 + timedelta(minutes=10)
    assert incident.key == public_key(STATE.incident_id) and STATE.incident_id not in incident.model_dump_json()

    clock.now += timedelta(minutes=11)
    store.record(status_note("status_resolved"), "RESOLVED: Elevated Error Rate — Order Api — 14:28 UTC")
    snap = store.snapshot()
    assert snap.status == "operational" and snap.current == []
    assert snap.resolved[0].resolved_at == T0 + timedelta(minutes=21)
    assert [u.status for u in snap.resolved[0].updates] == ["investigating", "identified", "resolved"]

    assert store.snapshot(now=T0 + timedelta(minutes=21, days=7)).resolved, "shown for 7 days"
    assert not store.snapshot(now=T0 + timedelta(minutes=22, days=7)).resolved, "then gone from the page"

    # A relapse after the resolved notice makes it current again.
    clock.now += timedelta(minutes=5)
    store.record(status_note("still_investigating"), "INVESTIGATING: Elevated Error Rate — Order Api (again)")
    assert store.snapshot().current[0].resolved_at is None


def test_a_team_template_without_a_known_shape_still_reads_as_a_status(tmp_path: Path) -> None:
    store = StatusStore(tmp_path)
    note = Notification(incident_id="x", channel="status_page", template="team_status", context={})
    incident = store.record(note, "Monitoring: Checkout delays\nA fix is rolling out.")
    assert incident.status == "monitoring" and incident.title == "Checkout delays"


async def test_json_and_html_carry_only_what_the_status_page_was_told(tmp_path: Path) -> None:
    store = StatusStore(tmp_path)
    # Internal fields a careless template context could carry must never reach the page.
    leaky = status_note("status_initial", reason="alice says bob's deploy broke it", commander="alice")
    store.record(leaky, "INVESTIGATING: Elevated Error Rate — Order Api\n<script>alert(1)</script> We are on it.")
    transport = httpx.ASGITransport(app=create_status_app(tmp_path))
    async with httpx.AsyncClient(transport=transport, base_url="http://status.test") as client:
        data = (await client.get("/status.json")).json()
        page = await client.get("/status")

    assert data["status"] == "disrupted" and len(data["incidents"]) == 1 and data["resolved"] == []
    incident = data["incidents"][0]
    assert set(incident) == {"id", "title", "status", "message", "started_at", "updated_at", "resolved_at", "updates"}
    assert incident["status"] == "investigating" and incident["title"] == "Elevated Error Rate — Order Api"
    for body in (page.text, str(data)):
        assert "alice" not in body and "bob" not in body and STATE.incident_id not in body
        assert "order-api-2026" not in body and "#incident" not in body

    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<meta http-equiv="refresh" content="30">' in page.text
    assert "<script>" not in page.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text, "autoescaped"
    assert "script-src" not in page.headers["content-security-policy"], "no script may run at all"
    assert page.headers["x-content-type-options"] == "nosniff"


async def test_an_empty_page_says_all_is_well(tmp_path: Path) -> None:
    transport = httpx.ASGITransport(app=create_status_app(tmp_path / "never-written"))
    async with httpx.AsyncClient(transport=transport, base_url="http://status.test") as client:
        page = await client.get("/status")
        data = (await client.get("/status.json")).json()
    assert "All systems operational" in page.text and data == {**data, "status": "operational", "incidents": []}


# --- In a real browser --------------------------------------------------------------------------


@pytest_asyncio.fixture
async def served(tmp_path: Path) -> AsyncIterator[str]:
    """The standalone status app under uvicorn on loopback, in this event loop."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_status_app(tmp_path), host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    for _ in range(200):
        if server.started:
            break
        await asyncio.sleep(0.02)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


async def chromium_dom(url: str) -> str:
    """The DOM as headless Chromium renders it. The page's CSP (default-src 'none') lets no script run,
    so what Chromium shows is what a reader without JavaScript sees."""
    with tempfile.TemporaryDirectory(prefix="warroom-chromium-") as profile:
        proc = await asyncio.create_subprocess_exec(
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            f"--user-data-dir={profile}",
            "--dump-dom",
            url,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            out, err = await asyncio.wait_for(proc.communicate(), 30)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise
    assert proc.returncode == 0, err.decode(errors="replace")[-2000:]
    return out.decode()


def section(dom: str, name: str) -> str:
    match = re.search(rf'<section id="{name}">(.*?)</section>', dom, re.S)
    assert match, f"no {name} section in {dom[:500]}"
    return match.group(1)


def visible(fragment: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


@pytest.mark.system("chromium")
async def test_chromium_shows_investigating_then_resolved(served: str, tmp_path: Path) -> None:
    # The real path: the notify activity renders the built-in templates and the router records them.
    activities = NotifyActivities(build_router(ChannelSettings(data_dir=tmp_path)))
    env = ActivityEnvironment()
    await env.run(activities.notify, status_note("status_initial"))

    dom = await chromium_dom(f"{served}/status")
    current = section(dom, "current")
    assert 'data-status="investigating"' in current
    assert "Investigating" in visible(current) and "Elevated Error Rate — Order Api" in visible(current)
    assert "We are currently investigating elevated error rates affecting Order Api." in visible(current)
    assert "No incidents resolved" in visible(section(dom, "resolved"))
    assert "We are working on 1 active incident" in visible(dom)
    assert 'http-equiv="refresh" content="30"' in dom and "<script" not in dom
    assert "alice" not in dom and "bob" not in dom

    mitigated = STATE.model_copy(update={"mitigated_at": T0 + timedelta(minutes=21)})
    await env.run(activities.notify, status_note("status_resolved", mitigated, now=T0 + timedelta(minutes=25)))

    dom = await chromium_dom(f"{served}/status")
    assert "No current incidents." in visible(section(dom, "current"))
    resolved = section(dom, "resolved")
    assert 'data-status="resolved"' in resolved and "Resolved" in visible(resolved)
    assert "RESOLVED: Elevated Error Rate — Order Api — 14:32 UTC" in visible(resolved)
    assert "Earlier updates (1)" in visible(resolved)
    assert "All systems operational" in visible(dom)
