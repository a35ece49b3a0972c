"""Restart the Temporal dev server (same database file) while a timer and an approval are pending:
the timer still fires (late by at most the downtime + 2 s) and the approval is accepted after."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests.devserver import DevServer
from tests.helpers import assert_eventually, incident_input, running_worker, state_of
from warroom.client import connect
from warroom.config import load_runbook
from warroom.settings import Settings
from warroom.enums import Severity
from warroom.models import ProposeStep, StepDecision, UpdateResult

pytestmark = pytest.mark.e2e
DOWNTIME = 8.0


async def test_timers_and_approvals_survive_a_server_restart(tmp_path: Path) -> None:
    server = DevServer(tmp_path / "temporal.db")
    await server.start()
    client = await connect(Settings(temporal_address=f"127.0.0.1:{server.port}"), wait=30)  # frontend may still be starting
    base = load_runbook()
    runbook = base.model_copy(update={"comms": base.comms.model_copy(update={"internal_update_every": timedelta(seconds=12)})})
    try:
        async with running_worker(client, tmp_path) as harness:
            handle = await harness.start(incident_input(runbook=runbook, declared=True, declared_by="alice",
                                                        severity=Severity.P3, commander="alice",
                                                        publish_search_attributes=True))
            proposed = await handle.execute_update("propose_step", ProposeStep(by="alice", action="page", target="dba"),
                                                   result_type=UpdateResult)
            declared_at = (await state_of(handle)).declared_at
            assert declared_at is not None
            due = declared_at + timedelta(seconds=12)

            await asyncio.sleep(2)
            server.stop()
            stopped = time.monotonic()
            await asyncio.sleep(DOWNTIME)  # the 12-second prompt falls due while the server is down
            await server.start()
            downtime = time.monotonic() - stopped

            result = await asyncio.wait_for(handle.execute_update(
                "approve", StepDecision(step_id=proposed.step_id, by="alice", reason="after the restart"),
                result_type=UpdateResult), 60)
            assert "approved by alice" in result.message

            async def prompted() -> None:
                assert harness.sink.count("ic_checklist") == 1
            await assert_eventually(prompted, timeout=30)
            fired_at = datetime.now(timezone.utc)
            lateness = (fired_at - due).total_seconds()
            print(f"\n[reliability] server down {downtime:.1f}s; 12s prompt fired {lateness:.1f}s late "
                  f"(bound {downtime + 2:.1f}s); approval accepted after restart")
            assert lateness <= downtime + 2
            state = await state_of(handle)
            assert state.steps[0].status == "approved" and state.phase == "command"
    finally:
        server.stop()
