"""Between mitigation and resolution: the monitoring period and the post-mitigation checklist.

The IC script says "monitoring for 10 minutes before declaring resolved"; the war-room checklist
says what must hold first, in the seed's words:

  □ 5 minutes of clean metrics (errors at baseline)   the clean-metrics window verified it
  □ Synthetic monitors green                          no alert of a synthetic monitor firing
  □ No new customer reports                           a person confirms
  □ All debugging paths confirmed closed              no step left pending

`resolve_blockers` is what the `resolve` update refuses with (and `warroom resolve` prints); an
explicit override with a reason resolves anyway and is recorded.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict

from warroom.config import RunbookConfig
from warroom.enums import StepAction, format_duration
from warroom.models import Alert, Confirmable, IncidentState

CONFIRMABLE: dict[Confirmable, str] = {
    "errors_at_baseline": "errors at baseline",
    "synthetic_monitors_green": "synthetic monitors green",
    "no_customer_reports": "no new customer reports",
}
"""The checklist items a person confirms, and how the runbook words them."""


class CheckItem(BaseModel):
    """One line of the checklist: `detail` says how it was checked, or what closes it."""

    model_config = ConfigDict(extra="forbid")

    key: str
    label: str
    done: bool
    detail: str


def is_synthetic(alert: Alert, runbook: RunbookConfig) -> bool:
    """An alert from a synthetic monitor: it carries every label the runbook names for them."""
    wanted = runbook.resolve.synthetic_monitor_labels
    return all(alert.labels.get(key) == value for key, value in wanted.items())


def _confirm(state: IncidentState, item: Confirmable) -> str:
    return f"warroom update {state.incident_id} --confirm {item.replace('_', '-')}"


def _errors(state: IncidentState, runbook: RunbookConfig) -> CheckItem:
    label = f"{format_duration(runbook.resolve.clean_window)} of clean metrics (errors at baseline)"
    checks = state.checks
    if state.mitigated_at is not None:
        if checks.verified_by == "metrics":
            alerts = ", no alert firing" if state.alerts_received else ""
            detail = f"verified by the error ratio against the {checks.baseline or 'baseline'}{alerts}"
        elif checks.verified_by == "alerts":
            detail = "verified by alerts only (no metrics source answered)"
        elif checks.verified_by:
            detail = f"confirmed by {checks.verified_by} (no metrics source, no alert source)"
        else:
            detail = "verified"
        return CheckItem(key="errors_at_baseline", label=label, done=True, detail=detail)
    if state.mitigation_applied_at is None:
        detail = "no mitigation applied yet"
    elif checks.cannot_verify:
        detail = f"no metrics source and no alert source: the IC confirms ({_confirm(state, 'errors_at_baseline')})"
    else:
        detail = "the clean-metrics window is still running"
    return CheckItem(key="errors_at_baseline", label=label, done=False, detail=detail)


def _synthetic(state: IncidentState) -> CheckItem:
    label = "Synthetic monitors green"
    known = state.checks.synthetic
    if known:
        firing = [f for f in known if f in state.firing_alerts]
        detail = f"firing: {', '.join(firing)}" if firing else f"{len(known)} synthetic monitor alert(s), none firing"
        return CheckItem(key="synthetic_monitors_green", label=label, done=not firing, detail=detail)
    who = state.checks.confirmed.get("synthetic_monitors_green")
    if who:
        return CheckItem(key="synthetic_monitors_green", label=label, done=True, detail=f"confirmed by {who}")
    detail = f"no synthetic monitor reports to this incident: a person confirms ({_confirm(state, 'synthetic_monitors_green')})"
    return CheckItem(key="synthetic_monitors_green", label=label, done=False, detail=detail)


def _customers(state: IncidentState) -> CheckItem:
    label = "No new customer reports"
    who = state.checks.confirmed.get("no_customer_reports")
    if who:
        return CheckItem(key="no_customer_reports", label=label, done=True, detail=f"confirmed by {who}")
    detail = f"a person confirms ({_confirm(state, 'no_customer_reports')})"
    return CheckItem(key="no_customer_reports", label=label, done=False, detail=detail)


def _debugging_paths(state: IncidentState) -> CheckItem:
    label = "All debugging paths confirmed closed"
    pending = [s for s in state.pending_steps() if s.action != StepAction.CUSTOMER_EMAIL]
    if not pending:
        return CheckItem(key="debugging_paths", label=label, done=True, detail="no step pending")
    steps = ", ".join(f"{s.step_id} ({s.action} {s.target})" for s in pending)
    detail = f"pending: {steps}; the IC decides each: warroom approve|deny {state.incident_id} STEP --reason '...'"
    return CheckItem(key="debugging_paths", label=label, done=False, detail=detail)


def post_mitigation_checklist(state: IncidentState, runbook: RunbookConfig) -> list[CheckItem]:
    """The war-room checklist's "post-mitigation (before declaring resolved)" section, item by item."""
    return [_errors(state, runbook), _synthetic(state), _customers(state), _debugging_paths(state)]


def monitoring_left(state: IncidentState, runbook: RunbookConfig, now: datetime) -> timedelta | None:
    """How much of the monitoring period is still to run; None while mitigation is not verified."""
    if state.mitigated_at is None:
        return None
    return max(state.mitigated_at + runbook.resolve.monitoring_period - now, timedelta(0))


def resolve_blockers(state: IncidentState, runbook: RunbookConfig, now: datetime) -> list[str]:
    """What stands between a mitigated incident and its resolution, each with how to close it; [] when ready."""
    out: list[str] = []
    left = monitoring_left(state, runbook, now)
    if left:
        period = runbook.resolve.monitoring_period
        assert state.mitigated_at is not None
        out.append(
            f"monitoring: {format_duration(period - left)} of {format_duration(period)} since mitigation "
            f"(until {state.mitigated_at + period:%H:%M:%S} UTC)"
        )
    out += [f"{item.label}: {item.detail}" for item in post_mitigation_checklist(state, runbook) if not item.done]
    return out


__all__ = [
    "CONFIRMABLE",
    "CheckItem",
    "is_synthetic",
    "monitoring_left",
    "post_mitigation_checklist",
    "resolve_blockers",
]
