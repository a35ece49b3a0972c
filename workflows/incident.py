"""The incident entity: one workflow per incident that owns its state, roles, timeline and approvals.

It drives Detection → Declare → Command → Resolve → Retrospective as child workflows, forwards
every change of state to the running phase, and records what phases report. People act through
updates whose validators reject what the runbook forbids before anything reaches history: each
validator is one rule of `warroom.policy.authority`. How the state and timeline change is in
`workflows._ledger` and `workflows._changes`; this class keeps the clock and the commands.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from warroom.enums import Phase, Role, StepAction, format_duration
    from warroom.ids import phase_workflow_id
    from warroom.models import (
        Acknowledge,
        AssignRole,
        CancelStep,
        CompleteActionItem,
        CompletePir,
        Declare,
        IncidentInput,
        IncidentState,
        MarkMitigated,
        PhaseInput,
        PhaseResult,
        ProposeStep,
        Resolve,
        SetFlags,
        SetSeverity,
        StatusUpdate,
        Step,
        StepDecision,
        UpdateResult,
    )
    from warroom.policy import authority
    from warroom.policy.revisions import CHANNEL_SEQUENCE, REVISIONS
    from warroom.policy.steps import approvals_needed
    from warroom.policy.timers import pending_deadlines
    from warroom.step_models import StepApproval
    from workflows import _changes as changes
    from workflows import _ledger as ledger
    from workflows import _step_ledger as steps
    from workflows._incident_inputs import IncidentInputs
    from workflows._patches import patched
    from workflows._runtime import send
    from workflows._steps import StepRunner
    from workflows.command import CommandPhase
    from workflows.declare import DeclarePhase
    from workflows.detection import DetectionPhase
    from workflows.resolve import ResolvePhase
    from workflows.retrospective import RetrospectivePhase
    from workflows.sequence import name_channel


@workflow.defn(name="Incident")
class IncidentWorkflow(IncidentInputs):
    @workflow.init
    def __init__(self, inp: IncidentInput) -> None:
        self.runbook = inp.runbook
        self.publish = inp.publish_search_attributes
        if inp.continued:  # a later run of a long incident: everything as the previous run left it
            self._opened_by_alert = inp.continued.opened_by_alert
            self.state = inp.continued.state
        else:
            self._opened_by_alert = not inp.declared
            # 👉 Incidents started before a runbook rule was revised keep the rule they started with.
            revisions = [rule for rule in REVISIONS if patched(rule)]
            self.state = ledger.opened(inp, workflow.info().workflow_id, workflow.now(), revisions)
        self.steps = StepRunner(self)
        self._init_continuation(inp)

    # --- The lifecycle --------------------------------------------------------------------------

    @workflow.run
    async def run(self, inp: IncidentInput) -> IncidentState:
        # Incidents recorded before this forwarded every change; replay keeps them so.
        self._forward_only_relevant = patched("forward-phase-relevant-state")
        self._publish()
        # A continued run (workflows._continuation) resumes at the phase an earlier run left running.
        if self._resume == Phase.DETECTION or (self._resume is None and self.state.declared_at is None):
            detection = await self._run_phase(DetectionPhase.run, Phase.DETECTION)
            if detection.outcome == "dismissed":
                return await self._close(detection.message)
        # 👉 Incidents started before the day's channel sequence named their channel at declaration.
        if CHANNEL_SEQUENCE in self.state.revisions and not self.state.channel:
            await name_channel(self.state)
        for run_fn, phase in (DeclarePhase.run, Phase.DECLARE), (CommandPhase.run, Phase.COMMAND):
            if self._phase_due(phase):
                await self._run_phase(run_fn, phase)
        if self._phase_due(Phase.RESOLVE):
            await self._run_phase(ResolvePhase.run, Phase.RESOLVE)
        assert self.state.severity is not None
        if self.state.severity in self.runbook.retrospective.required_for and self._phase_due(Phase.RETROSPECTIVE):
            await self._run_phase(RetrospectivePhase.run, Phase.RETROSPECTIVE)
        if self.state.pir.action_items and all(i.done_at for i in self.state.pir.action_items):
            return await self._close("post-incident review complete, every action item done")
        return await self._close("post-incident review complete" if self.state.pir.completed_at else "resolved")

    async def _phase(self, run_fn: Any, phase: Phase) -> PhaseResult:
        """Run one phase as a child workflow, forwarding every state change to it until it returns."""
        self._set_phase(phase)
        snapshot, sent, self._forwarded = self._snapshot(), self.state.version, ledger.phase_view(self.state)
        runbook = self.runbook
        child = await workflow.start_child_workflow(
            run_fn,
            PhaseInput(parent_workflow_id=self.state.workflow_id, state=snapshot, runbook=runbook),
            id=phase_workflow_id(self.state.workflow_id, phase),
            # It may outlive this run (workflows._continuation).
            parent_close_policy=ParentClosePolicy.ABANDON if self._continues else ParentClosePolicy.TERMINATE,
            static_summary=f"{phase.value} phase of {self.state.incident_id}",
        )
        self.running = child
        if self.runbook is not runbook:  # a runbook adopted while the child was starting
            await self.hand_runbook()
        # A change made while the child was starting (an alert resolving at once) is forwarded below;
        # 👉 incidents recorded before this fix compared against the state after the start.
        if not patched("forward-changes-during-phase-start"):
            sent, self._forwarded = self.state.version, ledger.phase_view(self.state)
        while not child.done():
            await workflow.wait_condition(lambda: child.done() or self.state.version != sent)
            if child.done():
                break
            sent = self.state.version
            view = ledger.phase_view(self.state)
            # 👉 An alert storm changes counts and the timeline, which no phase reads: don't wake it.
            if view == self._forwarded and self._forward_only_relevant:
                continue
            self._forwarded = view
            try:
                await child.signal("incident_changed", self._snapshot())
            except Exception:
                # The child completed between our check and the signal (its completion event is
                # not applied yet); its result arrives next. Anything else is a real failure.
                try:
                    await workflow.wait_condition(child.done, timeout=timedelta(minutes=5))
                except TimeoutError:
                    raise ApplicationError(f"{phase.value} phase stopped answering", type="PhaseLost") from None
        result: PhaseResult = await child
        self._record("phase_completed", f"{phase.value} phase: {result.outcome}", phase=phase.value)
        return result

    async def _close(self, reason: str) -> IncidentState:
        for step in self.state.steps:
            self.steps.cancel(step.step_id)
        self.state.closed_at = workflow.now()
        self._set_phase(Phase.CLOSED)
        self._record("closed", f"incident closed: {reason}")
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.state

    # --- Queries and signals --------------------------------------------------------------------

    @workflow.query(name="state", description="The incident's state, timeline and next deadlines.")
    def current_state(self) -> IncidentState:
        return self.state.model_copy(update={"deadlines": pending_deadlines(self.state, self.runbook)})

    # --- Updates: human input -------------------------------------------------------------------

    @workflow.update(
        description='Acknowledge the page. JSON: {"by": "carol"}; {"by": "alice", "take_command": true} also takes command.'
    )
    async def acknowledge(self, req: Acknowledge) -> UpdateResult:
        first = self.state.acknowledged_at is None
        # 👉 Incidents recorded before the IC was its own role: the first to acknowledge took command.
        if patched("ack-is-not-command"):
            message, commander_changed = ledger.acknowledge(self.state, req, workflow.now())
        else:
            self.state.acknowledged_at = self.state.acknowledged_at or workflow.now()
            self.state.acknowledged_by = self.state.acknowledged_by or req.by
            message = f"acknowledged by {req.by}"
            commander_changed = Role.INCIDENT_COMMANDER not in self.state.roles
            if commander_changed:
                self.state.roles[Role.INCIDENT_COMMANDER] = req.by
                message += "; takes command as Incident Commander"
        if commander_changed:
            self._publish()
        result = self._done("acknowledged", message, req.by)
        # 👉 Incidents recorded before pages were acknowledged upstream replay without this activity.
        if first and patched("page-acknowledged"):
            try:  # tell the paging system (PagerDuty: acknowledge the dedup key) so it stops re-paging
                await send(
                    self._snapshot(), self.runbook, "page", "page_acknowledged", [req.by], page_action="acknowledge"
                )
            except ActivityError as err:
                self._record("notification_failed", f"the page could not be acknowledged upstream: {err.cause or err}")
        return result

    @acknowledge.validator
    def _validate_acknowledge(self, req: Acknowledge) -> None:
        self._check(authority.may_acknowledge, self.state, req)

    @workflow.update(
        description='Declare now (declare early, downgrade later). JSON: {"by": "alice", "severity": "P2", "reason": "..."}'
    )
    def declare(self, req: Declare) -> UpdateResult:
        ledger.declare(
            self.state, self.runbook, workflow.now(), req.by, req.severity, req.reason or "declared by a person"
        )
        self._publish()
        return self._done(None, f"declared {self.state.severity} by {req.by}", req.by)

    @declare.validator
    def _validate_declare(self, req: Declare) -> None:
        self._check(authority.may_declare, self.state, req)

    @workflow.update(description='Assign a role. JSON: {"role": "operations_lead", "person": "bob", "by": "alice"}')
    def assign_role(self, req: AssignRole) -> UpdateResult:
        previous = self.state.roles.get(req.role)
        self.state.roles[req.role] = req.person
        if req.role == Role.INCIDENT_COMMANDER and req.person == req.by != previous:
            ledger.note_acknowledged(self.state, req.by)  # naming yourself IC acknowledges the IC page
        if req.role == Role.PIR_OWNER:
            self.state.pir.owner = req.person
        if req.role == Role.INCIDENT_COMMANDER:
            self._publish()
        handover = f" (was {previous})" if previous and previous != req.person else ""
        return self._done(
            "role_assigned",
            f"{req.person} is {req.role.value}{handover}",
            req.by,
            role=req.role.value,
            person=req.person,
        )

    @assign_role.validator
    def _validate_assign_role(self, req: AssignRole) -> None:
        self._check(authority.may_assign_role, self.state, req)

    @workflow.update(
        description='Change severity; re-plans every pending timer. JSON: {"severity": "P1", "by": "alice", "reason": "..."}'
    )
    def set_severity(self, req: SetSeverity) -> UpdateResult:
        before = self.state.severity
        self.state.severity = req.severity
        self._publish()
        result = self._done(
            "severity_changed",
            f"severity {before} → {req.severity}: {req.reason}",
            req.by,
            before=str(before),
            after=req.severity.value,
        )
        changes.severity_changed(self.state, self.runbook, before, workflow.now(), req.by, req.reason)
        return result

    @set_severity.validator
    def _validate_set_severity(self, req: SetSeverity) -> None:
        self._check(authority.may_set_severity, self.state, req)

    @workflow.update(
        description='Raise a special case or record the vendor ticket. JSON: {"by": "alice", "data_loss": true, "vendor_ticket": "ZD-123"}'
    )
    async def set_flags(self, req: SetFlags) -> UpdateResult:
        before, declared, ticket = self.state.signals, self.state.declared_at, self.state.vendor_ticket
        message = "; ".join(changes.set_flags(self.state, req)) or "no change"
        self._record("flags_changed", message, req.by)
        changes.flags_changed(self.state, self.runbook, before, workflow.now(), req.by)
        if self.state.declared_at != declared:
            self._publish()
        result = self._done(None, message, req.by)
        # 👉 Incidents recorded before the seed's "reference number in incident channel" replay without it.
        if changes.vendor_ticket_to_post(self.state, ticket) and patched("vendor-ticket-posted"):
            await self._post("vendor_ticket_recorded", vendor_ticket=self.state.vendor_ticket, recorded_by=req.by)
        return result

    @set_flags.validator
    def _validate_set_flags(self, req: SetFlags) -> None:
        self._check(authority.may_set_flags, self.state, req)

    @workflow.update(
        description='Post the 15-minute update (and optionally the status page). JSON: {"by": "alice", "error_rate": 8, "hypothesis": "...", "next_action": "...", "owner": "bob", "eta": "14:40"}'
    )
    async def post_update(self, req: StatusUpdate) -> UpdateResult:
        if req.confirm:
            confirmed = await self._confirm(req)
            if ledger.confirmation_only(req):
                return confirmed
        now = workflow.now()
        self.state.last_internal_update_at = now
        ledger.note_update(self.state, req, now)  # progress or not: the stuck line's clock
        public = req.public_status is not None
        if public:
            self.state.last_external_update_at = now
            self.state.public_status = req.public_status
        result = self._done(
            "status_update",
            f"update: error rate {f'{req.error_rate:g}%' if req.error_rate is not None else 'not given'}, "
            f"hypothesis: {req.hypothesis or 'none'}, next: {req.next_action or '?'}",
            req.by,
            public=req.public_status or "no",
        )
        await self._post_update_messages(req)
        return result

    @post_update.validator
    def _validate_post_update(self, req: StatusUpdate) -> None:
        self._check(authority.may_post_update, self.state, req)
        self._check(authority.may_confirm, self.state, req)

    @workflow.update(
        description='Propose a catalog step (`warroom steps`); it is previewed, then decided. JSON: {"by": "bob", "step": "scale", "params": {"replicas": 6}, "description": "..."}'
    )
    def propose_step(self, req: ProposeStep) -> UpdateResult:
        step_id = f"s{len(self.state.steps) + 1}"
        # 👉 Incidents recorded before the step catalog only recorded proposals.
        runs = (req.step is not None or req.action != StepAction.CUSTOM) and patched("step-catalog")
        step = steps.proposed(self.state, self.runbook, req, step_id, workflow.now()) if runs else None
        self.state.steps.append(
            step
            or Step(
                step_id=step_id,
                action=req.action or "custom",
                target=req.target or "",
                description=req.description,
                evidence=req.evidence,
                proposed_by=req.by,
                proposed_at=workflow.now(),
            )
        )
        shown = f"{step.action} ({steps.shown_params(step)})" if step else f"{req.action} {req.target}"
        result = self._done(
            "step_proposed", f"step {step_id} proposed: {shown}", req.by, step_id=step_id, **req.evidence
        )
        if step:
            self.steps.start(step_id)
        return result

    @propose_step.validator
    def _validate_propose_step(self, req: ProposeStep) -> None:
        self._check(authority.may_propose_step, self.state, req, self.runbook)

    @workflow.update(
        description='Approve a proposed step, naming the preview you saw. JSON: {"step_id": "s1", "by": "alice", "reason": "deploy 20 min ago", "preview": "3f9a0c1b2d4e"}'
    )
    def approve(self, req: StepDecision) -> UpdateResult:
        return self._decide(req, "approved")

    @approve.validator
    def _validate_approve(self, req: StepDecision) -> None:
        self._check(authority.may_approve_step, self.state, req)

    @workflow.update(
        description='The IC denies a proposed step; the denial is recorded. JSON: {"step_id": "s1", "by": "alice", "reason": "..."}'
    )
    def deny(self, req: StepDecision) -> UpdateResult:
        return self._decide(req, "denied")

    @deny.validator
    def _validate_deny(self, req: StepDecision) -> None:
        self._check(authority.may_decide_step, self.state, req)

    @workflow.update(
        description='Withdraw a step not yet decided, or stop one running (the IC or its proposer). JSON: {"step_id": "s2", "by": "alice", "reason": "wrong deployment"}'
    )
    def cancel_step(self, req: CancelStep) -> UpdateResult:
        step = next(s for s in self.state.steps if s.step_id == req.step_id)
        running = step.status in ("approved", "running")
        if not running:
            step.status, step.finished_at = "cancelled", workflow.now()
        result = self._done(
            "step_cancel" if running else "step_cancelled",
            f"step {step.step_id} {'being stopped' if running else 'cancelled'} by {req.by}: {req.reason}",
            req.by,
            step_id=step.step_id,
        )
        self.steps.cancel(step.step_id)
        return result

    @cancel_step.validator
    def _validate_cancel_step(self, req: CancelStep) -> None:
        self._check(authority.may_cancel_step, self.state, req)

    @workflow.update(
        description='Mitigation applied; starts the clean-metrics window. JSON: {"by": "alice", "action": "rolled back to v2.14.2"}'
    )
    def mark_mitigated(self, req: MarkMitigated) -> UpdateResult:
        self.state.mitigation_applied_at = workflow.now()
        self.state.mitigation_action = req.action
        window = format_duration(self.runbook.resolve.clean_window)
        return self._done(
            "mitigation_applied", f"mitigation applied: {req.action}; verifying {window} of clean metrics", req.by
        )

    @mark_mitigated.validator
    def _validate_mark_mitigated(self, req: MarkMitigated) -> None:
        self._check(authority.may_mark_mitigated, self.state, req)

    @workflow.update(
        description='Declare resolution (after verified mitigation and the monitoring period; "override": "why" resolves earlier). JSON: {"by": "alice", "summary": "...", "pir_owner": "bob"}'
    )
    def resolve(self, req: Resolve) -> UpdateResult:
        ledger.resolve(self.state, self.runbook, req, workflow.now())
        self._publish()
        pir = self.state.pir
        return self._done("resolved", f"resolved: {req.summary}; PIR by {pir.owner} due {pir.due:%Y-%m-%d}", req.by)

    @resolve.validator
    def _validate_resolve(self, req: Resolve) -> None:
        self._check(
            authority.may_resolve, self.state, req, self.runbook.special_cases.third_party_vendor.require_vendor_ticket
        )
        self._check(authority.may_resolve_when_ready, self.state, req, self.runbook, workflow.now())

    @workflow.update(
        description="Complete the post-incident review; needs at least one action item with owner and due date."
    )
    def complete_pir(self, req: CompletePir) -> UpdateResult:
        self.state.pir.completed_at = workflow.now()
        self.state.pir.document = req.document
        self.state.pir.action_items = list(req.action_items)
        return self._done("pir_completed", f"PIR completed with {len(req.action_items)} action item(s)", req.by)

    @complete_pir.validator
    def _validate_complete_pir(self, req: CompletePir) -> None:
        self._check(authority.may_complete_pir, self.state, req)

    @workflow.update(
        description='Mark a PIR action item done (1-based). JSON: {"by": "bob", "item": 1, "note": "shipped"}'
    )
    def complete_action_item(self, req: CompleteActionItem) -> UpdateResult:
        item = self.state.pir.action_items[req.item - 1]
        item.done_at = workflow.now()
        item.done_by = req.by
        left = sum(1 for i in self.state.pir.action_items if i.done_at is None)
        return self._done(
            "action_item_done",
            f"action item {req.item} done: {item.title}; {left} left" + (f" ({req.note})" if req.note else ""),
            req.by,
            item=str(req.item),
        )

    @complete_action_item.validator
    def _validate_complete_action_item(self, req: CompleteActionItem) -> None:
        self._check(authority.may_complete_action_item, self.state, req)

    # --- Internals ------------------------------------------------------------------------------

    def _decide(self, req: StepDecision, status: Literal["approved", "denied"]) -> UpdateResult:
        step = next(s for s in self.state.steps if s.step_id == req.step_id)
        if step.entry is not None:
            step.approvals.append(StepApproval(by=req.by, at=workflow.now(), preview=req.preview, reason=req.reason))
        if step.entry is not None and status == "approved" and len(step.approvals) < approvals_needed(step):
            return self._done(
                "step_approval",
                f"step {step.step_id} ({step.action}) approved by {req.by} ({len(step.approvals)} of "
                f"{approvals_needed(step)}; the two-person rule waits for another approver): {req.reason}",
                req.by,
                step_id=step.step_id,
                reason=req.reason,
            )
        step.status = status
        step.decided_by = req.by
        step.decided_at = workflow.now()
        step.reason = req.reason
        seen = f" on preview {req.preview}" if req.preview else ""
        return self._done(
            f"step_{status}",
            f"step {step.step_id} ({step.action} {step.target}) {status} by {req.by}{seen}: {req.reason}",
            req.by,
            step_id=step.step_id,
            reason=req.reason,
        )
