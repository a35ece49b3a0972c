"""Who may do what to an incident. Update validators call these; a raise rejects the update.

The runbook: one Incident Commander decides (approvals, severity, mitigation, resolution);
anyone working the incident may post updates and propose steps.
"""

from __future__ import annotations

from warroom.enums import Phase, Role
from warroom.models import IncidentState


class Rejected(ValueError):
    """The request is well-formed but not allowed now; the message says why and what to do."""

    def __init__(self, message: str, kind: str = "Rejected") -> None:
        super().__init__(message)
        self.kind = kind


def require_open(state: IncidentState) -> None:
    if state.phase == Phase.CLOSED:
        raise Rejected(f"incident {state.incident_id} is closed", "IncidentClosed")


def require_commander(state: IncidentState, by: str, doing: str) -> None:
    """Only the IC decides; before an IC exists, whoever acts first takes command by acknowledging."""
    commander = state.roles.get(Role.INCIDENT_COMMANDER)
    if commander is None:
        raise Rejected(
            f"no Incident Commander yet: acknowledge or `assign ic PERSON` before you {doing}", "NoCommander"
        )
    if by != commander:
        raise Rejected(f"only the Incident Commander ({commander}) may {doing}; {by} is not", "NotIncidentCommander")


def require_responder(state: IncidentState, by: str, doing: str) -> None:
    """Responders are the people holding a role or the acknowledged on-call."""
    holders = set(state.roles.values()) | {p for p in (state.acknowledged_by, state.on_call) if p}
    if by not in holders:
        raise Rejected(
            f"{by} holds no role in incident {state.incident_id}; ask the IC to assign you before you {doing}",
            "NotAResponder",
        )


def may_assign(state: IncidentState, by: str, role: Role) -> None:
    """The IC assigns roles; with no IC yet, anyone may name the IC (declare early, sort out later)."""
    require_open(state)
    if state.roles.get(Role.INCIDENT_COMMANDER) is None and role == Role.INCIDENT_COMMANDER:
        return
    require_commander(state, by, f"assign the {role.value} role")


def may_decide_step(state: IncidentState, by: str, step_id: str) -> None:
    """The IC decides steps; a step may name another approver role (the Comms lead approves the
    customer e-mail), and with that role unassigned the IC decides."""
    require_open(state)
    step = next((s for s in state.steps if s.step_id == step_id), None)
    if step is None or step.approver_role == Role.INCIDENT_COMMANDER:
        require_commander(state, by, "approve or deny a step")
    if step is None:
        known = ", ".join(s.step_id for s in state.pending_steps()) or "none pending"
        raise Rejected(f"no step {step_id!r} in incident {state.incident_id} ({known})", "UnknownStep")
    if step.approver_role != Role.INCIDENT_COMMANDER:
        approver = state.roles.get(step.approver_role) or state.roles.get(Role.INCIDENT_COMMANDER)
        if by != approver:
            raise Rejected(
                f"only the {step.approver_role.value.replace('_', ' ')} ({approver}) may decide step {step_id}; "
                f"{by} may not",
                "NotApprover",
            )
    if step.status != "pending":
        raise Rejected(f"step {step_id} is already {step.status} by {step.decided_by}", "StepDecided")


def may_mark_mitigated(state: IncidentState, by: str) -> None:
    require_open(state)
    require_commander(state, by, "declare mitigation")
    if state.declared_at is None:
        raise Rejected("the incident is not declared yet: declare it first", "NotDeclared")
    if state.mitigated_at is not None:
        raise Rejected(f"already mitigated at {state.mitigated_at:%H:%M:%S} UTC", "AlreadyMitigated")


def may_resolve(state: IncidentState, by: str, require_vendor_ticket: bool = False) -> None:
    require_open(state)
    require_commander(state, by, "declare resolution")
    if require_vendor_ticket and state.signals.third_party_vendor and not state.vendor_ticket:
        raise Rejected(
            "a third-party vendor is involved: record the vendor ticket reference first "
            "(`warroom flags ID --vendor-ticket REF`)",
            "VendorTicketMissing",
        )
    if state.resolved_at is not None:
        raise Rejected("already resolved", "AlreadyResolved")
    if state.mitigated_at is None:
        if state.mitigation_applied_at is not None:
            raise Rejected("mitigation is not verified yet: the clean-metrics window is still running", "NotMitigated")
        raise Rejected("not mitigated yet: run `mitigated` first; the clean-metrics window must pass", "NotMitigated")


__all__ = [
    "Rejected",
    "require_open",
    "require_commander",
    "require_responder",
    "may_assign",
    "may_decide_step",
    "may_mark_mitigated",
    "may_resolve",
]
