"""The incident ticket: opened at declaration and linked in the channel; the timeline added at resolution.

The seed's war-room checklist asks for "Incident ticket created (link in channel)" and, at close,
"Incident ticket updated with timeline". Both are the notify activity on the `ticket` channel
(`warroom.contracts.ticket`): Jira, GitHub or a local ticket file, whichever the worker routes
tickets to. A ticket that cannot be written is reported and said in the channel, never fatal, and
with the ticket contract's retry it holds its phase up for about a minute at most.

Phases see the incident without its timeline (only the incident workflow keeps it), so the
timeline added here is rebuilt from the state: milestones, alerts, steps and the MTTx rows.
"""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from warroom.config import RunbookConfig
    from warroom.contracts.ticket import CHANNEL, OPEN, TICKET, TIMELINE, TicketRef
    from warroom.enums import format_duration
    from warroom.messages import ContextValue, internal_context
    from warroom.models import IncidentState, Notification, PhaseEvent
    from warroom.policy.mttx import mttx
    from workflows._activities import call
    from workflows._patches import patched
    from workflows._runtime import PhaseRuntime


async def open_ticket(rt: PhaseRuntime) -> None:
    """Declare: open the incident's ticket (a retry finds the one already opened) and post its link."""
    # 👉 Incidents declared before tickets existed replay without one.
    if not patched("incident-ticket"):
        return
    ref = await _deliver(rt, OPEN, "opened", opened_at=_at(rt.state.opened_at))
    if ref is None:
        return
    await rt.report(PhaseEvent(kind="ticket_opened", message=f"incident ticket {ref.key} opened", data=_data(ref)))
    await rt.notify("incident", "ticket_link", ticket_key=ref.key, ticket_url=ref.url)


async def add_timeline(rt: PhaseRuntime) -> None:
    """Resolution: add the timeline to the ticket (opening one if declaration could not)."""
    # 👉 Incidents resolved before tickets existed replay without the timeline.
    if not patched("incident-ticket-timeline"):
        return
    extra = timeline_context(rt.state, rt.runbook, workflow.now())
    ref = await _deliver(rt, TIMELINE, "updated with the timeline", **extra)
    if ref is not None:
        await rt.report(
            PhaseEvent(kind="ticket_updated", message=f"timeline added to incident ticket {ref.key}", data=_data(ref))
        )


def timeline_context(state: IncidentState, runbook: RunbookConfig, now: datetime) -> dict[str, ContextValue]:
    """What `ticket_timeline` adds to the incident's context."""
    return {
        "resolved_at": _at(state.resolved_at or now),
        "timeline": timeline(state, restricted=_restricted(state, runbook)),
        "mttx": mttx_lines(state, runbook),
        "escalated": ", ".join(state.escalated_to),
        "vendor_ticket": state.vendor_ticket,
    }


def timeline(state: IncidentState, restricted: bool = False) -> list[str]:
    """What happened when, oldest first. `restricted` (security): times and people, no details."""
    events: list[tuple[datetime, str]] = []

    def add(at: datetime | None, text: str) -> None:
        if at is not None:
            events.append((at, text))

    add(state.impact_started_at, "impact began (the first alert's start)")
    add(state.opened_at, "incident opened")
    add(state.declared_at, f"declared {state.severity.value if state.severity else ''}".rstrip())
    add(state.acknowledged_at, f"page acknowledged by {state.acknowledged_by or '?'}")
    if not restricted:
        for alert in state.recent_alerts:
            add(alert.at, f"alert {'firing' if alert.firing else 'resolved'}: {alert.summary}")
    for step in state.steps:
        what = step.action if restricted else f"{step.action} {step.target}"
        add(step.proposed_at, f"step {step.step_id} proposed by {step.proposed_by}: {what}")
        verdict = "denied" if step.status == "denied" else "approved"
        outcome = f" ({step.status})" if step.status in ("done", "failed") else ""
        add(step.decided_at, f"step {step.step_id} {verdict} by {step.decided_by or '?'}{outcome}")
    action = "" if restricted or not state.mitigation_action else f": {state.mitigation_action}"
    add(state.mitigation_applied_at, f"mitigation applied{action}")
    add(state.mitigated_at, "mitigated: the clean-metrics window held")
    add(state.resolved_at, "resolved")
    events.sort(key=lambda event: event[0])
    return [f"{_at(at)} UTC {text}" for at, text in events]


def mttx_lines(state: IncidentState, runbook: RunbookConfig) -> list[str]:
    """Each MTTx stage with its measure and the runbook's target."""
    lines = []
    for row in mttx(state, runbook):
        measured = format_duration(row.measured) if row.measured is not None else "not measured"
        target = f"target {format_duration(row.target)}" if row.target is not None else "no target"
        verdict = "" if row.met is None else (", met" if row.met else ", missed")
        lines.append(f"{row.stage} ({row.since} → {row.until}): {measured} ({target}{verdict})")
    return lines


async def _deliver(rt: PhaseRuntime, template: str, stage: str, **extra: ContextValue) -> TicketRef | None:
    """One ticket message; a failure is reported and posted to the channel, never raised."""
    note = Notification(
        incident_id=rt.state.incident_id,
        channel=CHANNEL,
        template=template,
        context=internal_context(rt.state, rt.runbook, workflow.now(), **extra),
    )
    try:
        delivery = await call(TICKET, note, summary=f"ticket: {template}")
    except ActivityError as err:
        reason = str(err.cause or err)
    else:
        ref = TicketRef.parse(delivery.destination)
        if ref is not None:
            return ref
        reason = f"the ticket channel answered {delivery.destination!r}, which names no ticket"
    await rt.report(
        PhaseEvent(kind="notification_failed", message=f"ticket message {template!r} could not be delivered: {reason}")
    )
    await rt.notify("incident", "ticket_failed", ticket_stage=stage, reason=reason)
    return None


def _restricted(state: IncidentState, runbook: RunbookConfig) -> bool:
    return state.signals.security and not runbook.special_cases.security_incident.public_details


def _data(ref: TicketRef) -> dict[str, str]:
    return {"ticket": ref.key, "url": ref.url, "system": ref.system}


def _at(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M")
