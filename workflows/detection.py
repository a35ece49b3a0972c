"""Phase 1, Detection: the on-call acknowledges within the SLA, or is re-paged, then escalated.

Ends when the incident is declared (by a person, or by an alert that meets the declare
criteria; the entity decides) or when the alert resolves before anyone declared it.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from warroom.enums import Phase
    from warroom.models import PhaseInput, PhaseResult
    from warroom.policy.timers import ACK_KINDS
    from workflows._phase import PhaseWorkflow, reports_result


@workflow.defn(name="DetectionPhase")
class DetectionPhase(PhaseWorkflow):
    @workflow.run
    @reports_result
    async def run(self, inp: PhaseInput) -> PhaseResult:
        def over() -> bool:
            s = self.rt.state
            return s.declared_at is not None or s.phase == Phase.CLOSED or s.dismissed

        await self.rt.run_deadlines(ACK_KINDS, until=over)
        if self.rt.state.declared_at is not None:
            return PhaseResult(outcome="declared")
        return PhaseResult(outcome="dismissed", message="the alert resolved before anyone declared an incident")
