"""The war room's own deadlines: the roles the IC must fill, as pure functions of the incident state.

The runbook's Command phase: the IC coordinates and does not debug, so an Operations Lead is
assigned ("someone is always investigating"), and a P1 has a Communications Lead. A declared
incident still missing one of them `roles.prompt_after` after declaration prompts the IC (the IC
rotation while nobody commands). These run while the bleeding is not stopped: once mitigation is
applied the Command phase, which fires them, is over.
"""

from __future__ import annotations

from warroom.config import RunbookConfig
from warroom.enums import Role
from warroom.enums import format_duration as _fmt
from warroom.models import Deadline, IncidentState

ROLE_PROMPT = "role_prompt"

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


def role_prompts(state: IncidentState, runbook: RunbookConfig) -> list[Deadline]:
    """One prompt per required role nobody holds, `prompt_after` past declaration (at once when a
    severity change makes a role required later, e.g. a P2 that becomes a P1)."""
    if not (state.declared_at and state.severity) or state.mitigation_applied_at or state.resolved_at:
        return []
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
    ]


__all__ = ["ROLE_PROMPT", "commander_or_rotation", "missing_roles", "required_roles", "role_prompts"]
