"""A workflow instance rebuilt from its history: replayed through the current workflow code with no
worker and no server, and kept, so its queries can be asked (`warroom audit --at`, `warroom report`)."""

from __future__ import annotations

from typing import Any

from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.converter import DataConverter
from temporalio.worker import (
    ExecuteWorkflowInput,
    Interceptor,
    Replayer,
    UnsandboxedWorkflowRunner,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
)


class ReplayFailed(Exception):
    """The history does not replay under the current code (or never started the workflow)."""


async def replayed_instance(history: WorkflowHistory, converter: DataConverter) -> Any:
    """The workflow instance `history` leaves behind, replayed unsandboxed. Raises ReplayFailed."""
    kept: list[Any] = []

    class Keep(WorkflowInboundInterceptor):
        async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
            kept.append(workflow.instance())
            return await super().execute_workflow(input)

    class KeepInstance(Interceptor):
        def workflow_interceptor_class(
            self, input: WorkflowInterceptorClassInput
        ) -> type[WorkflowInboundInterceptor] | None:
            return Keep

    from workflows.registry import WORKFLOWS  # replay loads the workflows: only when needed

    replayer = Replayer(
        workflows=list(WORKFLOWS),
        data_converter=converter,
        workflow_runner=UnsandboxedWorkflowRunner(),
        interceptors=[KeepInstance()],
    )
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    if result.replay_failure is not None:
        raise ReplayFailed(str(result.replay_failure))
    if not kept:
        raise ReplayFailed("the replay never started the workflow")
    return kept[0]
