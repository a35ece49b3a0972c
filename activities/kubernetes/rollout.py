"""Rollouts: `kubectl rollout status | history | undo` and `scale`, decided by `warroom.policy.rollout`
(a port of kubectl's own algorithms), so a rollback by warroom and `kubectl rollout undo` write the
same thing."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Literal

from activities.kubernetes.client import KubeApi
from activities.kubernetes.errors import (
    KubeContraindicated,
    KubeInvalidRequest,
    KubeRevisionChanged,
    KubeRevisionNotFound,
)
from activities.kubernetes.health import annotation, revision
from activities.kubernetes.names import ROLLBACK_KEY, dns_label, dns_subdomain, positive
from warroom.contracts.kubernetes import (
    MigrationCheck,
    MigrationCheckRequest,
    RecentDeploy,
    RollbackRequest,
    RollbackResult,
    RolloutHistory,
    RolloutStatusReport,
    RolloutStatusRequest,
    ScaleRequest,
    ScaleResult,
)
from warroom.models import DeploymentTarget
from warroom.policy import rollout as policy


class Rollouts(KubeApi):
    def rollout_status(
        self,
        req: RolloutStatusRequest,
        progress: Callable[[RolloutStatusReport], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> RolloutStatusReport:
        """`kubectl rollout status`: poll until complete, failed, or `timeout_seconds` (then `timed_out`)."""
        if req.wait:
            positive(req.timeout_seconds, "timeout_seconds", 6 * 3600)
            positive(req.poll_seconds, "poll_seconds", 300)
        deadline = time.monotonic() + req.timeout_seconds
        polls = 0
        while True:
            d = self._deployment(req.namespace, req.deployment)
            polls += 1
            verdict = policy.rollout_status(d, req.revision)
            status = d.get("status") or {}
            outcome: Literal["complete", "progressing", "failed", "timed_out"] = (
                "complete" if verdict.done else "failed" if verdict.error else "progressing"
            )
            if outcome == "progressing" and req.wait and time.monotonic() >= deadline:
                outcome = "timed_out"
            report = RolloutStatusReport(
                namespace=req.namespace,
                deployment=req.deployment,
                done=verdict.done,
                outcome=outcome,
                message=verdict.message,
                revision=revision(d),
                replicas=status.get("replicas", 0),
                updated=status.get("updatedReplicas", 0),
                available=status.get("availableReplicas", 0),
                polls=polls,
            )
            if outcome != "progressing" or not req.wait:
                return report
            if progress is not None:
                progress(report)
            sleep(min(req.poll_seconds, max(0.0, deadline - time.monotonic())))

    def rollout_history(self, req: DeploymentTarget) -> RolloutHistory:
        d = self._deployment(req.namespace, req.deployment)
        return RolloutHistory(
            namespace=req.namespace,
            deployment=req.deployment,
            current_revision=revision(d),
            revisions=policy.rollout_history(d, self._replica_sets(d)),
        )

    def recent_deploy(self, req: DeploymentTarget) -> RecentDeploy:
        d = self._deployment(req.namespace, req.deployment)
        rss = self._replica_sets(d)
        _, new = policy.split_replica_sets(d, rss)
        timing = policy.deploy_timing(d, rss)
        verdict = policy.rollout_status(d)
        result = RecentDeploy(
            namespace=req.namespace,
            deployment=req.deployment,
            current_revision=revision(d),
            current_images=policy.images((d.get("spec") or {}).get("template") or {}),
            current_change_cause=annotation(new or d, policy.CHANGE_CAUSE_ANNOTATION),
            deployed_at=timing.deployed_at,
            deployed_at_source=timing.source,
            rollout_done=verdict.done,
            rollout_message=verdict.message,
            paused=bool((d.get("spec") or {}).get("paused")),
        )
        try:
            previous = policy.rollback_target(d, rss, 0)
        except policy.RolloutPolicyError:
            return result
        result.previous_revision = revision(previous)
        result.previous_images = policy.images((previous.get("spec") or {}).get("template") or {})
        result.previous_change_cause = annotation(previous, policy.CHANGE_CAUSE_ANNOTATION)
        return result

    def migration_check(self, req: MigrationCheckRequest) -> MigrationCheck:
        key = req.annotation or self.settings.migration_annotation
        d = self._deployment(req.namespace, req.deployment)
        rss = self._replica_sets(d)
        target = self._policy(policy.rollback_target, d, rss, req.to_revision)
        _, new = policy.split_replica_sets(d, rss)
        reason = policy.migration_contraindication(d, new, target, key)
        return MigrationCheck(
            namespace=req.namespace,
            deployment=req.deployment,
            target_revision=revision(target),
            contraindicated=reason is not None,
            annotation=key,
            contraindications=["db_migration_applied"] if reason else [],
            reasons=[reason] if reason else [],
        )

    def rollback(
        self,
        req: RollbackRequest,
        pinned_target: str | None = None,
        on_target: Callable[[str], None] | None = None,
        live: dict[str, Any] | None = None,
    ) -> RollbackResult:
        """`kubectl rollout undo`, safe to retry.

        The first attempt reports its chosen ReplicaSet through `on_target` before writing; a retry
        passes it back as `pinned_target` and restores that same template — which, once the first
        attempt went through, is a no-op ("already matches") instead of a second undo. A heartbeat
        can be lost with the worker that sent it, so the write also carries `idempotency_key`: a retry
        that finds its key on the Deployment knows the rollback is done, pinned target or not.
        `live`: the Deployment as the caller has just read it (a step's apply), to save a GET.
        """
        if req.idempotency_key is not None and not ROLLBACK_KEY.fullmatch(req.idempotency_key):
            raise KubeInvalidRequest("idempotency_key: 1-200 of [A-Za-z0-9._/-], starting with a letter or digit")
        d = live if live is not None else self._deployment(req.namespace, req.deployment)
        rss = self._replica_sets(d)
        current = policy.images((d.get("spec") or {}).get("template") or {})
        if (
            req.idempotency_key is not None
            and annotation(d, policy.ROLLBACK_KEY_ANNOTATION) == req.idempotency_key
            and not req.dry_run
        ):
            # An earlier attempt of this very decision wrote it (its heartbeat may never have arrived).
            _, new = policy.split_replica_sets(d, rss)
            return RollbackResult(
                namespace=req.namespace,
                deployment=req.deployment,
                outcome="skipped",
                message=f"deployment.apps/{req.deployment} already rolled back by {req.idempotency_key}",
                target_revision=revision(d) or 0,
                target_replica_set=new["metadata"]["name"] if new else "",
                images_before=current,
                images_after=current,
                resumed_attempt=True,
            )
        target = None
        if pinned_target is not None:
            target = next(
                (rs for rs in rss if rs["metadata"]["name"] == pinned_target and policy.is_controlled_by(rs, d)), None
            )
            if target is None:
                raise KubeRevisionNotFound(f"replica set {pinned_target!r} chosen by an earlier attempt is gone")
        elif req.expected_revision is not None and revision(d) != req.expected_revision:
            raise KubeRevisionChanged(
                f'deployment "{req.deployment}" is at revision {revision(d)}, not '
                f"{req.expected_revision}: another rollout happened; decide again"
            )
        plan = self._policy(policy.plan_rollback, d, rss, req.to_revision, target, req.idempotency_key)
        if on_target is not None:
            on_target(plan.target_replica_set)
        common: dict[str, Any] = dict(
            namespace=req.namespace,
            deployment=req.deployment,
            from_revision=plan.from_revision,
            target_revision=plan.target_revision,
            target_replica_set=plan.target_replica_set,
            images_before=current,
            resumed_attempt=pinned_target is not None,
        )
        if plan.action == "skip":
            return RollbackResult(
                outcome="skipped",
                message=f"deployment.apps/{req.deployment} {plan.message}",
                images_after=current,
                **common,
            )
        if not req.allow_contraindicated:
            target_rs = next(rs for rs in rss if rs["metadata"]["name"] == plan.target_replica_set)
            _, new = policy.split_replica_sets(d, rss)
            reason = policy.migration_contraindication(d, new, target_rs, self.settings.migration_annotation)
            if reason:
                raise KubeContraindicated(f"not rolling back deployment {req.deployment!r}: {reason}")
        self._call(
            self.apps.patch_namespaced_deployment,
            req.deployment,
            req.namespace,
            body=plan.patch,
            dry_run="All" if req.dry_run else None,
            _content_type="application/json-patch+json",
        )
        suffix = " (server dry run)" if req.dry_run else ""
        return RollbackResult(
            outcome="dry_run" if req.dry_run else "rolled_back",
            message=f"deployment.apps/{req.deployment} {plan.message}{suffix}",
            images_after=plan.images,
            **common,
        )

    def scale(self, req: ScaleRequest) -> ScaleResult:
        """`kubectl scale deployment/x --replicas=N` (a merge patch of the scale subresource)."""
        dns_label(req.namespace, "namespace")
        dns_subdomain(req.deployment, "deployment")
        if not 0 <= req.replicas <= 1000:
            raise KubeInvalidRequest(f"replicas must be in 0..1000, got {req.replicas}")
        before = self._json(self._call(self.apps.read_namespaced_deployment_scale, req.deployment, req.namespace))
        after = self._json(
            self._call(
                self.apps.patch_namespaced_deployment_scale,
                req.deployment,
                req.namespace,
                body={"spec": {"replicas": req.replicas}},
                dry_run="All" if req.dry_run else None,
                _content_type="application/merge-patch+json",
            )
        )
        previous = (before.get("spec") or {}).get("replicas", 0)
        suffix = " (server dry run)" if req.dry_run else ""
        return ScaleResult(
            namespace=req.namespace,
            deployment=req.deployment,
            previous_replicas=previous,
            replicas=(after.get("spec") or {}).get("replicas", req.replicas),
            message=f"deployment.apps/{req.deployment} scaled{suffix}",
        )
