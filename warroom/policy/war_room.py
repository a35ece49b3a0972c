"""The war room's own deadlines, as pure functions of the incident state: the roles the IC must
fill and the war-room setup checklist.

The runbook's Command phase: the IC coordinates and does not debug, so an Operations Lead is
assigned ("someone is always investigating"), and a P1 has a Communications Lead. A declared
incident still missing one of them `roles.prompt_after` after declaration prompts the IC (the IC
rotation while nobody commands). At `war_room.setup_within` (the checklist's "first 5 minutes")
the setup is checked and what is missing is posted. And the IC must not go silent: missed
15-minute updates in a row (`war_room.missed_updates_escalate`) notify the team lead, and when no
update reports progress for `war_room.no_progress_after` the IC script's "when team is stuck" line
is posted. These run while the bleeding is not stopped: once mitigation is applied the Command
phase, which fires them, is over.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from warroom.config import RunbookConfig
from warroom.enums import Role
from warroom.enums import format_duration as _fmt
from warroom.models import Deadline, IncidentState, StatusUpdate, UpdateDigest

ROLE_PROMPT = "role_prompt"
COMMS_LEAD_ASKED = "comms_lead_needed"
"""The owed deadline by which a severity change asks for the Communications Lead it requires."""
SETUP_CHECK = "war_room_check"
SILENT_IC = "silent_ic"
NO_PROGRESS = "no_progress"

_WHY = {
    Role.OPERATIONS_LEAD: "someone must always be investigating, and the IC coordinates rather than debugs",
    Role.COMMUNICATIONS_LEAD: "a {severity} needs someone talking to stakeholders and the status page",
}
_SHORT = {Role.OPERATIONS_LEAD: "ops", Role.COMMUNICATIONS_LEAD: "comms"}


def commander_or_rotation(state: IncidentState, runbook: RunbookConfig) -> str:
    """Who a prompt for the IC goes to: the IC, or the IC rotation while nobody commands."""
    return state.roles.get(Role.INCIDENT_COMMANDER) or runbook.roles.incident_commander_page


def required_roles(state: IncidentState, runbook: RunbookConfig) -> list[Role]:
    """The roles this incident must have: an Operations Lead always, a Comms Lead per severity."""
    roles = [Role.OPERATIONS_LEAD]
    if state.severity in runbook.roles.communications_lead_required_for:
        roles.append(Role.COMMUNICATIONS_LEAD)
    return roles


def missing_roles(state: IncidentState, runbook: RunbookConfig) -> list[Role]:
    return [role for role in required_roles(state, runbook) if role not in state.roles]


def _live(state: IncidentState) -> bool:
    """Declared, and the bleeding not stopped yet: the Command phase's span."""
    return bool(state.declared_at and state.severity) and not (state.mitigation_applied_at or state.resolved_at)


def role_prompts(state: IncidentState, runbook: RunbookConfig) -> list[Deadline]:
    """One prompt per required role nobody holds, `prompt_after` past declaration (at once when a
    severity change makes a role required later, e.g. a P2 that becomes a P1). A severity change
    that asked for the Communications Lead itself (`COMMS_LEAD_ASKED`, owed) leaves it out: one ask."""
    if not _live(state):
        return []
    asked = {Role.COMMUNICATIONS_LEAD} if any(d.kind == COMMS_LEAD_ASKED for d in state.owed) else set()
    assert state.declared_at is not None
    after = runbook.roles.prompt_after
    return [
        Deadline(
            key=f"{ROLE_PROMPT}:{role.value}",
            kind=ROLE_PROMPT,
            at=state.declared_at + after,
            audience=[commander_or_rotation(state, runbook)],
            reason=(
                f"no {role.value.replace('_', ' ').title()} {_fmt(after)} after declaring: "
                f"{_WHY[role].format(severity=state.severity)} "
                f"(warroom assign {state.incident_id} {_SHORT[role]} PERSON)"
            ),
        )
        for role in missing_roles(state, runbook)
        if role not in asked
    ]


class SetupItem(NamedTuple):
    """One line of the WAR ROOM SETUP checklist: what, whether it is done, how to do it."""

    what: str
    done: bool
    how: str = ""


def setup_checklist(state: IncidentState, runbook: RunbookConfig) -> list[SetupItem]:
    """The seed's WAR ROOM SETUP items this incident can be checked against (the incident ticket
    and "when did it start?" have no source here yet)."""
    iid = state.incident_id
    commander = state.roles.get(Role.INCIDENT_COMMANDER)
    if commander is None:
        ic_how = f"warroom ack {iid} --take-command, or warroom assign {iid} ic PERSON"
    else:
        ic_how = f"{commander}: warroom ack {iid}"
    items = [
        SetupItem("incident channel opened", bool(state.channel)),
        SetupItem(
            "Incident Commander identified and acknowledged",
            commander is not None and commander in state.acknowledgements,
            ic_how,
        ),
    ]
    for role in required_roles(state, runbook):
        label = role.value.replace("_", " ").title()
        items.append(SetupItem(f"{label} assigned", role in state.roles, f"warroom assign {iid} {_SHORT[role]} PERSON"))
    items.append(SetupItem("severity assessed", state.severity is not None, f"warroom severity {iid} P1|P2|P3"))
    if state.severity in runbook.comms.status_page_for:
        items.append(
            SetupItem(
                "status page updated",
                state.last_external_update_at is not None,
                f"warroom update {iid} --public investigating --public-message TEXT",
            )
        )
    return items


def setup_check(state: IncidentState, runbook: RunbookConfig) -> list[Deadline]:
    """The setup checked once, `setup_within` after declaring; its reason says what is missing (and
    how to fix each), computed when it fires."""
    if not _live(state):
        return []
    assert state.declared_at is not None
    within = _fmt(runbook.war_room.setup_within)
    items = setup_checklist(state, runbook)
    missing = [f"{item.what} ({item.how})" if item.how else item.what for item in items if not item.done]
    if missing:
        reason = f"war-room setup after {within}: missing {'; '.join(missing)}"
    else:
        reason = f"war-room setup after {within}: complete ({', '.join(item.what for item in items)})"
    return [
        Deadline(
            key=SETUP_CHECK,
            kind=SETUP_CHECK,
            at=state.declared_at + runbook.war_room.setup_within,
            audience=[commander_or_rotation(state, runbook)],
            reason=reason,
        )
    ]


# --- silences -----------------------------------------------------------------------------------


def _same(a: str, b: str) -> bool:
    return " ".join(a.lower().split()) == " ".join(b.lower().split())


def reports_progress(previous: UpdateDigest | None, update: StatusUpdate) -> bool:
    """An update reports progress when it says something new: a hypothesis or a next action it did
    not say last time, or an error rate lower than the last one reported. The same words again, or
    an update with neither, do not ("meaningful progress", not activity)."""
    said = [text for text in (update.hypothesis, update.next_action) if text.strip()]
    if previous is None:
        return bool(said)
    if update.hypothesis.strip() and not _same(update.hypothesis, previous.hypothesis):
        return True
    if update.next_action.strip() and not _same(update.next_action, previous.next_action):
        return True
    return update.error_rate is not None and previous.error_rate is not None and update.error_rate < previous.error_rate


def digest(update: StatusUpdate, at: datetime) -> UpdateDigest:
    return UpdateDigest(
        at=at, error_rate=update.error_rate, hypothesis=update.hypothesis, next_action=update.next_action
    )


def _stamp(at: datetime) -> str:
    return at.strftime("%Y%m%dT%H%M%S")


def silent_ic(state: IncidentState, runbook: RunbookConfig) -> list[Deadline]:
    """`missed_updates_escalate` internal updates missed in a row (the IC went silent): the matrix's
    team lead is notified, once per silence (an update starts a new one)."""
    if not _live(state):
        return []
    assert state.declared_at is not None and state.severity is not None
    base = state.last_internal_update_at or state.declared_at
    missed = runbook.war_room.missed_updates_escalate
    every = runbook.comms.internal_update_every
    commander = state.roles.get(Role.INCIDENT_COMMANDER)
    return [
        Deadline(
            key=f"{SILENT_IC}@{_stamp(base)}",
            kind=SILENT_IC,
            at=base + every * missed,
            audience=[runbook.matrix(state.severity).escalate_to],
            reason=(
                f"{missed} {_fmt(every)} updates missed in a row: no update for {_fmt(every * missed)} "
                f"(IC: {commander or 'nobody has taken command'})"
            ),
        )
    ]


def no_progress(state: IncidentState, runbook: RunbookConfig) -> list[Deadline]:
    """Every `no_progress_after` with no update reporting progress (since declaring, or the last
    update that did), the IC script's "when team is stuck" line goes to the channel."""
    if not _live(state):
        return []
    assert state.declared_at is not None
    base = state.progress_at or state.declared_at
    after = runbook.war_room.no_progress_after
    k = 1
    while f"{NO_PROGRESS}@{_stamp(base)}#{k}" in state.fired:
        k += 1
    return [
        Deadline(
            key=f"{NO_PROGRESS}@{_stamp(base)}#{k}",
            kind=NO_PROGRESS,
            at=base + after * k,
            audience=[commander_or_rotation(state, runbook)],
            reason=f"no update has reported progress for {_fmt(after * k)}",
        )
    ]


def stuck_line_due(state: IncidentState, runbook: RunbookConfig, now: datetime) -> bool:
    """The no-progress line is due now (or was, unfired): the matrix escalation, firing at the same
    moment, leaves the stuck line to it rather than posting the script's line twice."""
    return any(d.at <= now for d in no_progress(state, runbook))


def silences(state: IncidentState, runbook: RunbookConfig) -> list[Deadline]:
    return silent_ic(state, runbook) + no_progress(state, runbook)


__all__ = [
    "COMMS_LEAD_ASKED",
    "NO_PROGRESS",
    "ROLE_PROMPT",
    "SETUP_CHECK",
    "SILENT_IC",
    "SetupItem",
    "commander_or_rotation",
    "digest",
    "missing_roles",
    "no_progress",
    "reports_progress",
    "required_roles",
    "role_prompts",
    "setup_check",
    "setup_checklist",
    "silences",
    "silent_ic",
    "stuck_line_due",
]
