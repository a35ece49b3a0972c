"""Phase 3, Command: the cadences and the escalation matrix run until mitigation is applied.

Internal update prompt every 15 min with the IC checklist, status page reminder before the
30-min external cadence, an automatic "still investigating" after 30 min of public silence,
escalation to the team lead and the VP notice per severity. A severity change re-plans them.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from warroom.enums import Phase
    from warroom.models import IncidentState, PhaseInput, PhaseResult
    from warroom.policy.timers import LIVE_KINDS
    from workflows._runtime import PhaseRuntime


@workflow.defn(name="CommandPhase")
class CommandPhase:
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
            return s.mitigation_applied_at is not None or s.resolved_at is not None or s.phase == Phase.CLOSED

        await self.rt.run_deadlines(LIVE_KINDS, until=over)
        return PhaseResult(outcome="mitigation_applied")
