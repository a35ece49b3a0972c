"""Every history committed under tests/histories replays under the current workflow code.

A failure here means a change would break incidents already running in production: guard the
change with `workflow.patched(...)` instead of editing the old path.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from warroom.cli.backtest import run_of
from warroom.worker import workflow_runner
from workflows.registry import WORKFLOWS

HERE = Path(__file__).parent
CHAIN = sorted(HERE.joinpath("histories", "chain").glob("*.json"))
"""An incident that continued as new: each run, and the phases, one told to report to the next run."""
HISTORIES = (
    sorted(HERE.joinpath("histories").glob("*.json"))
    + CHAIN
    + sorted(HERE.joinpath("backtest", "drill").glob("*.json"))
)
"""The recorded incidents, the continued chain, and a recorded drill (real Prometheus readings and
Kubernetes calls)."""


def history_of(path: Path) -> WorkflowHistory:
    """A committed history under its workflow id: a chain's runs share one (`<id>.run<N>.json`), and
    the workflows derive their children's ids from it."""
    workflow_id, _ = run_of(path.stem)
    return WorkflowHistory.from_json(workflow_id, path.read_text())


def test_there_are_histories_to_replay() -> None:
    assert len(HISTORIES) >= 10, "record them with `python -m tests.record_histories`"


def test_the_chain_is_a_continued_incident_and_a_told_phase() -> None:
    """The chain's later run starts from the earlier one's hand-over, and a phase the first run started
    reports its end to the second (`python -m tests.record_histories --chain`)."""
    histories = {p.stem: WorkflowHistory.from_json(p.stem, p.read_text()) for p in CHAIN}
    first, second = histories["incident-order-api-continued.run1"], histories["incident-order-api-continued.run2"]
    assert first.events[-1].HasField("workflow_execution_continued_as_new_event_attributes")
    assert second.events[0].workflow_execution_started_event_attributes.continued_execution_run_id
    told = [
        e.signal_external_workflow_execution_initiated_event_attributes.signal_name
        for h in histories.values()
        if "--" in h.workflow_id
        for e in h.events
        if e.HasField("signal_external_workflow_execution_initiated_event_attributes")
    ]
    assert "phase_finished" in told
    signals = [e.workflow_execution_signaled_event_attributes.signal_name for e in second.events]
    assert "phase_finished" in signals


RUNNERS = {
    "sandboxed": lambda: workflow_runner(sandboxed=True),  # the worker's: domain modules passed through
    "strict": SandboxedWorkflowRunner,  # the SDK's default sandbox: every module re-imported and checked
    "unsandboxed": UnsandboxedWorkflowRunner,
}


@pytest.mark.parametrize("runner_name", list(RUNNERS))
@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_history_replays_under_current_code(path: Path, runner_name: str) -> None:
    """Every runner a worker may use (WARROOM_WORKFLOW_SANDBOX), and the SDK's strictest, make the same
    commands from the same history."""
    history = history_of(path)
    runner = RUNNERS[runner_name]()
    await Replayer(workflows=WORKFLOWS, data_converter=pydantic_data_converter, workflow_runner=runner).replay_workflow(
        history
    )
