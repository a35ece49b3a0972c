"""What changes once the incident runs: a later alert, the flags, the severity.

A data-loss or security case raised mid-incident (by `warroom flags` or an alert carrying it) owes
what declaring with it sends; a severity change owes the new severity's start actions and says what
stops; a vendor ticket reference goes to the channel. What is owed lands in `IncidentState.owed`,
which the live phases fire at once. Plain functions of (state, now, input), as in `workflows._ledger`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from warroom.config import RunbookConfig
from warroom.enums import Phase, Role, Severity
from warroom.models import Alert, Deadline, ImpactSignals, IncidentState, SetFlags
from warroom.policy.escalation import SPECIAL_CASES, SpecialCase, severity_change, special_case_notices
from warroom.policy.revisions import SEVERITY_CHANGE_START_ACTIONS, SPECIAL_CASES_MID_INCIDENT
from warroom.policy.war_room import COMMS_LEAD_ASKED
from workflows._ledger import declare_if_warranted, never_collapse, note_synthetic, record, take_alert

_OWED_KIND = {"data_loss": "data_loss_notice", "security": "security_handoff"}


def on_alert(
    state: IncidentState,
    runbook: RunbookConfig,
    alert: Alert,
    now: datetime,
    collapse: Callable[[], bool] = never_collapse,
) -> bool:
    """An alert after the start: it may declare the incident, or dismiss it when every alert resolved
    before anyone declared or acknowledged. True when it was a repeat. `collapse`: `take_alert`'s."""
    before = state.signals
    repeated = take_alert(state, alert, now, collapse)
    raise_special_cases(state, runbook, before, now, f"alert {alert.fingerprint}")
    note_synthetic(state, runbook, alert)
    if state.declared_at is None:
        declare_if_warranted(state, runbook, now)
        if not state.firing_alerts and not alert.firing and not state.acknowledged_at:
            state.dismissed = True
            record(state, now, "dismissed", "every alert resolved before the incident was declared")
    state.version += 1
    return repeated


def set_flags(state: IncidentState, req: SetFlags) -> list[str]:
    """Raise or lower the special cases and record the vendor ticket; what changed, in words."""
    changes = []
    for name in ("data_loss", "security", "third_party_vendor"):
        value = getattr(req, name)
        if value is not None and value != getattr(state.signals, name):
            state.signals = state.signals.model_copy(update={name: value})
            changes.append(f"{name}={'yes' if value else 'no'}")
    if req.vendor_ticket:
        state.vendor_ticket = req.vendor_ticket
        changes.append(f"vendor ticket {req.vendor_ticket}")
    return changes


def vendor_ticket_to_post(state: IncidentState, before: str | None) -> bool:
    """A new vendor ticket reference goes to the incident channel (the seed: "reference number in
    incident channel") once the channel is open; before that the timeline and the ticket hold it."""
    opened = any(entry.kind == "channel_opened" for entry in state.timeline)
    return bool(state.vendor_ticket) and state.vendor_ticket != before and opened


def mid_incident(state: IncidentState) -> bool:
    """Declared and past Detection: the Declare phase has taken its snapshot, so what changes now is
    owed by the incident itself (before that, Declare acts on the change as part of declaring)."""
    return state.declared_at is not None and state.phase not in (Phase.DETECTION, Phase.CLOSED)


def flags_changed(state: IncidentState, runbook: RunbookConfig, before: ImpactSignals, now: datetime, by: str) -> None:
    """A person changed the flags: data loss declares an undeclared incident (as an alert raising it
    does), and a case raised later owes what declaring with it sends."""
    if SPECIAL_CASES_MID_INCIDENT not in state.revisions:
        return
    if state.declared_at is None:
        declare_if_warranted(state, runbook, now)
    raise_special_cases(state, runbook, before, now, by)


def raise_special_cases(
    state: IncidentState, runbook: RunbookConfig, before: ImpactSignals, now: datetime, by: str
) -> list[SpecialCase]:
    """Data loss or security newly raised mid-incident: the notices of `special_case_notices` are owed
    at once, and from now on a security incident keeps its details off public channels. The cases raised."""
    if SPECIAL_CASES_MID_INCIDENT not in state.revisions or state.declared_at is None:
        return []
    raised = [c for c in SPECIAL_CASES if getattr(state.signals, c) and not getattr(before, c)]
    for case in raised:
        notices = special_case_notices(case, runbook)
        who = ", ".join(p for n in notices for p in n.audience)
        if state.resolved_at is not None:  # nothing runs the live deadlines any more: say so
            record(state, now, "special_case_raised", f"{case} raised after resolution by {by}: tell {who}", by)
            continue
        if not mid_incident(state):  # the Declare phase has yet to start: declaring sends them
            continue
        if case not in state.raised_mid_incident:
            state.raised_mid_incident.append(case)
        for notice in notices:
            kind = _OWED_KIND[case]
            state.owed.append(
                Deadline(
                    key=f"{kind}@{now:%Y%m%dT%H%M%S}:{','.join(notice.audience)}",
                    kind=kind,
                    at=now,
                    audience=list(notice.audience),
                    reason=f"{notice.reason} (raised mid-incident by {by})",
                )
            )
        kept = "; the matrix's escalations still run" if case == "data_loss" else ""
        record(state, now, "special_case_raised", f"{case} raised mid-incident by {by}: notifying {who}{kept}", by)
        if case == "security" and not runbook.special_cases.security_incident.public_details:
            record(state, now, "restricted", "security incident: details stay out of public channels from now on")
    return raised


def severity_changed(
    state: IncidentState, runbook: RunbookConfig, before: Severity | None, now: datetime, by: str, reason: str
) -> None:
    """A severity change mid-incident owes the new severity's start actions the old one did not take
    (notices, a Communications Lead, the initial status page) and a channel message of what starts,
    stops and changes. Before the Declare phase starts, declaring runs the new severity's actions."""
    after = state.severity
    if SEVERITY_CHANGE_START_ACTIONS not in state.revisions or before is None or after is None or before == after:
        return
    if not mid_incident(state) or state.resolved_at is not None:
        return
    change = severity_change(
        before,
        after,
        runbook,
        told=state.escalated_to,
        comms_lead_assigned=Role.COMMUNICATIONS_LEAD in state.roles,
        posted_publicly=state.last_external_update_at is not None,
    )
    commander = [state.commander or "incident-commander"]
    direction = "raised" if change.upgrade else "lowered"
    owed: list[tuple[str, list[str], str]] = []
    if change.notify:
        owed.append(("severity_notice", change.notify, f"severity {direction} {before} → {after}: notify at start"))
    if change.ask_comms_lead:
        owed.append((COMMS_LEAD_ASKED, commander, f"{after} requires a Communications Lead"))
    if change.post_status_initial:
        owed.append(("status_page_initial", ["status-page"], f"{after} posts the initial status page"))
    summary = f"{before} → {after} by {by}: {reason}."
    for label, items in (("Starts", change.starts), ("Stops", change.stops), ("Changes", change.changes)):
        if items:
            summary += f" {label}: {'; '.join(items)}."
    owed.append(("severity_summary", commander, summary))
    for kind, audience, why in owed:
        key = f"{kind}#{len(state.owed) + 1}"
        state.owed.append(Deadline(key=key, kind=kind, at=now, audience=audience, reason=why))
    state.version += 1
