"""The base of every phase workflow: its runtime, built from the input, and the parent's updates.

Temporal collects the handlers of a `@workflow.defn` class from its base classes too, so each phase
inherits `__init__` (`@workflow.init`) and the `incident_changed` and `runbook_adopted` signals from
here and defines only its `@workflow.run`, which must take the same `inp: PhaseInput` as `__init__`.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import TypeVar

from temporalio import workflow
from temporalio.exceptions import FailureError

with workflow.unsafe.imports_passed_through():
    from warroom.config import RunbookConfig
    from warroom.models import IncidentState, PhaseFinished, PhaseInput, PhaseResult
    from workflows._runtime import PhaseRuntime

W = TypeVar("W", bound="PhaseWorkflow")
PHASE_FINISHED = "phase_finished"
"""The incident's signal a phase sends at its end once told its parent continues as new."""
PARENT_CONTINUES = "parent_continues"
"""The phase's signal: the run that started it is about to continue as new (workflows._continuation)."""


def reports_result(
    run_fn: Callable[[W, PhaseInput], Awaitable[PhaseResult]],
) -> Callable[[W, PhaseInput], Awaitable[PhaseResult]]:
    """Wrap a phase's run so that, once told its parent continues as new, it tells the incident how
    it ended, by the incident's workflow id: that reaches the current run, which did not start this
    phase and so cannot await it. A phase never told ends as before. Put it under `@workflow.run`."""

    @functools.wraps(run_fn)
    async def run(self: W, inp: PhaseInput) -> PhaseResult:
        me = workflow.info().workflow_id
        try:
            result = await run_fn(self, inp)
        except FailureError as err:  # the phase fails (a bug in workflow code fails its task instead)
            if self.reports_to_later_runs:
                finished = PhaseFinished(workflow_id=me, failure=str(err) or type(err).__name__)
                await workflow.get_external_workflow_handle(inp.parent_workflow_id).signal(PHASE_FINISHED, finished)
            raise
        if self.reports_to_later_runs:
            finished = PhaseFinished(workflow_id=me, result=result)
            await workflow.get_external_workflow_handle(inp.parent_workflow_id).signal(PHASE_FINISHED, finished)
        return result

    return run


class PhaseWorkflow:
    """Not a workflow type itself (no `@workflow.defn`): the five phases derive from it."""

    reports_to_later_runs = False
    """Told by `parent_continues`: its end goes to the incident by signal (`reports_result`)."""

    @workflow.init
    def __init__(self, inp: PhaseInput) -> None:
        self.rt = PhaseRuntime(inp)

    @workflow.signal(name=PARENT_CONTINUES)
    def parent_continues(self) -> None:
        """The run that started this phase continues as new: report the end to whichever run is current."""
        self.reports_to_later_runs = True

    @workflow.signal(name="incident_changed")
    def incident_changed(self, state: IncidentState) -> None:
        """The parent's state changed: the phase acts on the newer copy."""
        self.rt.incident_changed(state)

    @workflow.signal(name="runbook_adopted")
    def runbook_adopted(self, runbook: RunbookConfig) -> None:
        """The incident adopted another runbook: the phase follows it, its deadlines re-planned at once."""
        self.rt.adopt(runbook)
