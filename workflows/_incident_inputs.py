"""What reaches the incident from outside people's hands: alerts from the intake and the phases'
reports. `IncidentWorkflow` derives from this class (Temporal collects handlers from base classes
too), which keeps the handlers people call in workflows/incident.py and these apart."""

from __future__ import annotations

from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from warroom.enums import Phase
    from warroom.models import Alert, AlertReceipt, PhaseEvent
    from warroom.policy import authority, deadline_report
    from workflows import _changes as changes
    from workflows import _ledger as ledger
    from workflows import _step_ledger as steps
    from workflows._continuation import Continuation
    from workflows._patches import patched

COLLAPSE_FLAPPING = "collapse-flapping-alerts"
"""A flapping alert's changes past the first few in a window are counted in one timeline entry
(`workflows._ledger.FLAP_LISTED`). Asked only when that first happens: one marker, in flapping incidents only."""


class IncidentInputs(Continuation):
    """Alerts (`alert`, `ingest_alert`, `ingest_alerts`) and phase reports (`phase_event`, `phase_events`)."""

    _opened_by_alert: bool
    _forwarded: dict[str, Any] | None = None
    """What the running phase knows of the state (`ledger.phase_view`): a change to it is forwarded."""

    def _collapse_flapping(self) -> bool:
        return patched(COLLAPSE_FLAPPING)

    @workflow.signal(description="A new alert for this incident (firing or resolved).")
    def alert(self, alert: Alert) -> None:
        if self.state.phase == Phase.CLOSED:
            return
        changes.on_alert(self.state, self.runbook, alert, workflow.now(), self._collapse_flapping)

    @workflow.update(description="The intake's alert (update-with-start): returns once the alert is recorded.")
    def ingest_alert(self, alert: Alert) -> AlertReceipt:
        """Start the incident with no alert in its input and deliver the first one here, so every
        alert (the first included) is counted once and the caller gets a receipt from history."""
        return self._take_alert(alert)

    def _take_alert(self, alert: Alert) -> AlertReceipt:
        repeated = changes.on_alert(self.state, self.runbook, alert, workflow.now(), self._collapse_flapping)
        return AlertReceipt(
            incident_id=self.state.incident_id,
            workflow_id=self.state.workflow_id,
            phase=self.state.phase,
            severity=self.state.severity,
            alerts_received=self.state.alerts_received,
            new_incident=self._opened_by_alert and self.state.alerts_received == 1,
            repeated=repeated,
        )

    @ingest_alert.validator
    def _validate_ingest_alert(self, alert: Alert) -> None:
        self._check(authority.may_ingest_alert, self.state, alert)

    @workflow.update(description="A notification's alerts in one history event (update-with-start): a receipt each.")
    def ingest_alerts(self, alerts: list[Alert]) -> list[AlertReceipt]:
        return [self._take_alert(alert) for alert in alerts]

    @ingest_alerts.validator
    def _validate_ingest_alerts(self, alerts: list[Alert]) -> None:
        self._check(authority.may_ingest_alerts, self.state, alerts)

    @workflow.signal(description="Internal: a phase workflow reports a fired timer or a message sent.")
    def phase_event(self, event: PhaseEvent) -> None:
        if ledger.apply_phase_event(self.state, event, workflow.now()):
            self._publish()
        if event.propose and event.propose.entry:  # the rollback rule proposes through the catalog
            steps.take_proposal(self.state, self.runbook, event.propose)
            self.steps.start(event.propose.step_id)

    @workflow.signal(description="Internal: a phase's fired deadlines, from the activity that sent their messages.")
    def phase_events(self, events: list[PhaseEvent]) -> None:
        """Taken once (a retried activity sends it again); what the phase reported is not echoed back."""
        if deadline_report.repeated(self.state.fired, events):
            return
        before = ledger.phase_view(self.state)
        for event in events:
            self.phase_event(event)
        self._forwarded = ledger.known_to_reporter(self._forwarded, before, ledger.phase_view(self.state))
