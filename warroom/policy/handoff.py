"""The on-call handoff brief: "new joiners briefed with a current state summary", and at incident
close "on-call brief for handoff (if > 4 hours)". The facts a long incident hands to the next
on-call, from its state alone (no timeline), so a phase can post them when the deadline fires."""

from __future__ import annotations

from datetime import datetime

from warroom.config import RunbookConfig
from warroom.enums import format_duration
from warroom.models import IncidentState
from warroom.policy.checklist import resolve_blockers
from warroom.policy.timers import pending_deadlines

HandoffFacts = dict[str, str | list[str]]


def _hm(at: datetime | None) -> str:
    return f"{at:%H:%M} UTC" if at else "never"


def status(state: IncidentState) -> str:
    """Where mitigation stands, in words with its time."""
    if state.resolved_at:
        return f"resolved at {_hm(state.resolved_at)}"
    if state.mitigated_at:
        return f"mitigated at {_hm(state.mitigated_at)} ({state.mitigation_action or 'mitigation'})"
    if state.mitigation_applied_at:
        return f"mitigating since {_hm(state.mitigation_applied_at)} ({state.mitigation_action}); clean window running"
    relapses = f", {state.checks.relapses} relapse(s) after mitigation" if state.checks.relapses else ""
    return f"investigating{relapses}"


def handoff_facts(state: IncidentState, runbook: RunbookConfig, now: datetime) -> HandoffFacts:
    """The current state for the next on-call: status, impact, open work, escalations, what comes next."""
    coming = [d for d in pending_deadlines(state, runbook) if d.at > now and d.kind != "handoff_brief"]
    return {
        "status": status(state),
        "started": _hm(state.impact_started_at or state.opened_at),
        "firing": list(state.firing_alerts[:5])
        + ([f"{len(state.firing_alerts) - 5} more"] if len(state.firing_alerts) > 5 else []),
        "last_update": _hm(state.last_internal_update_at),
        "pending": [f"{s.step_id} ({s.action} {s.target})" for s in state.pending_steps()],
        "escalated": list(state.escalated_to),
        "still_open": resolve_blockers(state, runbook, now) if state.mitigated_at and not state.resolved_at else [],
        "coming": [f"{d.kind.replace('_', ' ')} at {_hm(d.at)} ({format_duration(d.at - now)})" for d in coming[:3]],
    }


__all__ = ["HandoffFacts", "handoff_facts", "status"]
