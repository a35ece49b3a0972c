"""Phase 4, Resolve: mitigation counts only after a clean window; then monitoring, then resolution.

The clean window restarts whenever an alert of the incident fires again. Once mitigated, the
incident keeps watching until resolution: an alert firing again or the error ratio back above
baseline pages the IC and re-opens mitigation. At the end of the monitoring period the channel
hears what was checked, and nothing it did not check. Cadences and the "without resolution"
escalations keep running until the IC declares resolution; then the resolved notice goes to the
channel and, for status-page severities, to the status page.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from warroom.contracts.metrics import CHECK_CLEAN_WINDOW, CleanWindowRequest
    from warroom.enums import Phase, format_duration
    from warroom.models import ChecksReport, IncidentState, PhaseEvent, PhaseInput, PhaseResult
    from warroom.policy.checklist import resolve_blockers
    from warroom.policy.clean_window import CleanWindowVerdict, clean_window_verdict, incident_deploy
    from warroom.policy.timers import LATE_KINDS, LIVE_KINDS, monitoring_key
    from workflows._activities import call
    from workflows._patches import patched
    from workflows._phase import PhaseWorkflow, reports_result
    from workflows._ticket import add_timeline


@workflow.defn(name="ResolvePhase")
class ResolvePhase(PhaseWorkflow):
    @workflow.init
    def __init__(self, inp: PhaseInput) -> None:
        super().__init__(inp)
        self._use_metrics: bool | None = None
        self._previous: tuple[datetime, datetime] | None = None  # (when checked, clean since) at the last check
        self._alerts_cleared = False
        self._watch = False  # watch for a relapse after mitigation (set in run)
        self._ask_ic: bool | None = None  # no metrics, no alerts: ask the IC (set when first needed)
        self._asked = False

    def _finished(self) -> bool:
        return self.rt.state.resolved_at is not None or self.rt.state.phase == Phase.CLOSED

    @workflow.run
    @reports_result
    async def run(self, inp: PhaseInput) -> PhaseResult:
        rt = self.rt
        # 👉 Incidents recorded before the relapse watch announced the monitoring period from the
        # deadline loop and stopped watching at mitigation.
        self._watch = patched("relapse-watch")
        kinds = LIVE_KINDS - {"monitoring_done"} if self._watch else LIVE_KINDS
        # 👉 Incidents recorded before had no resolution target page and no handoff brief.
        if patched("resolution-timers"):
            kinds |= LATE_KINDS
        cadences = asyncio.create_task(rt.run_deadlines(kinds, until=self._finished))
        await rt.notify("incident", "mitigation_applied")
        await self._clean_window()
        while self._watch and not self._finished() and await self._monitor():
            # A relapse re-opened mitigation: the next one is verified as the first was.
            await workflow.wait_condition(lambda: rt.state.mitigation_applied_at is not None or self._finished())
            if self._finished():
                break
            self._previous, self._alerts_cleared, self._asked = None, False, False
            await rt.notify("incident", "mitigation_applied")
            await self._clean_window()
        await cadences
        if rt.state.phase == Phase.CLOSED:
            return PhaseResult(outcome="closed")
        await rt.notify("incident", "resolved")
        # Everyone told of the incident (at start, by escalation, by a special case) hears it is over.
        if rt.state.escalated_to and patched("resolved-notice-to-stakeholders"):
            told = list(rt.state.escalated_to)
            sent = await rt.notify("stakeholders", "stakeholder_resolved", told)
            await rt.report(
                PhaseEvent(
                    kind="stakeholders_resolved",
                    message=f"resolved notice {'sent' if sent else 'not delivered'} to {', '.join(told)}",
                    data={"audience": ", ".join(told)},
                )
            )
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

    async def _metrics_verdict(
        self, last_alert: datetime | None, since: datetime | None = None
    ) -> CleanWindowVerdict | None:
        """The verdict from Prometheus on the samples after `since` (default: the mitigation);
        None (alerts only from then on) when no metrics source answers."""
        s, runbook = self.rt.state, self.rt.runbook
        since = since or s.mitigation_applied_at
        assert since is not None
        request = CleanWindowRequest(
            service=s.service,
            mitigation_applied_at=since,
            baseline_error_ratio=runbook.declare.user_error_ratio_above,
            window=runbook.resolve.clean_window,
            last_firing_alert_at=last_alert,
            deployed_at=incident_deploy(s.deployed_at, s.opened_at, runbook.rollback.deploy_within),
            baseline_tolerance=runbook.resolve.baseline_tolerance,
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

    async def _mitigated(self, evidence: str, by: str, baseline: str, verdict: CleanWindowVerdict) -> None:
        """Report verified mitigation; once the incident has it, tell the channel on what evidence."""
        rt = self.rt
        await rt.report(
            PhaseEvent(
                kind="mitigated",
                mitigated=True,
                message=f"{format_duration(rt.runbook.resolve.clean_window)} of clean metrics: {evidence}",
                data={"clean_since": verdict.clean_since.isoformat()},
                checks=ChecksReport(verified_by=by, baseline=baseline),
            )
        )
        await workflow.wait_condition(lambda: rt.state.mitigated_at is not None or self._finished())
        if rt.state.mitigated_at is not None:
            await rt.notify("incident", "mitigated", evidence=evidence)

    def _asks_ic(self) -> bool:
        """With no metrics source and no alert source, the IC's word verifies a mitigation, never silence."""
        if self._ask_ic is None:
            # 👉 Incidents recorded before this were mitigated by 5 minutes of silence.
            self._ask_ic = patched("unverifiable-mitigation")
        return self._ask_ic

    async def _confirmed_by_hand(self) -> bool:
        """Say the incident cannot verify itself and ask the IC; True once their confirmation (and
        the clean window since the mitigation) verified it. Until then the escalations keep running."""
        rt = self.rt
        s = rt.state
        ic = s.commander or "incident-commander"
        if not s.checks.cannot_verify and not self._asked:
            self._asked = True
            await rt.notify("incident", "cannot_verify", [ic])
            await rt.report(
                PhaseEvent(
                    kind="cannot_verify",
                    message="no metrics source and no alert source: warroom cannot verify the mitigation; "
                    f"asked {ic} to confirm errors are at baseline",
                    checks=ChecksReport(cannot_verify=True),
                )
            )
        who = s.checks.confirmed.get("errors_at_baseline")
        timeout = None
        if who and s.mitigation_applied_at:
            verdict = clean_window_verdict(
                now=workflow.now(),
                window=rt.runbook.resolve.clean_window,
                mitigation_applied_at=s.mitigation_applied_at,
                baseline_error_ratio=rt.runbook.declare.user_error_ratio_above,
                samples=[],
            )
            if verdict.clean:
                evidence = f"errors at baseline confirmed by {who} (no metrics source, no alert source)"
                await self._mitigated(evidence, who, "", verdict)
                return True
            timeout = verdict.remaining
        version = s.version
        try:
            await workflow.wait_condition(
                lambda: rt.state.version != version or self._finished(),
                timeout=timeout,
                timeout_summary="clean-metrics window",
            )
        except TimeoutError:
            pass
        return False

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
            self._use_metrics = patched("metrics-clean-window")
        while rt.state.mitigated_at is None and not self._finished():
            s = rt.state
            now = workflow.now()
            assert s.mitigation_applied_at is not None
            last_alert = now if s.firing_alerts else s.last_firing_alert_at
            verdict = await self._metrics_verdict(last_alert) if self._use_metrics else None
            source = f"error ratio at baseline ({verdict.baseline}) and no alert firing" if verdict else ""
            if verdict is None and not s.alerts_received and self._asks_ic():
                if await self._confirmed_by_hand():
                    return
                continue
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
                by = "metrics" if self._use_metrics else "alerts"
                baseline = verdict.baseline if self._use_metrics else ""
                await self._mitigated(f"{source} since {verdict.clean_since:%H:%M:%S} UTC", by, baseline, verdict)
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

    # --- After mitigation: the relapse watch and the monitoring period --------------------------------

    async def _monitor(self) -> bool:
        """Watch a verified mitigation until resolution; True when a relapse re-opened it.

        Any alert firing again is a relapse at once (alerts arrive as state changes). The error
        ratio is read every `watch_every` during the monitoring period and every
        `watch_every_after_monitoring` after it, each read covering the samples since the last.
        """
        rt = self.rt
        policy = rt.runbook.resolve
        await workflow.wait_condition(lambda: rt.state.mitigated_at is not None or self._finished())
        start = rt.state.mitigated_at
        if start is None:
            return False
        key = monitoring_key(rt.state)
        announced = key in rt.state.fired
        period_over = start + policy.monitoring_period
        reads, checked_until, next_read = 0, start, start + policy.watch_every
        baseline = rt.state.checks.baseline
        while not self._finished():
            s, now = rt.state, workflow.now()
            if s.firing_alerts:
                return await self._reopen_mitigation(f"{len(s.firing_alerts)} alert(s) firing again")
            if self._use_metrics and now >= next_read:
                verdict = await self._metrics_verdict(None, since=checked_until)
                if verdict is not None:
                    if verdict.clean_since > checked_until:
                        return await self._reopen_mitigation(
                            f"error ratio back above {verdict.baseline}: {verdict.reason}"
                        )
                    reads, checked_until, baseline = reads + 1, now, verdict.baseline
                next_read = now + (policy.watch_every if now < period_over else policy.watch_every_after_monitoring)
                continue
            if not announced and now >= period_over:
                await self._announce(key, reads, baseline)
                announced = True
            wake = [t for t, on in ((next_read, self._use_metrics), (period_over, not announced)) if on]
            version = s.version
            try:
                await workflow.wait_condition(
                    lambda: rt.state.version != version or self._finished(),
                    timeout=min(wake) - now if wake else None,
                    timeout_summary="relapse watch",
                )
            except TimeoutError:
                pass
        return False

    async def _reopen_mitigation(self, reason: str) -> bool:
        """A relapse after mitigation: the IC is paged, the channel told, and mitigation is open again."""
        rt = self.rt
        ic = rt.state.commander or "incident-commander"
        await rt.notify("page", "relapse", [ic], reason=reason)
        await rt.notify("incident", "relapse", [ic], reason=reason)
        before = rt.state.checks.relapses
        await rt.report(
            PhaseEvent(
                kind="mitigation_reopened",
                message=f"relapse after mitigation: {reason}; mitigation is open again",
                data={"audience": ic},
                checks=ChecksReport(reopen_mitigation=True),
            )
        )
        await workflow.wait_condition(lambda: rt.state.checks.relapses > before or self._finished())
        return True

    async def _announce(self, key: str, reads: int, baseline: str) -> None:
        """The monitoring period has run: say what was checked, what was not, and what is still open."""
        rt = self.rt
        s = rt.state
        checked, unchecked = [], []
        if reads:
            checked.append(f"error ratio read {reads} time(s), never above {baseline or 'baseline'}")
        else:
            unchecked.append("the error ratio (no metrics source answered)")
        if s.alerts_received:
            checked.append("no alert of this incident fired again")
        else:
            unchecked.append("alerts (none ever reached this incident)")
        summary = "; ".join(checked) or "nothing: no metrics source and no alert source"
        ic = s.commander or "incident-commander"
        await rt.notify(
            "incident",
            "monitoring_complete",
            [ic],
            checked=checked,
            unchecked=unchecked,
            still_open=resolve_blockers(s, rt.runbook, workflow.now()),
        )
        await rt.report(
            PhaseEvent(
                kind="monitoring_done",
                deadline_key=key,
                message=f"monitored for {format_duration(rt.runbook.resolve.monitoring_period)} since mitigation; "
                f"checked: {summary}",
                checks=ChecksReport(monitoring=summary),
            )
        )
