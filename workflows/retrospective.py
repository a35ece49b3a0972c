"""Phase 5, Retrospective: the PIR is due within 5 business days of close; remind, then escalate.

The PIR completes through the entity's `complete_pir` update, which refuses a review with no
action items ("a review with no actions changes nothing").
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from warroom.enums import Phase
    from warroom.models import IncidentState, PhaseInput, PhaseResult
    from warroom.policy.timers import RETRO_KINDS
    from workflows._runtime import PhaseRuntime


@workflow.defn(name="RetrospectivePhase")
class RetrospectivePhase:
    @workflow.init
    def __init__(self, inp: PhaseInput) -> None:
        self.rt = PhaseRuntime(inp)

    @workflow.signal
    def incident_changed(self, state: IncidentState) -> None:
        self.rt.incident_changed(state)

    @workflow.run
    async def run(self, inp: PhaseInput) -> PhaseResult:
        def over() -> bool:
            s = self.rt.state
            return s.pir.completed_at is not None or s.phase == Phase.CLOSED

        await self.rt.run_deadlines(RETRO_KINDS, until=over)
        return PhaseResult(outcome="pir_completed")
