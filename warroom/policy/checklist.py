"""Between mitigation and resolution: the monitoring period and the post-mitigation checklist.

The IC script says "monitoring for 10 minutes before declaring resolved"; the war-room checklist
lists what must hold first. `resolve_blockers` is what the `resolve` update refuses with (and
`warroom resolve` prints); an explicit override with a reason resolves anyway and is recorded.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from warroom.config import RunbookConfig
from warroom.enums import format_duration
from warroom.models import Confirmable, IncidentState

CONFIRMABLE: dict[Confirmable, str] = {
    "errors_at_baseline": "errors at baseline",
    "synthetic_monitors_green": "synthetic monitors green",
    "no_customer_reports": "no new customer reports",
}
"""The checklist items a person confirms, and how the runbook words them."""


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
    return out


__all__ = ["CONFIRMABLE", "monitoring_left", "resolve_blockers"]
