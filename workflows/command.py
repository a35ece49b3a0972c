"""Phase 3, Command: the cadences and the escalation matrix run until mitigation is applied.

Internal update prompt every 15 min with the IC checklist, status page reminder before the
30-min external cadence, an automatic "still investigating" after 30 min of public silence,
escalation to the team lead and the VP notice per severity. A severity change re-plans them.
"""

from __future__ import annotations

import asyncio

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from warroom.enums import Phase
    from warroom.models import PhaseInput, PhaseResult
    from warroom.policy.timers import IC_SILENCE_KINDS, LATE_KINDS, LIVE_KINDS, WAR_ROOM_KINDS
    from workflows._diagnosis import run_diagnosis
    from workflows._patches import patched
    from workflows._phase import PhaseWorkflow, reports_result
    from workflows._rollback import RollbackProposal
    from workflows._runtime import run_alongside


@workflow.defn(name="CommandPhase")
class CommandPhase(PhaseWorkflow):
    @workflow.run
    @reports_result
    async def run(self, inp: PhaseInput) -> PhaseResult:
        def over() -> bool:
            s = self.rt.state
            return s.mitigation_applied_at is not None or s.resolved_at is not None or s.phase == Phase.CLOSED

        kinds = set(LIVE_KINDS)
        # 👉 Incidents recorded before the IC was prompted for roles and setup replay without it.
        if patched("war-room-prompts"):
            kinds |= WAR_ROOM_KINDS
        # 👉 Likewise before a silent IC notified the team lead and no progress posted the stuck line.
        if patched("silent-ic"):
            kinds |= IC_SILENCE_KINDS
        # 👉 Incidents recorded before had no handoff brief for a long incident.
        if patched("resolution-timers"):
            kinds |= LATE_KINDS
        cadences = asyncio.create_task(self.rt.run_deadlines(kinds, until=over))
        target = self.rt.state.target
        # 👉 Incidents without a Deployment, or recorded before the rule ran here, never call patched().
        helpers: list[asyncio.Task[None]] = []
        if target and patched("rollback-rule"):
            helpers.append(asyncio.create_task(RollbackProposal(self.rt, target).run()))
        if target and patched("diagnosis"):
            helpers.append(asyncio.create_task(run_diagnosis(self.rt, target)))
        await run_alongside(cadences, helpers)  # mitigation by hand first: the helpers have nothing left to do
        return PhaseResult(outcome="mitigation_applied")
