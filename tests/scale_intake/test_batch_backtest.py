"""An incident the intake opened with a notification's alerts in one update-with-start backtests:
the recording's first input is that `ingest_alerts`, and under its own runbook the run reproduces it."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from temporalio.client import WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.testing import WorkflowEnvironment

from tests.helpers import incident_input, running_worker
from warroom.audit import incident_histories
from warroom.backtest.compare import backtest_incident
from warroom.backtest.recording import record
from warroom.backtest.replay import Backtester
from warroom.client import DATA_CONVERTER
from warroom.config import RunbookConfig
from warroom.ids import incident_workflow_id
from warroom.models import Alert, ImpactSignals
from workflows.incident import IncidentWorkflow


async def test_an_incident_opened_by_a_batch_reproduces(skipping_env: WorkflowEnvironment, tmp_path: Path) -> None:
    burn = ImpactSignals(burn_rate=6.0, burn_sustained=timedelta(minutes=10))
    alerts = [
        Alert(fingerprint="burn-6x", summary="SLO burn 6x", signals=burn),
        Alert(fingerprint="pod-2", summary="Order API returning 503s"),
        Alert(fingerprint="pod-1", summary="Order API returning 503s", firing=False),
    ]
    async with running_worker(skipping_env.client, tmp_path) as harness:
        inp = incident_input()
        start = WithStartWorkflowOperation(
            IncidentWorkflow.run,
            inp,
            id=incident_workflow_id(inp.incident_id),
            task_queue=harness.queue,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        )
        receipts = await skipping_env.client.execute_update_with_start_workflow(
            IncidentWorkflow.ingest_alerts, alerts, start_workflow_operation=start
        )
        assert [r.alerts_received for r in receipts] == [1, 2, 3]
        handle = await start.workflow_handle()
        harness.handles.append(handle)
        await skipping_env.sleep(timedelta(minutes=3))
        histories = await incident_histories(skipping_env.client, handle.id)
    recording = await record(histories, DATA_CONVERTER)
    assert recording.inputs[0].name == "ingest_alerts" and recording.inputs[0].offset < 1.0
    assert len(recording.inputs[0].args[0]) == 3
    async with Backtester.start() as backtester:
        same = await backtest_incident(
            backtester, histories, RunbookConfig.model_validate(recording.input["runbook"]), DATA_CONVERTER
        )
    assert same.divergences == [] and same.differences == []
    assert any(d.key == "phase:command" for d in same.backtest), "the batch's burn alert declared it"
    assert any(d.key == "update:ingest_alerts:" for d in same.backtest)
