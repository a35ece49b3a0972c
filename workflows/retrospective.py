"""Phase 5, Retrospective: the PIR is due within 5 business days of close; remind, then escalate.

The PIR completes through the entity's `complete_pir` update, which refuses a review with no
action items ("a review with no actions changes nothing"); each action item is then tracked to
done, with a reminder before its due date and an escalation when it passes.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from warroom.enums import Phase
    from warroom.models import IncidentState, PhaseInput, PhaseResult
    from warroom.policy.timers import ACTION_KINDS, RETRO_KINDS
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
        if self.rt.state.phase == Phase.CLOSED:
            return PhaseResult(outcome="closed")
        # 👉 Incidents recorded before action items were tracked ended here; replay keeps them so.
        if workflow.patched("track-action-items"):
            def all_done() -> bool:
                s = self.rt.state
                return s.phase == Phase.CLOSED or all(item.done_at for item in s.pir.action_items)

            await self.rt.run_deadlines(ACTION_KINDS, until=all_done)
            return PhaseResult(outcome="action_items_done")
        return PhaseResult(outcome="pir_completed")
