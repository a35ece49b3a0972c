"""Bounded histories: an incident past its history limit continues as new with nothing lost.

On the real dev server (which applies parent close policies, unlike the time-skipping one), with a
limit of 200 events: alerts arrive through the intake's own recorder (update-with-start, USE_EXISTING,
eight in flight), the incident continues as new in the middle of the storm, and afterwards its state,
its running phase and that phase's timers are whole; `warroom audit` reads every run as one
timeline, `--verify` replays them all, and the PIR draft sees the whole story.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.phases import phase_status
from tests.helpers import assert_eventually, failed_workflow_tasks, incident_input, not_yet, running_worker, state_of
from warroom.audit import audit_rows, incident_histories, run_histories, verify
from warroom.audit_at import state_at
from warroom.cli.backtest import CLOSED
from warroom.contracts.phases import PhaseStatus, PhaseStatusRequest
from warroom.enums import Phase, Role, Severity, Update
from warroom.incidents import Incidents, list_query
from warroom.intake.recorder import Prepared, Recorder
from warroom.models import Alert, AssignRole, Declare, ImpactSignals
from warroom.pir_draft import pir_draft
from warroom.report.collect import _latest_runs, read_state
from warroom.runbook import load_runbook

LIMIT = 200
REPAGE = timedelta(seconds=12)


def quick_runbook() -> Any:
    """The seed runbook with the on-call re-paged 12 s after opening: due after the switch."""
    base = load_runbook()
    return base.model_copy(
        update={
            "acknowledgement": base.acknowledgement.model_copy(
                update={"repage_after": REPAGE, "escalate_after": timedelta(minutes=30)}
            )
        }
    )


def quiet_alert(n: int) -> Alert:
    """Below every declare threshold: the incident stays in Detection, its ack timers running."""
    return Alert(
        fingerprint=f"fp-{n % 5}",
        summary=f"order-api error ratio up ({n % 5})",
        signals=ImpactSignals(user_error_ratio=0.004),
    )


def recorder(client: Client, queue: str) -> Recorder:
    async def factory() -> Client:
        return client

    return Recorder(factory, queue, timeout=30, closing_wait=5, publish_search_attributes=False)


async def test_an_alert_storm_continues_as_new_and_keeps_everything(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    begun = time.monotonic()
    client = dev_env.client
    async with running_worker(client, tmp_path) as harness:
        inp = incident_input(runbook=quick_runbook(), on_call="oncall-bob", commander="alice", history_limit=LIMIT)
        workflow_id = f"incident-{inp.incident_id}"
        rec = recorder(client, harness.queue)
        prepared = Prepared(source="generic", workflow_id=workflow_id, incident=inp, alerts=[])
        handle = client.get_workflow_handle(workflow_id)
        harness.handles.append(handle)

        spans: list[tuple[datetime, datetime]] = []

        wide = asyncio.Semaphore(8)

        async def one(n: int) -> None:
            async with wide:
                sent = datetime.now(UTC)
                await rec.record(dataclasses.replace(prepared, alerts=[quiet_alert(n)]))
                spans.append((sent, datetime.now(UTC)))

        async def send(batch: range) -> None:
            await asyncio.gather(*(one(n) for n in batch))

        await send(range(1))
        await handle.execute_update(
            Update.ASSIGN_ROLE, AssignRole(role=Role.COMMUNICATIONS_LEAD, person="carol", by="alice")
        )
        # The storm, in eight-wide waves: the switch happens while updates are in flight.
        await send(range(1, 160))
        runs = await run_histories(client, workflow_id)
        assert len(runs) >= 2, "the incident continued as new"
        # Updates were in flight across the switch: the server answers one that reaches a closing run
        # ResourceExhausted ("workflow is closing"), the client retries, and it lands on the next run.
        switches = [run.events[-1].event_time.ToDatetime(tzinfo=UTC) for run in runs[:-1]]
        assert any(sent < switch < done for switch in switches for sent, done in spans)
        for run in runs:
            # Past the limit, the run waits for a quiet point and tells its phase (two round trips):
            # the updates landing meanwhile (eight in flight here) are all the overshoot.
            assert len(run.events) < LIMIT + 100, "each run stays near the limit"
        state = await state_of(handle)
        assert state.alerts_received == 160, "every update-with-start landed, none twice"
        assert state.roles[Role.COMMUNICATIONS_LEAD] == "carol"
        assert state.phase == Phase.DETECTION
        assert [e.kind for e in state.timeline][0] == "opened", "the timeline starts at the first run's start"
        assert sorted(state.firing_alerts) == [f"fp-{i}" for i in range(5)]
        switched = time.monotonic() - begun
        assert switched < REPAGE.total_seconds(), f"the storm took {switched:.1f}s: the repage would not be after it"

        # The Detection phase the first run started keeps its timers: the repage fires once, after the switch.
        async def repaged() -> None:
            kinds = [e.kind for e in (await state_of(handle)).timeline]
            assert kinds.count("ack_repage") == 1 or not_yet()

        await assert_eventually(repaged, timeout=30)
        assert harness.sink.count("repage") == 1
        state = await state_of(handle)
        assert any(key.startswith("ack_repage") for key in state.fired)

        # The phase the first run started ends in a later run; the next phase starts from there.
        await handle.execute_update(Update.DECLARE, Declare(by="alice", severity=Severity.P2, reason="storm"))

        async def commanding() -> None:
            assert (await state_of(handle)).phase == Phase.COMMAND or not_yet()

        await assert_eventually(commanding, timeout=30)
        await asyncio.sleep(1)  # the channel and pages of Declare
        await send(range(160, 200))
        state = await state_of(handle)
        assert state.alerts_received == 200
        assert harness.sink.count("repage") == 1, "the repage fired once in all"

        # One incident across runs: the audit, its verification and the PIR draft read every run.
        histories = await incident_histories(client, workflow_id)
        runs = [h for h in histories if "--" not in h.workflow_id]
        assert len(runs) >= 2
        print("RUNS", [len(r.events) for r in runs], [len(h.events) for h in histories[len(runs) :]])
        assert await failed_workflow_tasks(client, workflow_id) == []
        rows = await audit_rows(histories, client.data_converter)
        summaries = [r.summary for r in rows]
        assert any("continued as new" in s for s in summaries)
        assert any("phase finished: " + workflow_id + "--detection: outcome=declared" in s for s in summaries)
        assert sum("alert firing" in s or "ingest_alert" in s for s in summaries) >= 200
        assert {r.workflow for r in rows} >= {"incident", "detection", "declare", "command"}
        checks = await verify(histories, converter=client.data_converter)
        assert [c.workflow_id for c in checks if not c.ok] == [], [c.problem for c in checks if not c.ok]
        assert len(checks) == len(histories)

        # The report counts the incident once, from its latest run, whose input carries the whole state.
        listed = [(wf.id, wf.status) async for wf in client.list_workflows(f"WorkflowId = '{workflow_id}'")]
        assert len(listed) == len(runs)
        assert await _latest_runs(client, listed) == [(workflow_id, WorkflowExecutionStatus.RUNNING)]
        assert (await read_state(client, workflow_id, completed=False)).alerts_received == 200
        # `warroom list --closed` and `warroom backtest` do not take a run that continued as new for a
        # closed incident: this one is still open in its latest run.
        ours = f"WorkflowId = '{workflow_id}'"
        assert [r.workflow_id for r in await Incidents(client).list(f"{list_query(open_=True)} AND {ours}")] == [
            workflow_id
        ]
        assert await Incidents(client).list(f"{list_query(open_=False)} AND {ours}") == []
        assert await Incidents(client).list(f"{CLOSED} AND {ours}") == []

        draft = pir_draft(state, inp.runbook)
        assert "incident opened" in draft and "declared P2" in draft

        # `audit --at` rebuilds the state from whichever run was current at the moment asked.
        opened = rows[0].at
        early = await state_at(histories, opened + timedelta(milliseconds=1), client.data_converter)
        assert early.alerts_received <= 1
        late = await state_at(histories, rows[-1].at, client.data_converter)
        assert late.alerts_received == 200
    assert time.monotonic() - begun < 60


async def test_a_phase_closed_by_hand_after_the_switch_fails_the_incident_instead_of_leaving_it_waiting(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """The continued run waits for the Detection phase's `phase_finished` signal, which a phase
    terminated by hand never sends: the run's probe (every second here, 15 minutes by default) finds it
    closed and the incident fails with `PhaseFailed`, as one whose own phase child is terminated does.
    While the phase runs, the probes change nothing."""
    client = dev_env.client
    async with running_worker(client, tmp_path) as harness:
        inp = incident_input(on_call="oncall-bob", history_limit=100, phase_probe_every=timedelta(seconds=1))
        workflow_id = f"incident-{inp.incident_id}"
        rec = recorder(client, harness.queue)
        prepared = Prepared(source="generic", workflow_id=workflow_id, incident=inp, alerts=[])
        handle = client.get_workflow_handle(workflow_id)
        phase = client.get_workflow_handle(f"{workflow_id}--detection")
        harness.handles += [handle, phase]
        await rec.record(dataclasses.replace(prepared, alerts=[quiet_alert(0)]))
        sent = 1
        while len(await run_histories(client, workflow_id)) < 2:
            assert sent < 300, "the incident never continued as new"
            batch = range(sent, sent + 8)
            await asyncio.gather(*(rec.record(dataclasses.replace(prepared, alerts=[quiet_alert(n)])) for n in batch))
            sent += 8

        async def probes() -> int:
            latest = (await run_histories(client, workflow_id))[-1]
            scheduled = [e.activity_task_scheduled_event_attributes for e in latest.events]
            return sum(a.activity_type.name == "phase_status" for a in scheduled)

        async def probed_twice() -> None:
            assert await probes() >= 2 or not_yet()

        await assert_eventually(probed_twice, timeout=20)
        assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
        assert (await phase.describe()).status == WorkflowExecutionStatus.RUNNING
        assert (await state_of(handle)).alerts_received == sent

        await phase.terminate("cleaned up by hand")

        async def failed() -> None:
            assert (await handle.describe()).status == WorkflowExecutionStatus.FAILED or not_yet()

        await assert_eventually(failed, timeout=20)
        with pytest.raises(WorkflowFailureError) as raised:
            await handle.result()
        cause = raised.value.cause
        assert isinstance(cause, ApplicationError) and cause.type == "PhaseFailed", cause
        assert f"{workflow_id}--detection failed: it closed (terminated) without reporting its end" in str(cause)
        assert await failed_workflow_tasks(client, workflow_id) == []
        histories = await incident_histories(client, workflow_id)
        checks = await verify(histories, converter=client.data_converter)
        assert [c.problem for c in checks if not c.ok] == []


async def test_the_probe_takes_a_phase_temporal_no_longer_knows_for_closed(dev_env: WorkflowEnvironment) -> None:
    """Its retention passed, the phase is as gone as one that ended: never `running`."""
    env = ActivityEnvironment(client=dev_env.client)
    status = await env.run(phase_status, PhaseStatusRequest(workflow_id="incident-never-was--command"))
    assert status == PhaseStatus(running=False, status="NOT_FOUND")
