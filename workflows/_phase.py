"""The base of every phase workflow: its runtime, built from the input, and the parent's updates.

Temporal collects the handlers of a `@workflow.defn` class from its base classes too, so each phase
inherits `__init__` (`@workflow.init`) and the `incident_changed` and `runbook_adopted` signals from
here and defines only its `@workflow.run`, which must take the same `inp: PhaseInput` as `__init__`.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from warroom.config import RunbookConfig
    from warroom.models import IncidentState, PhaseInput
    from workflows._runtime import PhaseRuntime


class PhaseWorkflow:
    """Not a workflow type itself (no `@workflow.defn`): the five phases derive from it."""

    @workflow.init
    def __init__(self, inp: PhaseInput) -> None:
        self.rt = PhaseRuntime(inp)

    @workflow.signal(name="incident_changed")
    def incident_changed(self, state: IncidentState) -> None:
        """The parent's state changed: the phase acts on the newer copy."""
        self.rt.incident_changed(state)

    @workflow.signal(name="runbook_adopted")
    def runbook_adopted(self, runbook: RunbookConfig) -> None:
        """The incident adopted another runbook: the phase follows it, its deadlines re-planned at once."""
        self.rt.adopt(runbook)
