"""The Resolve rule inside Command: "deploy within 2 hours + errors elevated = ROLL BACK FIRST".

warroom gathers the evidence (when the deploy happened, error rate now and before it, whether a
DB migration was applied), decides with the pure rollback rule, and either proposes the rollback
to the IC — who may deny it within the veto window, after which it goes ahead ("just do it, don't
debate") unless the runbook wants an explicit approval — or hands the IC the diagnosis with the
escalation timers still running. A rollback is followed by rollout status, then mitigation is
applied and the clean-metrics window of the Resolve phase decides.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from warroom.contracts.kubernetes import (
        MIGRATION_CHECK,
        RECENT_DEPLOY,
        ROLLBACK,
        ROLLOUT_STATUS,
        MigrationCheck,
        MigrationCheckRequest,
        RecentDeploy,
        RollbackRequest,
        RolloutStatusRequest,
    )
    from warroom.contracts.metrics import READ_ERROR_RATIO, ErrorRatioReading, ErrorRatioRequest
    from warroom.enums import format_duration
    from warroom.models import DeploymentTarget, PhaseEvent, ProposedByWarroom
    from warroom.policy.escalation import escalation_plan
    from warroom.policy.rollback import RollbackDecision, decide_rollback
    from workflows._activities import call
    from workflows._patches import patched
    from workflows._runtime import PhaseRuntime


def _why(err: ActivityError) -> str:
    cause = err.cause
    if isinstance(cause, ApplicationError):
        return f"{cause.type}: {cause.message}"
    return str(cause or err)


class RollbackProposal:
    """The rollback rule for one incident: evidence, decision, proposal, veto window, rollback, rollout."""

    def __init__(self, rt: PhaseRuntime, target: DeploymentTarget) -> None:
        self.rt = rt
        self.target = target

    async def run(self) -> None:
        rt = self.rt
        try:
            recent = await call(RECENT_DEPLOY, self.target, summary=f"recent deploy of {self.target}")
        except ActivityError as err:
            await rt.report(
                PhaseEvent(
                    kind="rollback_rule",
                    message=f"rollback rule not evaluated: the cluster did not answer ({_why(err)})",
                )
            )
            return
        reading = await self._error_ratio(recent)
        migration = await self._migration()
        decision = decide_rollback(
            now=workflow.now(),
            deployed_at=recent.deployed_at,
            error_ratio=reading.error_ratio if reading else None,
            baseline_error_ratio=reading.baseline_error_ratio if reading else None,
            contraindications=migration.contraindications if migration else [],
            rule=rt.runbook.rollback,
        )
        evidence = self._evidence(decision, recent, reading, migration)
        verdict = "holds" if decision.rollback else "does not hold"
        await rt.report(
            PhaseEvent(
                kind="rollback_rule", message=f"rollback rule {verdict}: " + "; ".join(decision.reasons), data=evidence
            )
        )
        if not decision.rollback:
            await rt.notify("incident", "rollback_not_indicated", reasons=decision.reasons, target=str(self.target))
            return
        # 👉 Incidents recorded before the status page said "Identified" replay without the post.
        if patched("status-identified-when-the-rollback-rule-holds") and recent.deployed_at:
            await self._identified(recent.deployed_at)
        # 👉 Incidents recorded before the step catalog ran the rollback here; it now runs as the
        # catalog's `rollback` step in the incident (preview, veto window, apply, rollout status).
        if patched("rollback-via-catalog"):
            await self._propose_to_catalog(recent, evidence)
            return
        await self._propose_and_execute(recent, evidence)

    async def _propose_to_catalog(self, recent: RecentDeploy, evidence: dict[str, str]) -> None:
        proposal, context = self._proposal(recent, evidence)
        proposal.entry = "rollback"
        proposal.params = {"namespace": self.target.namespace, "deployment": self.target.deployment, "to_revision": 0}
        await self.rt.notify("incident", "rollback_proposed", **context)
        await self.rt.report(PhaseEvent(kind="rollback_proposed", message=proposal.description, propose=proposal))

    def _proposal(self, recent: RecentDeploy, evidence: dict[str, str]) -> tuple[ProposedByWarroom, dict[str, Any]]:
        """The rollback the rule proposes (a veto window unless the runbook wants the IC's approval),
        and what the channel is told of it."""
        rt = self.rt
        rule = rt.runbook.rollback
        explicit = rule.needs_explicit_approval(rt.state.severity, rt.state.service)
        step_id = f"rb{sum(1 for s in rt.state.steps if s.step_id.startswith('rb')) + 1}"
        description = (
            f"roll back deployment/{self.target.deployment} in {self.target.namespace} "
            f"from revision {recent.current_revision} to {recent.previous_revision}"
        )
        proposal = ProposedByWarroom(
            step_id=step_id,
            action="rollback",
            target=f"{self.target}",
            description=description,
            evidence=evidence,
            auto_approve_at=None if explicit else workflow.now() + rule.veto_window,
        )
        context: dict[str, Any] = {
            "step_id": step_id,
            "description": description,
            "veto": format_duration(rule.veto_window) if not explicit else None,
            **evidence,
        }
        return proposal, context

    async def _identified(self, deployed_at: datetime) -> None:
        """The seed's "Identified" status page post: the rule found the deploy that caused it. Only where
        the status page is kept for this severity and details may be public (not a security incident)."""
        rt = self.rt
        severity = rt.state.severity
        if severity is None or severity not in rt.runbook.comms.status_page_for:
            return
        if not escalation_plan(severity, rt.state.signals, rt.runbook).public_details:
            return
        posted = await rt.notify(
            "status_page", "status_identified", ["status-page"], public=True, deployed=f"{deployed_at:%H:%M}"
        )
        await rt.report(
            PhaseEvent(
                kind="status_page_identified",
                message="identified: the cause is posted to the status page",
                public_post=posted is not None,
            )
        )

    async def _error_ratio(self, recent: RecentDeploy) -> ErrorRatioReading | None:
        try:
            return await call(
                READ_ERROR_RATIO,
                ErrorRatioRequest(service=self.rt.state.service, deployed_at=recent.deployed_at),
                summary="error ratio now and before the deploy",
            )
        except ActivityError as err:
            await self.rt.report(PhaseEvent(kind="metrics_unavailable", message=f"error rates unknown: {_why(err)}"))
            return None

    async def _migration(self) -> MigrationCheck | None:
        try:
            return await call(
                MIGRATION_CHECK,
                MigrationCheckRequest(namespace=self.target.namespace, deployment=self.target.deployment),
                summary="DB-migration contraindication",
            )
        except ActivityError as err:
            await self.rt.report(
                PhaseEvent(kind="migration_check_failed", message=f"migration check failed: {_why(err)}")
            )
            return None

    @staticmethod
    def _evidence(
        decision: RollbackDecision,
        recent: RecentDeploy,
        reading: ErrorRatioReading | None,
        migration: MigrationCheck | None,
    ) -> dict[str, str]:
        e = decision.evidence
        out = {
            "deployed_at": e.deployed_at.isoformat() if e.deployed_at else "unknown",
            "deploy_age": format_duration(e.deploy_age) if e.deploy_age is not None else "unknown",
            "revision": str(recent.current_revision),
            "previous_revision": str(recent.previous_revision),
            "images": ", ".join(recent.current_images.values()),
            "previous_images": ", ".join(recent.previous_images.values()),
            "error_ratio": f"{e.error_ratio:.4f}" if e.error_ratio is not None else "unknown",
            "baseline_error_ratio": f"{e.baseline_error_ratio:.4f}"
            if e.baseline_error_ratio is not None
            else "unknown",
            "contraindications": ", ".join(e.contraindications) or "none",
        }
        if migration and migration.reasons:
            out["migration"] = "; ".join(migration.reasons)
        if reading and reading.burn_rate is not None:
            out["burn_rate"] = f"{reading.burn_rate:.1f}x"
        return out

    async def _propose_and_execute(self, recent: RecentDeploy, evidence: dict[str, str]) -> None:
        """Incidents recorded before the catalog: the rule's own veto window and rollback, here in Command."""
        rt = self.rt
        rule = rt.runbook.rollback
        proposal, context = self._proposal(recent, evidence)
        step_id, explicit = proposal.step_id, proposal.auto_approve_at is None
        await rt.report(PhaseEvent(kind="rollback_proposed", message=proposal.description, propose=proposal))
        await rt.notify("incident", "rollback_proposed", **context)

        def decided() -> bool:
            step = next((s for s in rt.state.steps if s.step_id == step_id), None)
            return step is not None and step.status != "pending"

        try:
            await workflow.wait_condition(
                decided, timeout=rule.veto_window if not explicit else None, timeout_summary="rollback veto window"
            )
        except TimeoutError:
            await rt.report(
                PhaseEvent(
                    kind="rollback_auto_approved",
                    step_id=step_id,
                    step_status="approved",
                    message=f"no denial within the {format_duration(rule.veto_window)} veto window: rolling back",
                )
            )
            await workflow.wait_condition(decided)
        step = next(s for s in rt.state.steps if s.step_id == step_id)
        if step.status != "approved":
            await rt.notify(
                "incident",
                "rollback_not_indicated",
                reasons=[f"the IC denied {step_id}: {step.reason}"],
                target=str(self.target),
            )
            return
        await self._execute(step_id, recent)

    async def _execute(self, step_id: str, recent: RecentDeploy) -> None:
        rt = self.rt
        try:
            result = await call(
                ROLLBACK,
                RollbackRequest(
                    namespace=self.target.namespace,
                    deployment=self.target.deployment,
                    expected_revision=recent.current_revision,
                    idempotency_key=f"{rt.state.incident_id}/{step_id}",
                ),
                summary=f"rollback {self.target}",
            )
        except ActivityError as err:
            await rt.report(
                PhaseEvent(
                    kind="rollback_failed",
                    step_id=step_id,
                    step_status="failed",
                    message=f"rollback of {self.target} failed: {_why(err)}",
                )
            )
            await rt.notify(
                "page",
                "escalation",
                [rt.runbook.severity_matrix[rt.state.severity].escalate_to] if rt.state.severity else [],
                reason=f"rollback of {self.target} failed: {_why(err)}",
            )
            return
        await rt.report(
            PhaseEvent(
                kind="rolled_back",
                step_id=step_id,
                step_status="done",
                message=result.message,
                data={
                    "target_revision": str(result.target_revision),
                    "images": ", ".join(result.images_after.values()),
                },
            )
        )
        timeout = rt.runbook.rollback.rollout_timeout
        try:
            status = await call(
                ROLLOUT_STATUS,
                RolloutStatusRequest(
                    namespace=self.target.namespace,
                    deployment=self.target.deployment,
                    timeout_seconds=timeout.total_seconds(),
                ),
                summary="rollout status",
                start_to_close=timeout + timedelta(minutes=1),  # the runbook's wait, and a minute to report it
            )
        except ActivityError as err:
            await rt.report(PhaseEvent(kind="rollout_unknown", message=f"rollout status unknown: {_why(err)}"))
            return
        await rt.report(
            PhaseEvent(
                kind="rollout_status",
                message=status.message,
                data={"outcome": status.outcome, "available": str(status.available)},
            )
        )
        if status.outcome == "complete":
            images = ", ".join(result.images_after.values())
            await rt.report(
                PhaseEvent(
                    kind="rollback_mitigation",
                    message=f"rolled back to {images}",
                    mitigation_applied=f"rolled back {self.target} to revision {result.target_revision} ({images})",
                )
            )
