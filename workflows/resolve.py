"""Phase 4, Resolve: mitigation counts only after a clean window; then monitoring, then resolution.

The clean window restarts whenever an alert of the incident fires again. Cadences and the
"without resolution" escalations keep running until the IC declares resolution; then the
resolved notice goes to the channel and, for status-page severities, to the status page.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from warroom.contracts.metrics import CHECK_CLEAN_WINDOW, CleanWindowRequest
    from warroom.enums import Phase, format_duration
    from warroom.models import IncidentState, PhaseEvent, PhaseInput, PhaseResult
    from warroom.policy.clean_window import CleanWindowVerdict, clean_window_verdict
    from warroom.policy.timers import LIVE_KINDS
    from workflows._activities import call
    from workflows._phase import PhaseWorkflow
    from workflows._ticket import add_timeline


@workflow.defn(name="ResolvePhase")
class ResolvePhase(PhaseWorkflow):
    @workflow.init
    def __init__(self, inp: PhaseInput) -> None:
        super().__init__(inp)
        self._use_metrics: bool | None = None
        self._previous: tuple[datetime, datetime] | None = None  # (when checked, clean since) at the last check
        self._alerts_cleared = False

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
        # Whatever said something publicly (a P3 with a public update, a downgraded P1) says "resolved" too.
        if rt.state.severity in rt.runbook.comms.status_page_for or rt.state.last_external_update_at is not None:
            posted = await rt.notify("status_page", "status_resolved", ["status-page"], public=True)
            await rt.report(
                PhaseEvent(
                    kind="status_page_resolved",
                    message="resolved notice posted to the status page",
                    public_post=posted is not None,
                )
            )
        await add_timeline(rt)  # the close checklist's "incident ticket updated with timeline"
        return PhaseResult(outcome="resolved")

    async def _metrics_verdict(self, last_alert: datetime | None) -> CleanWindowVerdict | None:
        """The verdict from Prometheus; None (alerts only from then on) when no metrics source answers."""
        s = self.rt.state
        assert s.mitigation_applied_at is not None
        request = CleanWindowRequest(
            service=s.service,
            mitigation_applied_at=s.mitigation_applied_at,
            baseline_error_ratio=self.rt.runbook.declare.user_error_ratio_above,
            window=self.rt.runbook.resolve.clean_window,
            last_firing_alert_at=last_alert,
        )
        try:
            return await call(CHECK_CLEAN_WINDOW, request, summary="clean-metrics window")
        except ActivityError as err:
            self._use_metrics = False
            await self.rt.report(
                PhaseEvent(
                    kind="metrics_unavailable", message=f"clean window judged by alerts only: {err.cause or err}"
                )
            )
            return None

    def _relapsed(self, s: IncidentState, now: datetime, clean_since: datetime) -> bool:
        """Errors came back after the window had been seen clean — not errors still draining away.

        By alerts: an alert fires again after every alert had cleared since mitigation. By metrics:
        the last check had seen at least half the window clean, and the clean stretch restarted.
        """
        if not s.firing_alerts:
            self._alerts_cleared = True
        elif (
            self._alerts_cleared
            and s.last_firing_alert_at
            and s.mitigation_applied_at
            and s.last_firing_alert_at > s.mitigation_applied_at
        ):
            self._alerts_cleared = False
            return True
        if self._previous is None:
            return False
        checked, previous_clean_since = self._previous
        seen_clean = checked - previous_clean_since >= self.rt.runbook.resolve.clean_window / 2
        return seen_clean and clean_since > previous_clean_since

    async def _relapse(self, reason: str) -> None:
        """Errors came back inside the window: it starts again, and the matrix's escalation target hears of it."""
        rt = self.rt
        to = [rt.runbook.severity_matrix[rt.state.severity].escalate_to] if rt.state.severity else []
        await rt.notify("page", "escalation", to, reason=f"relapse after mitigation: {reason}")
        await rt.report(
            PhaseEvent(kind="relapse", message=f"relapse inside the clean window: {reason}", escalated_to=to)
        )

    async def _clean_window(self) -> None:
        """Wait until the window has been clean for its whole length, then report mitigation."""
        rt = self.rt
        window = rt.runbook.resolve.clean_window
        if self._use_metrics is None:
            # 👉 Incidents recorded before Prometheus judged the window replay on the alerts-only path.
            self._use_metrics = workflow.patched("metrics-clean-window")
        while rt.state.mitigated_at is None and not self._finished():
            s = rt.state
            now = workflow.now()
            assert s.mitigation_applied_at is not None
            last_alert = now if s.firing_alerts else s.last_firing_alert_at
            verdict = await self._metrics_verdict(last_alert) if self._use_metrics else None
            source = "error ratio at baseline and no alert firing"
            if verdict is None:
                verdict = clean_window_verdict(
                    now=now,
                    window=window,
                    mitigation_applied_at=s.mitigation_applied_at,
                    baseline_error_ratio=rt.runbook.declare.user_error_ratio_above,
                    samples=[],
                    last_firing_alert_at=last_alert,
                )
                source = "no alert firing"
            if self._relapsed(s, now, verdict.clean_since):
                await self._relapse(verdict.reason)
            self._previous = (now, verdict.clean_since)
            if verdict.clean:
                evidence = f"{source} since {verdict.clean_since:%H:%M:%S} UTC"
                await rt.report(
                    PhaseEvent(
                        kind="mitigated",
                        mitigated=True,
                        message=f"{format_duration(window)} of clean metrics: {evidence}",
                        data={"clean_since": verdict.clean_since.isoformat()},
                    )
                )
                await workflow.wait_condition(lambda: rt.state.mitigated_at is not None or self._finished())
                if rt.state.mitigated_at is not None:
                    await rt.notify("incident", "mitigated", evidence=evidence)
                return
            version = s.version
            try:
                await workflow.wait_condition(
                    lambda: rt.state.version != version or self._finished(),
                    timeout=verdict.remaining,
                    timeout_summary="clean-metrics window",
                )
            except TimeoutError:
                pass
