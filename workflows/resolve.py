"""Phase 4, Resolve: mitigation counts only after a clean window; then monitoring, then resolution.

The clean window restarts whenever an alert of the incident fires again. Cadences and the
"without resolution" escalations keep running until the IC declares resolution; then the
resolved notice goes to the channel and, for status-page severities, to the status page.
"""

from __future__ import annotations

import asyncio

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from warroom.enums import Phase, format_duration
    from warroom.models import IncidentState, PhaseEvent, PhaseInput, PhaseResult
    from warroom.policy.clean_window import clean_window_verdict
    from warroom.policy.timers import LIVE_KINDS
    from workflows._runtime import PhaseRuntime


@workflow.defn(name="ResolvePhase")
class ResolvePhase:
    @workflow.init
    def __init__(self, inp: PhaseInput) -> None:
        self.rt = PhaseRuntime(inp)

    @workflow.signal
    def incident_changed(self, state: IncidentState) -> None:
        self.rt.incident_changed(state)

    def _finished(self) -> bool:
        return self.rt.state.resolved_at is not None or self.rt.state.phase == Phase.CLOSED

    @workflow.run
    async def run(self, inp: PhaseInput) -> PhaseResult:
        rt = self.rt
        cadences = asyncio.create_task(rt.run_deadlines(LIVE_KINDS, until=self._finished))
        await rt.notify("incident", "mitigation_applied")
        await self._clean_window()
        await cadences
        if rt.state.phase == Phase.CLOSED:
            return PhaseResult(outcome="closed")
        await rt.notify("incident", "resolved")
        if rt.state.severity in rt.runbook.comms.status_page_for:
            posted = await rt.notify("status_page", "status_resolved", ["status-page"], public=True)
            await rt.report(PhaseEvent(kind="status_page_resolved", message="resolved notice posted to the status page",
                                       public_post=posted is not None))
        return PhaseResult(outcome="resolved")

    async def _clean_window(self) -> None:
        """Wait until the window has been clean for its whole length, then report mitigation."""
        rt = self.rt
        window = rt.runbook.resolve.clean_window
        while rt.state.mitigated_at is None and not self._finished():
            s = rt.state
            now = workflow.now()
            assert s.mitigation_applied_at is not None
            verdict = clean_window_verdict(
                now=now, window=window, mitigation_applied_at=s.mitigation_applied_at,
                baseline_error_ratio=rt.runbook.declare.user_error_ratio_above, samples=[],
                last_firing_alert_at=now if s.firing_alerts else s.last_firing_alert_at)
            if verdict.clean:
                evidence = f"no alert firing since {verdict.clean_since:%H:%M:%S} UTC"
                await rt.report(PhaseEvent(kind="mitigated", mitigated=True,
                                           message=f"{format_duration(window)} of clean metrics: {evidence}",
                                           data={"clean_since": verdict.clean_since.isoformat()}))
                await workflow.wait_condition(lambda: rt.state.mitigated_at is not None or self._finished())
                if rt.state.mitigated_at is not None:
                    await rt.notify("incident", "mitigated", evidence=evidence)
                return
            version = s.version
            try:
                await workflow.wait_condition(lambda: rt.state.version != version or self._finished(),
                                              timeout=verdict.remaining, timeout_summary="clean-metrics window")
            except asyncio.TimeoutError:
                pass
