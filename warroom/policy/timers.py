"""Every pending deadline of an incident, as a pure function of its state.

Phase workflows sleep until the earliest deadline or a change of state, then fire what is due.
Because deadlines are recomputed from the state (never stored timers), a severity change, a
posted update or a mitigation re-plans every pending timer at once, and a deadline key that has
fired never fires again.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from warroom.config import RunbookConfig
from warroom.enums import Phase, PublicStatus, Role
from warroom.enums import format_duration as _fmt
from warroom.models import Deadline, IncidentState
from warroom.policy.escalation import escalation_plan
from warroom.policy.revisions import (
    ESCALATION_FROM_OPENING,
    ONCALL_RESOLUTION,
    PUBLIC_STATUS_NEVER_REGRESSES,
    STATUS_PAGE_DEADLINES,
)
from warroom.policy.war_room import role_prompts, setup_check, silences

ACK_KINDS = {"ack_page", "ack_repage", "ack_escalate"}
LIVE_KINDS = ACK_KINDS | {"escalate", "vp_notice", "internal_update", "external_prompt", "silence", "monitoring_done"}
RETRO_KINDS = {"pir_reminder", "pir_overdue"}
ACTION_KINDS = {"action_item_reminder", "action_item_overdue"}
CUSTOMER_KINDS = {"customer_email_reminder", "customer_email_overdue"}
LIVE_KINDS |= {"status_initial_overdue"}  # the initial status page, within 5 min of declaring
RETRO_KINDS |= {"resolved_notice_overdue"}  # the resolved notice, within 1 h of resolution
# What a change mid-incident owes (`IncidentState.owed`): fired by the live phases, at once.
OWED_KINDS = {"data_loss_notice", "security_handoff"}
OWED_KINDS |= {"severity_notice", "comms_lead_needed", "status_page_initial", "severity_summary"}
LIVE_KINDS = LIVE_KINDS | OWED_KINDS


SILENCE_KINDS = {"silence_identified": PublicStatus.IDENTIFIED, "silence_monitoring": PublicStatus.MONITORING}
LIVE_KINDS = LIVE_KINDS | set(SILENCE_KINDS)


def silence_kind(state: IncidentState) -> str | None:
    """What 30 minutes of public silence posts: "still investigating" while the page says so, the
    page's own status once it moved on (Identified, Monitoring), and nothing once mitigation is
    applied (a "still investigating" then would take back what the page told customers)."""
    if PUBLIC_STATUS_NEVER_REGRESSES not in state.revisions:
        return "silence"
    if state.mitigation_applied_at is not None or state.public_status == PublicStatus.RESOLVED:
        return None
    return next((kind for kind, status in SILENCE_KINDS.items() if status == state.public_status), "silence")


WAR_ROOM_KINDS = {"role_prompt", "war_room_check"}
"""The war room's roles and setup (warroom.policy.war_room): fired in Command by incidents that know them."""
IC_SILENCE_KINDS = {"silent_ic", "no_progress"}
"""The IC gone silent, the team stuck (warroom.policy.war_room): likewise."""
LATE_KINDS = {"resolution_overdue", "handoff_brief"}
"""Deadlines of a long incident: mitigated but past the resolution target; open long enough for a handoff."""


def monitoring_key(state: IncidentState) -> str:
    """The monitoring period's deadline key: a new one after each relapse, so each mitigation is monitored."""
    relapses = state.checks.relapses
    return "monitoring_done" if relapses == 0 else f"monitoring_done#{relapses + 1}"


def _stamp(at: datetime) -> str:
    return at.strftime("%Y%m%dT%H%M%S")


def _next_in_series(
    prefix: str, base: datetime, every: timedelta, fired: set[str], lead: timedelta = timedelta(0)
) -> tuple[str, datetime]:
    """The first unfired occurrence of a repeating reminder counted from `base`."""
    k = 1
    while f"{prefix}@{_stamp(base)}#{k}" in fired:
        k += 1
    return f"{prefix}@{_stamp(base)}#{k}", base + every * k - lead


def pending_deadlines(state: IncidentState, runbook: RunbookConfig) -> list[Deadline]:
    """All deadlines that have not fired yet, earliest first."""
    if state.phase == Phase.CLOSED:
        return []
    fired = set(state.fired)
    out: list[Deadline] = []
    matrix = runbook.severity_matrix[state.severity] if state.severity else None

    if state.acknowledged_at is None and state.resolved_at is None:
        ack = runbook.acknowledgement
        responder = state.on_call or (matrix.initial_responder if matrix else "on-call-engineer")
        if ack.page_at_open and state.on_call is None and ONCALL_RESOLUTION in state.revisions:
            out.append(
                Deadline(
                    key="ack_page",
                    kind="ack_page",
                    at=state.opened_at,
                    audience=[responder],
                    reason="a new incident: the on-call is paged",
                )
            )
        out.append(
            Deadline(
                key="ack_repage",
                kind="ack_repage",
                at=state.opened_at + ack.repage_after,
                audience=[responder],
                reason=f"not acknowledged within {_fmt(ack.repage_after)}",
            )
        )
        out.append(
            Deadline(
                key="ack_escalate",
                kind="ack_escalate",
                at=state.opened_at + ack.escalate_after,
                audience=[ack.escalate_to],
                reason=f"not acknowledged within {_fmt(ack.escalate_after)}",
            )
        )

    if state.declared_at and state.severity and state.resolved_at is None:
        plan = escalation_plan(state.severity, state.signals, runbook, state.raised_mid_incident)
        # "30 minutes without mitigation" runs from the opening: the time spent before declaring counts.
        clock = state.opened_at if ESCALATION_FROM_OPENING in state.revisions else state.declared_at
        for timed in plan.timed:
            done = state.mitigated_at if timed.unless == "mitigated" else state.resolved_at
            if done is None:
                out.append(
                    Deadline(
                        key=f"{timed.kind}:{','.join(timed.to)}",
                        kind=timed.kind,
                        at=clock + timed.after,
                        audience=list(timed.to),
                        reason=timed.reason,
                    )
                )
        comms = runbook.comms
        base = state.last_internal_update_at or state.declared_at
        key, at = _next_in_series("internal_update", base, comms.internal_update_every, fired)
        out.append(
            Deadline(
                key=key,
                kind="internal_update",
                at=at,
                audience=[state.roles.get(Role.INCIDENT_COMMANDER, "incident-commander")],
                reason=f"no update for {_fmt(comms.internal_update_every)}",
            )
        )
        if state.severity in comms.status_page_for:
            base = state.last_external_update_at or state.declared_at
            comms_lead = state.roles.get(Role.COMMUNICATIONS_LEAD) or state.roles.get(
                Role.INCIDENT_COMMANDER, "incident-commander"
            )
            key, at = _next_in_series(
                "external_prompt", base, comms.external_update_every, fired, comms.external_prompt_lead
            )
            out.append(
                Deadline(
                    key=key,
                    kind="external_prompt",
                    at=at,
                    audience=[comms_lead],
                    reason=f"status page update due in {_fmt(comms.external_prompt_lead)}",
                )
            )
            silence = silence_kind(state)
            if silence is not None:
                key, at = _next_in_series("silence", base, comms.silence_max, fired)
                out.append(
                    Deadline(
                        key=key,
                        kind=silence,
                        at=at,
                        audience=["status-page"],
                        reason=f"status page silent for {_fmt(comms.silence_max)}",
                    )
                )
            if STATUS_PAGE_DEADLINES in state.revisions and state.last_external_update_at is None:
                out.append(
                    Deadline(
                        key="status_initial_overdue",
                        kind="status_initial_overdue",
                        at=state.declared_at + comms.initial_status_page_within,
                        audience=[comms_lead],
                        reason=f"the initial status page was not posted within "
                        f"{_fmt(comms.initial_status_page_within)} of declaring {state.severity}",
                    )
                )
        commander = state.roles.get(Role.INCIDENT_COMMANDER, "incident-commander")
        target = runbook.mttr_targets.resolution.get(state.severity)
        if target is not None and state.mitigated_at:
            out.append(
                Deadline(
                    key="resolution_overdue",
                    kind="resolution_overdue",
                    at=state.opened_at + target,
                    audience=[commander],
                    reason=f"{state.severity} mitigated but not resolved within the {_fmt(target)} resolution target",
                )
            )
        every = runbook.resolve.handoff_brief_every
        key, at = _next_in_series("handoff_brief", state.opened_at, every, fired)
        out.append(
            Deadline(
                key=key,
                kind="handoff_brief",
                at=at,
                audience=[commander],
                reason=f"open for {_fmt(at - state.opened_at)}",
            )
        )
        if state.mitigated_at:
            out.append(
                Deadline(
                    key=monitoring_key(state),
                    kind="monitoring_done",
                    at=state.mitigated_at + runbook.resolve.monitoring_period,
                    audience=[state.roles.get(Role.INCIDENT_COMMANDER, "incident-commander")],
                    reason=f"monitored for {_fmt(runbook.resolve.monitoring_period)} since mitigation",
                )
            )

    if STATUS_PAGE_DEADLINES in state.revisions and state.resolved_at:
        public = state.last_external_update_at
        # The resolved notice is due where a status page was (its severity's, or anyone's public update).
        if (state.severity in runbook.comms.status_page_for or public) and not (public and public >= state.resolved_at):
            within = runbook.comms.resolved_notice_within
            out.append(
                Deadline(
                    key="resolved_notice_overdue",
                    kind="resolved_notice_overdue",
                    at=state.resolved_at + within,
                    audience=[
                        state.roles.get(Role.COMMUNICATIONS_LEAD)
                        or state.roles.get(Role.INCIDENT_COMMANDER, "incident-commander")
                    ],
                    reason=f"the resolved notice was not posted to the status page within {_fmt(within)} of resolution",
                )
            )

    if state.resolved_at and state.pir.due and state.pir.completed_at is None:
        retro = runbook.retrospective
        owner = state.pir.owner or state.roles.get(Role.INCIDENT_COMMANDER, "incident-commander")
        out.append(
            Deadline(
                key="pir_reminder",
                kind="pir_reminder",
                at=state.pir.due - retro.remind_before,
                audience=[owner],
                reason=f"PIR due {state.pir.due:%Y-%m-%d %H:%M} UTC",
            )
        )
        out.append(
            Deadline(
                key="pir_overdue",
                kind="pir_overdue",
                at=state.pir.due,
                audience=[retro.escalate_to, owner],
                reason="PIR past its due date",
            )
        )

    if state.resolved_at:
        for step in state.steps:
            if step.action == "customer_email" and step.status == "pending":
                within = runbook.comms.customer_email_within
                comms_lead = state.roles.get(Role.COMMUNICATIONS_LEAD) or state.roles.get(
                    Role.INCIDENT_COMMANDER, "incident-commander"
                )
                out.append(
                    Deadline(
                        key=f"customer_email_reminder:{step.step_id}",
                        kind="customer_email_reminder",
                        at=state.resolved_at + within / 2,
                        audience=[comms_lead],
                        reason=f"customer e-mail {step.step_id} awaits approval; due within {_fmt(within)} of resolution",
                    )
                )
                out.append(
                    Deadline(
                        key=f"customer_email_overdue:{step.step_id}",
                        kind="customer_email_overdue",
                        at=state.resolved_at + within,
                        audience=[
                            comms_lead,
                            state.roles.get(Role.INCIDENT_COMMANDER, "incident-commander"),
                            runbook.retrospective.escalate_to,
                        ],
                        reason=f"customer e-mail {step.step_id} not sent {_fmt(within)} after resolution",
                    )
                )

    if state.pir.completed_at:
        retro = runbook.retrospective
        for number, item in enumerate(state.pir.action_items, start=1):
            if item.done_at is not None:
                continue
            what = f"action item {number} ({item.title}) due {item.due:%Y-%m-%d}"
            out.append(
                Deadline(
                    key=f"action_item_reminder:{number}",
                    kind="action_item_reminder",
                    at=item.due - retro.remind_before,
                    audience=[item.owner],
                    reason=what,
                )
            )
            out.append(
                Deadline(
                    key=f"action_item_overdue:{number}",
                    kind="action_item_overdue",
                    at=item.due,
                    audience=[item.owner, retro.escalate_to],
                    reason=f"{what} is overdue",
                )
            )

    if state.resolved_at is None:
        out.extend(state.owed)
    out += role_prompts(state, runbook)
    out += setup_check(state, runbook)
    out += silences(state, runbook)

    return sorted((d for d in out if d.key not in fired), key=lambda d: (d.at, d.key))


def due_now(deadlines: list[Deadline], now: datetime, kinds: set[str]) -> list[Deadline]:
    return [d for d in deadlines if d.kind in kinds and d.at <= now]


def next_wakeup(deadlines: list[Deadline], now: datetime, kinds: set[str]) -> timedelta | None:
    """How long to sleep until the next deadline of these kinds; None when there is none."""
    future = [d.at for d in deadlines if d.kind in kinds and d.at > now]
    return min(future) - now if future else None


__all__ = [
    "ACK_KINDS",
    "ACTION_KINDS",
    "CUSTOMER_KINDS",
    "LATE_KINDS",
    "LIVE_KINDS",
    "OWED_KINDS",
    "RETRO_KINDS",
    "IC_SILENCE_KINDS",
    "WAR_ROOM_KINDS",
    "monitoring_key",
    "pending_deadlines",
    "due_now",
    "silence_kind",
    "next_wakeup",
]
