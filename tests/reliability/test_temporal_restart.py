"""Restart the Temporal dev server (same database file) while a timer, an approval and an activity
are pending: the timer, due while the server was down, fires once it is back (how late depends on
the machine; bench/reliability_bench.py measures timer lateness), the approval is accepted after the
restart, and the activity — a channel post still in flight when the server stopped — completes and
its update returns: nothing is stuck."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowUpdateStage

from tests.devserver import DevServer
from tests.helpers import RecordingSink, assert_eventually, incident_input, running_worker, state_of
from warroom.client import connect
from warroom.enums import Severity, Update
from warroom.models import ProposeStep, StatusUpdate, StepDecision, UpdateResult
from warroom.runbook import load_runbook
from warroom.settings import Settings

pytestmark = pytest.mark.e2e
DOWNTIME = 8.0


class SlowChannel(RecordingSink):
    """The local sink, with the first internal update held like a slow Slack: an activity in flight."""

    def __init__(self, root: Path, hold: float) -> None:
        super().__init__(root)
        self.hold = hold
        self.holding = asyncio.Event()
        self.delivered_at: dict[str, list[float]] = {}

    async def deliver(self, notification: Any, text: str) -> str:
        if notification.template == "internal_update" and not self.holding.is_set():
            self.holding.set()
            await asyncio.sleep(self.hold)
        self.delivered_at.setdefault(notification.template, []).append(time.time())
        return await super().deliver(notification, text)


async def test_timers_approvals_and_activities_survive_a_server_restart(tmp_path: Path) -> None:
    server = DevServer(tmp_path / "temporal.db")
    await server.start()
    client = await connect(
        Settings(temporal_address=f"127.0.0.1:{server.port}"), wait=30
    )  # frontend may still be starting
    base = load_runbook()
    runbook = base.model_copy(
        update={"comms": base.comms.model_copy(update={"internal_update_every": timedelta(seconds=6)})}
    )
    sink = SlowChannel(tmp_path, hold=4.0)
    try:
        async with running_worker(client, tmp_path, sink=sink) as harness:
            handle = await harness.start(
                incident_input(
                    runbook=runbook,
                    declared=True,
                    declared_by="alice",
                    severity=Severity.P3,
                    commander="alice",
                    publish_search_attributes=True,
                )
            )
            proposed = await handle.execute_update(
                Update.PROPOSE_STEP,
                ProposeStep(by="alice", action="custom", target="page the DBA"),
                result_type=UpdateResult,
            )
            posting = await handle.start_update(
                Update.POST_UPDATE,
                StatusUpdate(by="alice", hypothesis="pool exhaustion"),
                wait_for_stage=WorkflowUpdateStage.ACCEPTED,
                result_type=UpdateResult,
            )
            await asyncio.wait_for(sink.holding.wait(), 30)  # the notify activity is running now
            posted_at = (await state_of(handle)).last_internal_update_at
            assert posted_at is not None
            due = posted_at + timedelta(seconds=6)  # the next 6-second prompt, counted from the update

            server.stop()
            stopped = time.time()
            assert due.timestamp() > stopped, "the prompt must still be pending when the server stops"
            await asyncio.sleep(DOWNTIME)  # the prompt falls due, and the channel post finishes, while it is down
            await server.start()
            restarted = time.time()
            assert due.timestamp() < restarted

            result = await asyncio.wait_for(
                handle.execute_update(
                    Update.APPROVE,
                    StepDecision(step_id=proposed.step_id, by="alice", reason="after the restart"),
                    result_type=UpdateResult,
                ),
                60,
            )
            assert "approved by alice" in result.message
            posted = await asyncio.wait_for(posting.result(), 90)
            assert posted.message.startswith("update:")

            async def prompted() -> None:  # an earlier prompt may have gone out before the server stopped
                after = [t for t in sink.delivered_at.get("ic_checklist", []) if t >= restarted]
                assert after, "the prompt due while the server was down has not fired"

            await assert_eventually(prompted, timeout=30)
            posts = sink.count("internal_update")
            print(
                f"\n[reliability] server down {restarted - stopped:.1f}s; the 6s prompt due meanwhile fired after "
                f"the restart; approval accepted after restart; the in-flight channel post's update returned after "
                f"restart (posted {posts}×: at least once)"
            )
            assert restarted - stopped >= DOWNTIME
            assert posts >= 1
            state = await state_of(handle)
            assert state.steps[0].status == "approved" and state.phase == "command"
    finally:
        server.stop()
