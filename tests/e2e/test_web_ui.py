"""The Temporal Web UI, driven the way an IC drives it: the link `warroom declare` prints, then
More Actions → Send an Update, in headless Chromium (Playwright, with Debian's Chromium)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Locator, Page, async_playwright, expect
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError

from tests.devserver import DevServer
from tests.helpers import assert_eventually, running_worker, state_of
from warroom.client import connect
from warroom.enums import Phase, Update
from warroom.models import StepDecision, UpdateResult
from warroom.settings import Settings

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
WAIT_MS = 30_000
"""For the page to show something: the UI's first load is seconds of JavaScript on a busy machine."""
REPO = Path(__file__).resolve().parents[2]
IC = "alice"

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.system("chromium"),
]


@dataclass
class Stack:
    client: Client
    env: dict[str, str]
    track: list[WorkflowHandle[Any, Any]]

    async def warroom(self, *args: str) -> str:
        """`warroom ...` as a subprocess, the way people on call run it; its output, once it has passed."""
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "warroom.cli",
            *args,
            cwd=REPO,
            env=self.env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0, out.decode() + err.decode()
        return out.decode()


@pytest_asyncio.fixture(loop_scope="session")
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    """A dev server with its Web UI (the session's dev server is headless), a worker, the CLI's environment."""
    server = DevServer(tmp_path / "temporal.db", ui=True)
    await server.start()
    try:
        client = await connect(Settings(temporal_address=server.address), identity="web-ui-test", wait=30)
        async with running_worker(client, tmp_path) as harness:
            env = {
                **os.environ,
                "WARROOM_TEMPORAL_ADDRESS": server.address,
                "WARROOM_UI_PORT": str(server.ui_port),
                "WARROOM_TASK_QUEUE": harness.queue,
                "WARROOM_USER": IC,
                "WARROOM_DATA_DIR": str(tmp_path),
                "COLUMNS": "200",
                "PYTHONIOENCODING": "utf-8",
            }
            yield Stack(client, env, harness.handles)
    finally:
        server.stop()


async def send_update(page: Page, name: str, data: dict[str, str]) -> Locator:
    """More Actions → Send an Update → `name` with JSON `data` → Submit; the dialog, still open or closing."""
    await page.get_by_role("button", name="More Actions").click()
    await page.get_by_role("menuitem", name="Send an Update").click()
    dialog = page.get_by_role("dialog", name="Send an Update")
    await dialog.get_by_test_id("update-select-button").click()
    await dialog.get_by_role("option", name=re.compile(rf"^{re.escape(name)}\s")).click()
    await dialog.get_by_role("textbox", name="Data").fill(json.dumps(data))
    # The editor re-formats the JSON when it loses focus, which moves Submit out from under a mouse
    # click; the keyboard submits wherever the button ends up.
    await dialog.get_by_role("button", name="Submit").press("Enter")
    return dialog


async def test_the_ic_approves_from_the_web_ui_and_anyone_else_is_told_why_not(stack: Stack) -> None:
    declared = await stack.warroom(
        "declare",
        "--service",
        f"checkout-{uuid.uuid4().hex[:6]}",
        "--severity",
        "P2",
        "--summary",
        "8% of checkouts fail",
        "--commander",
        IC,
    )
    incident_id = re.search(r"declared P2 incident (\S+) ", declared).group(1)  # type: ignore[union-attr]
    link = re.search(r"web UI: (http://\S+)", declared).group(1)  # type: ignore[union-attr]
    handle = stack.client.get_workflow_handle(f"incident-{incident_id}")
    stack.track.append(handle)

    async def commanding() -> None:  # an update while the Declare phase hands over fails the incident
        assert (await state_of(handle)).phase == Phase.COMMAND

    await assert_eventually(commanding)
    proposed = await stack.warroom("propose", incident_id, "page", "who=dba-oncall", "--as", IC)
    step = re.search(r"step id: (\S+);", proposed).group(1)  # type: ignore[union-attr]

    async def previewed() -> str:  # the approver sees the preview first; the approval names it
        (waiting,) = (await state_of(handle)).steps
        assert waiting.preview is not None and waiting.preview_digest
        return waiting.preview_digest

    digest = await assert_eventually(previewed)

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page()
            page.set_default_timeout(WAIT_MS)
            await page.goto(link)
            await expect(page.get_by_test_id("workflow-id-heading")).to_contain_text(
                f"incident-{incident_id}", timeout=WAIT_MS
            )

            approval = {"step_id": step, "by": IC, "reason": "the DBA is needed", "preview": digest}
            dialog = await send_update(page, "approve", approval)
            await expect(dialog).to_be_hidden(timeout=WAIT_MS)

            async def approved() -> None:
                (decided,) = (await state_of(handle)).steps
                assert (decided.step_id, decided.status, decided.decided_by) == (step, "done", IC)
                assert decided.result == "paged dba-oncall"

            await assert_eventually(approved)

            dialog = await send_update(
                page, "approve", {"step_id": step, "by": "bob", "reason": "me too", "preview": digest}
            )
            error = dialog.get_by_role("alert").filter(has_text=re.compile(r"\S"))
            await expect(error).to_be_visible(timeout=WAIT_MS)
            shown = (await error.inner_text()).strip()
            dialog_text = await dialog.inner_text()
        finally:
            await browser.close()

    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(
            Update.APPROVE,
            StepDecision(step_id=step, by="bob", reason="me too", preview=digest),
            result_type=UpdateResult,
        )
    reason = str(refused.value.cause.message)  # type: ignore[union-attr]
    assert shown == reason, f"the page shows the reason and nothing else: {shown!r}"
    assert not re.search(r'Traceback|File "|\.py", line', dialog_text), dialog_text
    (decided,) = (await state_of(handle)).steps
    assert (decided.status, decided.decided_by) == ("done", IC), "the refusal changed nothing"
