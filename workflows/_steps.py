"""The step catalog at work inside the incident: preview, decision, apply, verification.

One task per step, started when it is proposed (by a person, or by the rollback rule):

1. preview: a server-side dry run, `--check --diff`, or the rendered request; its digest is what
   an approval must name;
2. decision: `auto` goes on at once; the rollback rule's veto window goes on unless denied; else
   the IC (two people under `two_person`) decides, re-prompted after `approve_within` and escalated
   through the matrix after twice that;
3. apply, with the incident/step as idempotency key; a world that moved on since the preview
   (`PreviewStale`) voids the approval, and a fresh preview is asked for;
4. verification: rollout status or the entry's PromQL check; a mitigating entry (rollback) then
   marks mitigation applied.

`cancel_step` cancels the task: a running activity is asked to stop and the timeline says so.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any, Protocol

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError

with workflow.unsafe.imports_passed_through():
    from warroom.catalog import StepEntry
    from warroom.config import RunbookConfig
    from warroom.contracts.kubernetes import ROLLOUT_STATUS, RolloutStatusRequest
    from warroom.contracts.steps import (
        HTTP_STEP_APPLY,
        KUBE_STEP_APPLY,
        KUBE_STEP_PREVIEW,
        PLAYBOOK_STEP_APPLY,
        PLAYBOOK_STEP_PREVIEW,
        PROMQL_CHECK,
        PromqlCheckRequest,
        StepOutcome,
    )
    from warroom.enums import format_duration
    from warroom.models import SYSTEM, IncidentState, PhaseEvent, Step
    from warroom.policy import steps as policy
    from warroom.step_models import StepApproval, StepPreview
    from workflows import _ledger as ledger
    from workflows import _step_requests as build
    from workflows._activities import call
    from workflows._runtime import send


class Host(Protocol):
    """What the runner needs of the incident workflow."""

    state: IncidentState
    runbook: RunbookConfig

    def _snapshot(self) -> IncidentState: ...
    def _record(self, kind: str, message: str, actor: str = SYSTEM, **data: str) -> None: ...
    def _publish(self) -> None: ...


class StepFailed(Exception):
    """The step could not be done; the message is the timeline's."""


def _why(err: BaseException) -> str:
    cause = err.cause if isinstance(err, ActivityError) else err
    if isinstance(cause, ApplicationError):
        return f"{cause.type}: {cause.message}"
    return str(cause or err)


def _decision(step: Step, outcome: str) -> dict[str, Any]:
    """How the step was decided and how long after its preview, for the notify activity to record
    (warroom_step_decision_seconds, warroom/telemetry/metrics.py); nothing for a step never decided."""
    if step.decided_at is None or step.previewed_at is None:
        return {}
    return {
        "step_decision": "denied" if outcome == "denied" else "approved",
        "step_decision_policy": "veto" if step.auto_approve_at else (step.policy or "ic"),
        "step_decision_seconds": round((step.decided_at - step.previewed_at).total_seconds(), 3),
    }


def _stale(err: ActivityError) -> bool:
    return isinstance(err.cause, ApplicationError) and err.cause.type == "PreviewStale"


class StepRunner:
    def __init__(self, host: Host) -> None:
        self.host = host
        self.tasks: dict[str, asyncio.Task[None]] = {}

    # --- Control ------------------------------------------------------------------------------

    def start(self, step_id: str) -> None:
        self.tasks[step_id] = asyncio.create_task(self._run(step_id))

    def cancel(self, step_id: str) -> bool:
        """Stop the step's task; False when it is not running (nothing to stop)."""
        task = self.tasks.get(step_id)
        if task is None or task.done():
            return False
        task.cancel()
        return True

    def step(self, step_id: str) -> Step:
        return next(s for s in self.host.state.steps if s.step_id == step_id)

    # --- The lifecycle ------------------------------------------------------------------------

    async def _run(self, step_id: str) -> None:
        step = self.step(step_id)
        entry = self.host.runbook.steps.entry(step.entry or "")
        if entry is None:  # the incident's runbook has no such entry (the validator refuses people's)
            self._finish(step, "failed", f"no step {step.entry!r} in this incident's catalog")
            return
        try:
            await self._lifecycle(step, entry)
        except (asyncio.CancelledError, CancelledError):
            if step.is_open:
                self._finish(step, "cancelled", "cancelled before it finished")
        except ActivityError as err:
            if isinstance(err.cause, CancelledError) and step.is_open:
                self._finish(step, "cancelled", "cancelled; the activity stopped")
            elif step.is_open:
                why = _why(err)
                self._finish(step, "failed", why)
                if entry.mitigates:  # the mitigation failed: the matrix hears it now, not at its timer
                    self._later(lambda: self._escalate_failure(step, why))

    async def _escalate_failure(self, step: Step, why: str) -> None:
        state, runbook = self.host.state, self.host.runbook
        if state.severity is None:
            return
        who = runbook.severity_matrix[state.severity].escalate_to
        try:
            await send(
                self.host._snapshot(),
                runbook,
                "page",
                "escalation",
                [who],
                reason=f"{step.action} {step.target} failed: {why}",
            )
        except ActivityError as err:
            self.host._record("notification_failed", f"the failed step could not be escalated: {_why(err)}")

    async def _lifecycle(self, step: Step, entry: StepEntry) -> None:
        while True:
            try:
                await self._preview(step, entry)
            except StepFailed as err:
                self._finish(step, "failed", f"preview failed: {err}")
                return
            await self._ask(step, entry)
            await self._decision(step)
            if step.status == "denied":
                await self._denied(step, entry)
            if step.status != "approved":
                return
            try:
                outcome = await self._apply(step, entry)
            except ActivityError as err:
                if not _stale(err):
                    raise
                step.status, step.approvals = "pending", []
                step.decided_by = step.decided_at = None
                self.host._record(
                    "step_stale",
                    f"step {step.step_id}: the approval no longer holds ({_why(err)}); previewing again",
                    step_id=step.step_id,
                )
                continue
            await self._done(step, entry, outcome)
            return

    async def _preview(self, step: Step, entry: StepEntry) -> None:
        preview = await self._make_preview(step, entry)
        step.preview = preview
        step.preview_digest = policy.preview_digest(preview)
        step.previewed_at = workflow.now()
        changes = "; ".join(f"{c.path}: {c.before} → {c.after}" for c in preview.changes[:5])
        self.host._record(
            "step_previewed",
            f"step {step.step_id} previewed ({step.preview_digest}): {preview.summary}"
            + (f" [{changes}]" if changes else ""),
            step_id=step.step_id,
            preview=step.preview_digest,
        )

    async def _make_preview(self, step: Step, entry: StepEntry) -> StepPreview:
        try:
            if entry.kind == "kubernetes":
                return await call(
                    KUBE_STEP_PREVIEW, build.kube(step, entry), summary=f"preview {step.step_id}: {step.target}"
                )
            if entry.kind == "playbook":
                return await call(
                    PLAYBOOK_STEP_PREVIEW,
                    build.playbook(step, entry, self.host.runbook),
                    summary=f"preview {step.step_id}: --check --diff",
                )
        except ActivityError as err:
            raise StepFailed(_why(err)) from None
        if entry.kind == "http":
            try:
                return build.http_preview(step, entry)
            except ValueError as err:
                raise StepFailed(str(err)) from None
        return policy.notice_preview(
            entry, step.params, build.audience(step, entry, self.host.state, self.host.runbook)
        )

    async def _ask(self, step: Step, entry: StepEntry) -> None:
        preview = step.preview
        assert preview is not None
        veto = step.auto_approve_at - workflow.now() if step.auto_approve_at else None
        await self._post(
            "step_preview",
            step_id=step.step_id,
            step=entry.name,
            proposed_by=step.proposed_by,
            preview_summary=preview.summary,
            changes=[f"{c.path}: {c.before} → {c.after}" for c in preview.changes[:10]],
            would_change=preview.would_change,
            digest=step.preview_digest,
            policy=step.policy,
            veto=format_duration(veto) if veto and veto > timedelta(0) else None,
        )

    async def _decision(self, step: Step) -> None:
        def decided() -> bool:
            return step.status != "pending"

        if step.policy == "auto":
            self._approve(step, SYSTEM, "approval: auto (runs once previewed)")
            return
        if step.auto_approve_at is not None:  # the rollback rule's veto window
            wait = max(step.auto_approve_at - workflow.now(), timedelta(0))
            try:
                await workflow.wait_condition(decided, timeout=wait, timeout_summary="rollback veto window")
            except TimeoutError:
                self._approve(
                    step, SYSTEM, f"no denial within the {format_duration(wait)} veto window", "rollback_auto_approved"
                )
            return
        within = policy.approve_within(self.host.runbook, self.host.state.severity)
        if within is not None:
            for escalate in (False, True):
                try:
                    await workflow.wait_condition(decided, timeout=within, timeout_summary=f"{step.step_id} decision")
                    return
                except TimeoutError:
                    await self._reprompt(step, within, escalate)
        await workflow.wait_condition(decided)

    async def _denied(self, step: Step, entry: StepEntry) -> None:
        """The channel hears the decision: a denied rollback as the rule's "not indicated" (the IC
        chose to debug on), any other step as its result."""
        if entry.name == "rollback":
            reasons = [f"the IC denied {step.step_id}: {step.reason}"]
            await self._post("rollback_not_indicated", reasons=reasons, target=step.target, **_decision(step, "denied"))
            return
        step.result = f"denied by {step.decided_by}: {step.reason}"
        await self._post_result(step, "denied")

    async def _reprompt(self, step: Step, within: timedelta, escalate: bool) -> None:
        state, runbook = self.host.state, self.host.runbook
        waited = workflow.now() - (step.previewed_at or step.proposed_at)
        target = None
        if escalate and state.severity is not None:
            target = runbook.severity_matrix[state.severity].escalate_to
        message = f"step {step.step_id} undecided after {format_duration(waited)}: " + (
            f"escalated to {target}" if target else "the IC is prompted again"
        )
        ledger.apply_phase_event(
            state,
            PhaseEvent(
                kind="step_escalated" if target else "step_reprompt",
                message=message,
                escalated_to=[target] if target else [],
            ),
            workflow.now(),
        )
        context: dict[str, Any] = {
            "step_id": step.step_id,
            "step": step.entry,
            "preview_summary": step.preview.summary if step.preview else step.target,
            "waited": format_duration(waited),
            "escalating": target,
        }
        await self._post("step_reprompt", **context)
        audience = [target] if target else [state.commander or runbook.roles.incident_commander_page]
        try:
            await send(self.host._snapshot(), runbook, "page", "step_reprompt", audience, **context)
        except ActivityError as err:
            self.host._record("notification_failed", f"the step prompt could not be paged: {_why(err)}")

    def _approve(self, step: Step, by: str, reason: str, kind: str = "step_approved") -> None:
        step.approvals.append(StepApproval(by=by, at=workflow.now(), preview=step.preview_digest, reason=reason))
        step.status, step.decided_by, step.decided_at, step.reason = "approved", by, workflow.now(), reason
        self.host._record(kind, f"step {step.step_id} approved by {by}: {reason}", by, step_id=step.step_id)

    # --- Apply and verify ---------------------------------------------------------------------

    async def _apply(self, step: Step, entry: StepEntry) -> StepOutcome:
        step.status, step.started_at = "running", workflow.now()
        self.host._record(
            "step_started",
            f"step {step.step_id} running: {step.preview.summary if step.preview else step.target}",
            step_id=step.step_id,
        )
        key = f"{self.host.state.incident_id}/{step.step_id}"
        if entry.kind == "kubernetes":
            req = build.kube(step, entry).model_copy(
                update={"expected": step.preview.observed if step.preview else "", "idempotency_key": key}
            )
            return await call(
                KUBE_STEP_APPLY,
                req,
                summary=f"{step.step_id}: {entry.name} {step.target}",
                start_to_close=entry.timeout,
            )
        if entry.kind == "playbook":
            req_pb = build.playbook(step, entry, self.host.runbook).model_copy(update={"idempotency_key": key})
            return await call(
                PLAYBOOK_STEP_APPLY,
                req_pb,
                summary=f"{step.step_id}: playbook {entry.playbook}",
                start_to_close=entry.timeout + timedelta(minutes=1),
            )
        if entry.kind == "http":
            req_http = build.http(step, entry).model_copy(update={"idempotency_key": key})
            summary = f"{step.step_id}: {req_http.method} {req_http.url}"[:200]
            return await call(HTTP_STEP_APPLY, req_http, summary=summary, start_to_close=entry.timeout)
        return await self._notice(step, entry)

    async def _notice(self, step: Step, entry: StepEntry) -> StepOutcome:
        """A page or an escalation: the message goes out now, whatever the timers say."""
        state = self.host.state
        who = build.audience(step, entry, self.host.state, self.host.runbook)
        reason = f"step {step.step_id} ({entry.name}) approved by {step.decided_by}" + (
            f": {step.description}" if step.description else ""
        )
        delivery = await send(self.host._snapshot(), self.host.runbook, "page", "escalation", [who], reason=reason)
        if entry.kind == "escalate" and who not in state.escalated_to:
            state.escalated_to.append(who)
        named = delivery.oncall.paged if delivery.oncall is not None else ""  # the person the roster had on call
        return StepOutcome(outcome="applied", summary=f"paged {named or who}")

    async def _done(self, step: Step, entry: StepEntry, outcome: StepOutcome) -> None:
        """Applied: the timeline says so at once; the step is done once its verification has run."""
        step.result, step.output = outcome.summary, outcome.output
        took = format_duration(workflow.now() - (step.started_at or workflow.now()))
        self.host._record(
            "rolled_back" if entry.name == "rollback" else "step_done",
            f"step {step.step_id} ({entry.name}) {outcome.outcome.replace('_', ' ')} in {took}: {outcome.summary}",
            step_id=step.step_id,
            outcome=outcome.outcome,
            output=outcome.output[:500],
        )
        verification = await self._verify(step, entry)
        step.verification = verification
        step.status, step.finished_at = "done", workflow.now()
        await self._post_result(step, "done")
        if entry.mitigates and (verification is None or verification.startswith("passed")):
            ledger.apply_phase_event(
                self.host.state,
                PhaseEvent(
                    kind="step_mitigation",
                    message=f"{step.step_id}: {outcome.summary}",
                    mitigation_applied=f"{entry.name}: {outcome.summary}"
                    + (f" ({outcome.output})" if outcome.output else ""),
                ),
                workflow.now(),
            )

    async def _verify(self, step: Step, entry: StepEntry) -> str | None:
        check = entry.verify
        if check is None:
            return None
        try:
            if check.rollout_status and entry.kind == "kubernetes":
                timeout = self.host.runbook.rollback.rollout_timeout
                status = await call(
                    ROLLOUT_STATUS,
                    RolloutStatusRequest(
                        namespace=str(step.params["namespace"]),
                        deployment=str(step.params["deployment"]),
                        timeout_seconds=timeout.total_seconds(),
                    ),
                    summary=f"{step.step_id}: rollout status",
                    start_to_close=timeout + timedelta(minutes=1),
                )
                self.host._record(
                    "rollout_status",
                    status.message,
                    step_id=step.step_id,
                    outcome=status.outcome,
                    available=str(status.available),
                )
                return f"{'passed' if status.outcome == 'complete' else 'failed'}: {status.message}"
            if check.promql:
                if check.wait > timedelta(0):
                    await workflow.sleep(check.wait, summary=f"{step.step_id}: before its check")
                result = await call(
                    PROMQL_CHECK,
                    PromqlCheckRequest(query=check.promql, below=check.below, above=check.above),
                    summary=f"{step.step_id}: PromQL check",
                )
                line = f"{'passed' if result.passed else 'failed'}: {result.message}"
                self.host._record("step_verified", f"step {step.step_id} verification {line}", step_id=step.step_id)
                return line
        except ActivityError as err:
            line = f"unknown: {_why(err)}"
            self.host._record("step_verified", f"step {step.step_id} verification {line}", step_id=step.step_id)
            return line
        return None

    def _finish(self, step: Step, status: str, result: str, kind: str | None = None, post: bool = True) -> None:
        step.status = status  # type: ignore[assignment]
        step.finished_at = workflow.now()
        step.result = step.result or result
        took = f" in {format_duration(step.finished_at - step.started_at)}" if step.started_at else ""
        if status == "failed" and step.entry == "rollback":
            kind = kind or "rollback_failed"
        self.host._record(
            kind or f"step_{status}",
            f"step {step.step_id} ({step.entry}) {status}{took}: {result}",
            step_id=step.step_id,
        )
        if post:
            self._later(lambda: self._post_result(step, status))

    def _later(self, make: Callable[[], Any]) -> None:
        asyncio.create_task(make())

    async def _post_result(self, step: Step, outcome: str) -> None:
        took = step.finished_at - step.started_at if step.finished_at and step.started_at else None
        await self._post(
            "step_result",
            step_id=step.step_id,
            step=step.entry,
            outcome=outcome,
            result=step.result,
            duration=format_duration(took) if took else None,
            verification=step.verification,
            **_decision(step, outcome),
        )

    async def _post(self, template: str, **context: Any) -> None:
        try:
            await send(self.host._snapshot(), self.host.runbook, "incident", template, **context)
        except ActivityError as err:
            self.host._record("notification_failed", f"{template!r} could not be posted: {_why(err)}")
