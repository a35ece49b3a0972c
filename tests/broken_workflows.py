"""A deliberately non-deterministic edit, for the replay-verification test (its own module: the
workflow sandbox re-imports the module that defines a workflow)."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from warroom.models import PhaseInput, PhaseResult


@workflow.defn(name="DeclarePhase")
class DeclarePhaseThatForgotTheChannel:
    """The Declare phase no longer opens the channel first: old histories must not replay."""

    @workflow.signal
    def incident_changed(self, state: object) -> None: ...

    @workflow.run
    async def run(self, inp: PhaseInput) -> PhaseResult:
        return PhaseResult(outcome="declared")
