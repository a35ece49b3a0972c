"""An alert-opened incident, recorded here with the test rigs: the alert arrives as a signal and
declares it (a 6x burn held 10 minutes). Under its own runbook the backtest reproduces it; under a
declare threshold the burn does not meet, the incident stays in Detection and everything the
Declare phase did is "removed"."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from temporalio.client import WithStartWorkflowOperation, WorkflowHistory
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.testing import WorkflowEnvironment

from tests.helpers import assert_eventually, incident_input, running_worker, state_of
from warroom.audit import incident_histories
from warroom.backtest.compare import backtest_incident
from warroom.backtest.recording import record
from warroom.backtest.replay import Backtester
from warroom.client import DATA_CONVERTER
from warroom.config import RunbookConfig
from warroom.enums import Phase
from warroom.ids import incident_workflow_id
from warroom.models import Alert, ImpactSignals
from workflows.incident import IncidentWorkflow


async def recorded_alert_incident(env: WorkflowEnvironment, root: Path) -> list[WorkflowHistory]:
    async with running_worker(env.client, root) as harness:
        handle = await harness.start(incident_input())
        await env.sleep(timedelta(seconds=30))
        burn = ImpactSignals(burn_rate=6.0, burn_sustained=timedelta(minutes=10))
        await handle.signal("alert", Alert(fingerprint="burn-6x", summary="SLO burn 6x", signals=burn))

        async def in_command() -> None:
            assert (await state_of(handle)).phase == Phase.COMMAND

        await assert_eventually(in_command)
        await env.sleep(timedelta(minutes=2))
        return await incident_histories(env.client, handle.id)


async def test_a_declare_threshold_the_alert_does_not_meet_keeps_it_in_detection(
    skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    histories = await recorded_alert_incident(skipping_env, tmp_path)
    recording = await record(histories, DATA_CONVERTER)
    assert [(i.kind, i.name) for i in recording.inputs] == [("signal", "alert")]
    assert recording.ended_offset is None  # still open when it was read
    own = RunbookConfig.model_validate(recording.input["runbook"])
    stricter = own.model_dump(mode="json")
    stricter["declare"]["burn_rate_above"] = 10.0
    async with Backtester.start() as backtester:
        same = await backtest_incident(backtester, histories, own, DATA_CONVERTER)
        assert same.divergences == [] and same.differences == []
        result = await backtest_incident(backtester, histories, RunbookConfig.model_validate(stricter), DATA_CONVERTER)
    declared = [d for d in same.original if d.workflow == "declare" or d.key in ("phase:declare", "phase:command")]
    assert declared and any(d.kind == "status_page" for d in declared)
    removed = {(d.decision.workflow, d.decision.key) for d in result.differences if d.change == "removed"}
    assert {(d.workflow, d.key) for d in declared} <= removed
    assert not any(d.workflow in ("declare", "command") for d in result.backtest)
    assert result.divergences == []


async def test_an_incident_the_intake_opened_with_its_first_alert_reproduces(
    skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """The intake's update-with-start: the first alert is accepted in the incident's first task."""
    burn = ImpactSignals(burn_rate=6.0, burn_sustained=timedelta(minutes=10))
    alert = Alert(fingerprint="burn-6x", summary="SLO burn 6x", signals=burn)
    async with running_worker(skipping_env.client, tmp_path) as harness:
        inp = incident_input()
        start = WithStartWorkflowOperation(
            IncidentWorkflow.run,
            inp,
            id=incident_workflow_id(inp.incident_id),
            task_queue=harness.queue,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        )
        await skipping_env.client.execute_update_with_start_workflow(
            IncidentWorkflow.ingest_alert, alert, start_workflow_operation=start
        )
        handle = await start.workflow_handle()
        harness.handles.append(handle)
        await skipping_env.sleep(timedelta(minutes=3))
        histories = await incident_histories(skipping_env.client, handle.id)
    recording = await record(histories, DATA_CONVERTER)
    assert recording.inputs[0].name == "ingest_alert" and recording.inputs[0].offset < 1.0
    async with Backtester.start() as backtester:
        same = await backtest_incident(
            backtester, histories, RunbookConfig.model_validate(recording.input["runbook"]), DATA_CONVERTER
        )
    assert same.divergences == [] and same.differences == []
    assert any(d.key == "phase:command" for d in same.backtest)
