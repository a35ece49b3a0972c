"""Who may do what to an incident, and when. Every update validator is one call of a rule here.

The runbook: one Incident Commander decides (approvals, severity, mitigation, resolution);
anyone working the incident may post updates and propose steps. A rule takes the incident's
state and the request and raises `Rejected` to refuse it; its message reaches the person who
asked (CLI, Web UI) word for word, and its kind is the refusal's type, which callers match on.
"""

from __future__ import annotations

from datetime import datetime

from warroom.config import RunbookConfig
from warroom.enums import Phase, PublicStatus, Role, StepAction
from warroom.models import (
    Acknowledge,
    AdoptRunbook,
    Alert,
    AssignRole,
    CancelStep,
    CompleteActionItem,
    CompletePir,
    Declare,
    IncidentState,
    MarkMitigated,
    ProposeStep,
    Resolve,
    SetFlags,
    SetSeverity,
    StatusUpdate,
    Step,
    StepDecision,
)
from warroom.policy import steps
from warroom.policy.checklist import resolve_blockers


class Rejected(ValueError):
    """The request is well-formed but not allowed now; the message says why and what to do."""

    def __init__(self, message: str, kind: str = "Rejected") -> None:
        super().__init__(message)
        self.kind = kind


# --- Building blocks ------------------------------------------------------------------------------


def require_open(state: IncidentState) -> None:
    if state.phase == Phase.CLOSED:
        raise Rejected(f"incident {state.incident_id} is closed", "IncidentClosed")


def require_commander(state: IncidentState, by: str, doing: str) -> None:
    """Only the IC decides; before an IC exists, someone takes command by saying so."""
    commander = state.roles.get(Role.INCIDENT_COMMANDER)
    if commander is None:
        raise Rejected(
            f"no Incident Commander yet: `ack --take-command` or `assign ic PERSON` before you {doing}", "NoCommander"
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


def forbid_commander_as_ops_lead(state: IncidentState, role: Role, person: str) -> None:
    """The IC coordinates and the Operations Lead debugs: one person cannot hold both ("IC also
    debugging" is the runbook's first anti-pattern)."""
    other = {Role.INCIDENT_COMMANDER: Role.OPERATIONS_LEAD, Role.OPERATIONS_LEAD: Role.INCIDENT_COMMANDER}.get(role)
    if other is None or state.roles.get(other) != person:
        return
    if role == Role.INCIDENT_COMMANDER:
        raise Rejected(
            f"{person} is the Operations Lead and debugs; the IC coordinates: "
            f"assign another Operations Lead first, then make {person} IC",
            "CommanderIsOpsLead",
        )
    raise Rejected(
        f"{person} is the Incident Commander and coordinates; the Operations Lead debugs: pick someone else",
        "CommanderIsOpsLead",
    )


def require_declared(state: IncidentState) -> None:
    if state.declared_at is None:
        raise Rejected("the incident is not declared yet: declare it first", "NotDeclared")


def require_no_public_regression(state: IncidentState, req: StatusUpdate) -> None:
    """A Monitoring page never flips back to Investigating: customers were told a fix is in place."""
    if req.public_status == PublicStatus.INVESTIGATING and state.public_status == PublicStatus.MONITORING:
        raise Rejected(
            "the status page says Monitoring and does not go back to Investigating: "
            "post Identified if the fix did not hold",
            "PublicStatusRegression",
        )


# --- One rule per update, in the order the runbook meets them ---------------------------------------


def may_ingest_alert(state: IncidentState, alert: Alert) -> None:
    """A closed incident takes no more alerts; the intake opens a new incident for the next one."""
    if state.phase == Phase.CLOSED:
        raise Rejected("incident closed; the next alert opens a new one", "IncidentClosed")


MAX_ALERTS_PER_UPDATE = 100
"""Alerts one `ingest_alerts` update carries: its history event stays far below Temporal's payload
limits (an Alert is at most ~150 KB, a notification body at most 256 KB); the intake splits a larger
notification into batches of this size."""


def may_ingest_alerts(state: IncidentState, alerts: list[Alert]) -> None:
    """A notification's alerts, recorded together: one to MAX_ALERTS_PER_UPDATE, to an open incident."""
    if not alerts:
        raise Rejected("an empty batch records nothing: send at least one alert", "EmptyBatch")
    if len(alerts) > MAX_ALERTS_PER_UPDATE:
        raise Rejected(f"{len(alerts)} alerts in one batch; at most {MAX_ALERTS_PER_UPDATE}: split it", "TooManyAlerts")
    may_ingest_alert(state, alerts[0])


def may_acknowledge(state: IncidentState, req: Acknowledge) -> None:
    """Anyone may acknowledge an open incident. Taking command is said out loud (`take_command`),
    only while nobody commands, and not by the Operations Lead."""
    require_open(state)
    if not req.take_command:
        return
    commander = state.roles.get(Role.INCIDENT_COMMANDER)
    if commander is not None and commander != req.by:
        raise Rejected(
            f"{commander} is the Incident Commander: a handover is theirs to make (`assign ic {req.by}`)",
            "CommanderExists",
        )
    forbid_commander_as_ops_lead(state, Role.INCIDENT_COMMANDER, req.by)


def may_declare(state: IncidentState, req: Declare) -> None:
    """Declare early: anyone may, once; later changes go through `set_severity`."""
    require_open(state)
    if state.declared_at is not None:
        raise Rejected(f"already declared at {state.declared_at:%H:%M:%S} UTC as {state.severity}", "AlreadyDeclared")


def may_assign_role(state: IncidentState, req: AssignRole) -> None:
    """The IC assigns roles; with no IC yet, anyone may name the IC (declare early, sort out later).
    Nobody is both IC and Operations Lead."""
    require_open(state)
    if state.roles.get(Role.INCIDENT_COMMANDER) is not None or req.role != Role.INCIDENT_COMMANDER:
        require_commander(state, req.by, f"assign the {req.role.value} role")
    forbid_commander_as_ops_lead(state, req.role, req.person)


def may_set_severity(state: IncidentState, req: SetSeverity) -> None:
    require_open(state)
    require_commander(state, req.by, "change the severity")
    if req.severity == state.severity:
        raise Rejected(f"severity is already {req.severity}", "NoChange")


def may_set_flags(state: IncidentState, req: SetFlags) -> None:
    require_open(state)
    require_responder(state, req.by, "change the incident's flags")


def may_post_update(state: IncidentState, req: StatusUpdate) -> None:
    """Any responder posts the 15-minute update; a status-page post needs its public wording."""
    require_open(state)
    require_responder(state, req.by, "post an update")
    require_declared(state)
    if req.public_status and not req.public_message:
        raise Rejected("a status page update needs --public-message", "InvalidRequest")
    require_no_public_regression(state, req)


def may_propose_step(state: IncidentState, req: ProposeStep, runbook: RunbookConfig) -> None:
    """Anyone working the incident proposes; a catalog step's parameters are checked here, so a bad
    one is refused by name before anything is recorded (`custom` is a manual step, not checked)."""
    require_open(state)
    require_responder(state, req.by, "propose a step")
    if req.step is None and req.action == StepAction.CUSTOM:
        return
    name, raw = (req.step, req.params) if req.step else steps.legacy_params(str(req.action), str(req.target))
    entry = runbook.steps.entry(name or "")
    if entry is None:
        known = ", ".join(e.name for e in runbook.steps.all())
        raise Rejected(f"no step {name!r} in the catalog (`warroom steps`: {known})", "UnknownStep")
    try:
        steps.parse_params(entry, raw, target=state.target, runbook=runbook, service=state.service)
    except steps.ParamError as err:
        raise Rejected(str(err), "InvalidParameter") from None


def _step(state: IncidentState, step_id: str) -> Step:
    step = next((s for s in state.steps if s.step_id == step_id), None)
    if step is None:
        known = ", ".join(s.step_id for s in state.steps if s.is_open) or "none open"
        raise Rejected(f"no step {step_id!r} in incident {state.incident_id} ({known})", "UnknownStep")
    return step


def may_decide_step(state: IncidentState, req: StepDecision) -> None:
    """Deny (and approve, for steps outside the catalog). The IC decides steps; a step may name another
    approver role (the Comms lead approves the customer e-mail), and with that role unassigned the IC decides."""
    require_open(state)
    by, step_id = req.by, req.step_id
    step = next((s for s in state.steps if s.step_id == step_id), None)
    if step is None or step.approver_role == Role.INCIDENT_COMMANDER:
        require_commander(state, by, "approve or deny a step")
    step = _step(state, step_id)
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


def may_approve_step(state: IncidentState, req: StepDecision) -> None:
    """A catalog step is approved on its preview, by name (its digest): not before there is one, not
    on one that has since been replaced. Under the two-person rule, two approvers other than the proposer."""
    step = next((s for s in state.steps if s.step_id == req.step_id), None)
    if step is None or step.entry is None or step.policy != "two_person":
        may_decide_step(state, req)
    else:
        require_open(state)
        require_responder(state, req.by, "approve a step")
        if step.status != "pending":
            raise Rejected(f"step {step.step_id} is already {step.status}", "StepDecided")
        refusal = steps.approval_refusal(step, req.by, state.commander)
        if refusal:
            raise Rejected(refusal, "NotApprover")
    if step is None or step.entry is None:
        return
    if step.preview is None:
        raise Rejected(
            f"step {step.step_id} is still being previewed: approve it once `warroom preview` shows it",
            "PreviewNotReady",
        )
    if req.preview is None:
        raise Rejected(
            f"name the preview you approve: --preview {step.preview_digest} (see `warroom preview {state.incident_id} {step.step_id}`)",
            "PreviewRequired",
        )
    if req.preview != step.preview_digest:
        raise Rejected(
            f"the preview of {step.step_id} changed since you saw it ({req.preview}; now {step.preview_digest}): "
            f"look again with `warroom preview {state.incident_id} {step.step_id}`",
            "PreviewChanged",
        )


def may_cancel_step(state: IncidentState, req: CancelStep) -> None:
    """The IC or the proposer withdraws a step not yet decided, or stops one running."""
    require_open(state)
    step = _step(state, req.step_id)
    if req.by not in (state.commander, step.proposed_by):
        raise Rejected(
            f"only the Incident Commander or {step.proposed_by} (who proposed it) may cancel {step.step_id}",
            "NotApprover",
        )
    if not step.is_open:
        raise Rejected(f"step {step.step_id} is already {step.status}", "StepDecided")


def may_mark_mitigated(state: IncidentState, req: MarkMitigated) -> None:
    require_open(state)
    require_commander(state, req.by, "declare mitigation")
    require_declared(state)
    if state.mitigated_at is not None:
        raise Rejected(f"already mitigated at {state.mitigated_at:%H:%M:%S} UTC", "AlreadyMitigated")


def may_resolve(state: IncidentState, req: Resolve, require_vendor_ticket: bool) -> None:
    """Resolution follows verified mitigation; with a vendor involved (and the runbook asking for it),
    the vendor's ticket reference is recorded first."""
    require_open(state)
    require_commander(state, req.by, "declare resolution")
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


def may_confirm(state: IncidentState, req: StatusUpdate) -> None:
    """Post-mitigation checklist items are confirmed by a person once mitigation is verified; errors
    at baseline only by the IC, and only where warroom cannot verify them itself (no metrics source,
    no alert source) and has asked. After resolution the checklist is closed."""
    if req.confirm and state.resolved_at is not None:
        raise Rejected("already resolved: the post-mitigation checklist is closed", "AlreadyResolved")
    for item in req.confirm:
        if item == "errors_at_baseline":
            require_commander(state, req.by, "confirm errors are at baseline")
            if not state.checks.cannot_verify or state.mitigated_at is not None:
                raise Rejected(
                    "warroom verifies errors at baseline itself here (metrics or alerts): nothing to confirm",
                    "NothingToConfirm",
                )
        elif state.mitigated_at is None:
            raise Rejected(
                "the post-mitigation checklist starts once mitigation is verified (after the clean-metrics window)",
                "NotMitigated",
            )


def may_resolve_when_ready(state: IncidentState, req: Resolve, runbook: RunbookConfig, now: datetime) -> None:
    """After verified mitigation, resolution waits for the monitoring period; resolving earlier
    takes an explicit override with a reason (`--override`), which the timeline records."""
    if state.mitigated_at is None or state.resolved_at is not None or req.override:
        return  # `may_resolve` refuses the first two; an override resolves anyway
    blockers = resolve_blockers(state, runbook, now)
    if blockers:
        raise Rejected(
            "not ready to resolve:\n"
            + "\n".join(f"□ {b}" for b in blockers)
            + f"\nresolve anyway with a reason: warroom resolve {state.incident_id} --override 'REASON' ...",
            "NotReadyToResolve",
        )


def may_complete_pir(state: IncidentState, req: CompletePir) -> None:
    """The PIR owner or the IC completes the review, after resolution, with at least one action item."""
    require_open(state)
    if state.resolved_at is None:
        raise Rejected("the incident is not resolved yet", "NotResolved")
    if req.by not in {state.pir.owner, state.commander}:
        raise Rejected(f"only the PIR owner ({state.pir.owner}) or the IC may complete the PIR", "NotPirOwner")
    if not req.action_items:
        raise Rejected(
            "a PIR with no action items changes nothing: add at least one, with owner and due date", "NoActionItems"
        )


def may_complete_action_item(state: IncidentState, req: CompleteActionItem) -> None:
    """An action item of a completed PIR is closed once, by its owner, the PIR owner or the IC."""
    require_open(state)
    items = state.pir.action_items
    if state.pir.completed_at is None:
        raise Rejected("the PIR is not completed yet: its action items are not tracked", "NoPir")
    if req.item > len(items):
        raise Rejected(f"no action item {req.item}: the PIR has {len(items)}", "UnknownItem")
    item = items[req.item - 1]
    if item.done_at is not None:
        raise Rejected(f"action item {req.item} is already done ({item.done_by})", "AlreadyDone")
    if req.by not in {item.owner, state.pir.owner, state.commander}:
        raise Rejected(
            f"only {item.owner} (the owner), the PIR owner or the IC may close action item {req.item}", "NotItemOwner"
        )


def may_adopt_runbook(state: IncidentState, req: AdoptRunbook, current: RunbookConfig) -> None:
    """The IC moves an open incident to another runbook, one that changes something and whose
    customer-comms settings agree (what `warroom.runbook` checks when it reads a file)."""
    require_open(state)
    require_commander(state, req.by, "move the incident to another runbook")
    if req.runbook == current:
        raise Rejected("the incident already follows this runbook", "NoChange")
    if conflicts := req.runbook.customer_comms_conflicts():
        raise Rejected(f"the new runbook is invalid: {'; '.join(conflicts)}", "InvalidRunbook")


__all__ = [
    "MAX_ALERTS_PER_UPDATE",
    "Rejected",
    "forbid_commander_as_ops_lead",
    "may_acknowledge",
    "may_adopt_runbook",
    "may_assign_role",
    "may_complete_action_item",
    "may_confirm",
    "may_complete_pir",
    "may_declare",
    "may_approve_step",
    "may_cancel_step",
    "may_decide_step",
    "may_ingest_alert",
    "may_ingest_alerts",
    "may_mark_mitigated",
    "may_post_update",
    "may_propose_step",
    "may_resolve",
    "may_resolve_when_ready",
    "may_set_flags",
    "may_set_severity",
    "require_commander",
    "require_declared",
    "require_open",
    "require_responder",
]
