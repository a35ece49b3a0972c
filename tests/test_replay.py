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

from warroom.worker import workflow_runner
from workflows.registry import WORKFLOWS

HERE = Path(__file__).parent
HISTORIES = sorted(HERE.joinpath("histories").glob("*.json")) + sorted(
    HERE.joinpath("backtest", "drill").glob("*.json")
)
"""The recorded incidents, and a recorded drill (real Prometheus readings and Kubernetes calls)."""


def test_there_are_histories_to_replay() -> None:
    assert len(HISTORIES) >= 10, "record them with `python -m tests.record_histories`"


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
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    runner = RUNNERS[runner_name]()
    await Replayer(workflows=WORKFLOWS, data_converter=pydantic_data_converter, workflow_runner=runner).replay_workflow(
        history
    )
