"""The step catalog's Kubernetes steps: preview (a server-side dry run) and apply, with kubectl's semantics.

    restart         `kubectl rollout restart`: strategic-merge patch of the template's restartedAt annotation
    scale           `kubectl scale --replicas=N`: merge patch of the scale subresource
    pause-rollout   `kubectl rollout pause`: strategic-merge patch spec.paused = true
    resume-rollout  `kubectl rollout resume`: strategic-merge patch spec.paused = null
    rollback        `kubectl rollout undo`: `Rollouts.rollback`'s JSON Patch (rollout.py)

The preview reads the Deployment and sends exactly the patch the apply will send, with `dryRun=All`;
`observed` fingerprints the Deployment it read ("revision=3 generation=7 replicas=3 paused=false").
The apply reads the Deployment once more: if it already shows the step's result, the step is done
(a retry after a worker died mid-step acts once); if the fingerprint moved since the preview, it
refuses with `PreviewStale`; otherwise it patches. Restart and scale cost two requests.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from contextlib import nullcontext
from datetime import datetime
from typing import Any, Literal

from temporalio import activity

from activities.kubernetes.errors import KubeContraindicated, KubeInvalidRequest, KubePaused
from activities.kubernetes.health import annotation, revision
from activities.kubernetes.names import ROLLBACK_KEY, dns_label, dns_subdomain, shown
from activities.kubernetes.rollout import Rollouts
from warroom.contracts.errors import PreviewStale, boundary
from warroom.contracts.kubernetes import RollbackRequest
from warroom.contracts.steps import (
    KUBE_STEP_APPLY,
    KUBE_STEP_PREVIEW,
    PREVIEW_TEXT_MAX,
    FieldChange,
    KubeStepRequest,
    StepOutcome,
    StepPreview,
)
from warroom.policy import rollout as policy
from warroom.telemetry.metrics import rollback_recorded

Obj = dict[str, Any]
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
STRATEGIC = "application/strategic-merge-patch+json"
MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
FIELD_MANAGER = "warroom"
"""Where kubectl sends `fieldManager=kubectl-rollout` (restart, pause, resume), warroom names itself."""
MAX_REPLICAS = 1000
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$")


class _Patch:
    """One write: where it goes, how it is encoded, and what it says."""

    def __init__(self, req: KubeStepRequest, content_type: str, body: Any, subresource: str = "") -> None:
        self.namespace, self.name = req.namespace, req.deployment
        self.content_type, self.body, self.subresource = content_type, body, subresource
        self.path = f"/apis/apps/v1/namespaces/{req.namespace}/deployments/{req.deployment}"
        if subresource:
            self.path += f"/{subresource}"

    def text(self) -> str:
        """The request as the approver sees it: method, path, content type, the JSON sent."""
        shown_body = json.dumps(self.body, separators=(",", ":"), sort_keys=False)
        text = f"PATCH {self.path}\nContent-Type: {self.content_type}\n\n{shown_body}"
        return text if len(text) <= PREVIEW_TEXT_MAX else text[: PREVIEW_TEXT_MAX - 3] + "..."


def _line(text: str) -> str:
    return text if len(text) <= 300 else text[:297] + "..."


def fingerprint(d: Obj) -> str:
    """The world a decision rests on: any write to the spec moves `generation`, a new template
    moves `revision` once the controller has seen it; replicas and paused say what moved."""
    spec = d.get("spec") or {}
    return (
        f"revision={revision(d) or 0} generation={(d.get('metadata') or {}).get('generation', 0)} "
        f"replicas={spec.get('replicas', 1)} paused={str(bool(spec.get('paused'))).lower()}"
    )


def _fields(observed: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in observed.split() if "=" in part)


def staleness(expected: str, now: str) -> str | None:
    """None when the world is the one the preview saw; else what changed, e.g. 'revision 3 → 4'."""
    if not expected or expected == now:
        return None
    was, current = _fields(expected), _fields(now)
    moved = [f"{k} {was.get(k, '?')} → {v}" for k, v in current.items() if was.get(k) != v]
    return ", ".join(moved) or f"{shown(expected)} → {now!r}"


def watched(d: Obj) -> dict[str, str | None]:
    """The fields a step may change, as short strings: the preview diffs them before and after."""
    spec = d.get("spec") or {}
    template = spec.get("template") or {}
    out: dict[str, str | None] = {
        "spec.replicas": str(spec.get("replicas", 1)),
        "spec.paused": str(bool(spec.get("paused"))).lower(),
        f"spec.template.metadata.annotations[{RESTARTED_AT}]": annotation(template, RESTARTED_AT),
        f"metadata.annotations[{policy.CHANGE_CAUSE_ANNOTATION}]": annotation(d, policy.CHANGE_CAUSE_ANNOTATION),
    }
    for name, image in policy.images(template).items():
        out[f"spec.template.spec.containers[{name}].image"] = image
    return out


def changes(before: Obj, after: Obj) -> list[FieldChange]:
    was, now = watched(before), watched(after)
    return [
        FieldChange(path=path, before=_cut(was.get(path)), after=_cut(now.get(path)))
        for path in dict.fromkeys([*was, *now])
        if was.get(path) != now.get(path)
    ][:50]


def _cut(value: str | None) -> str | None:
    return value if value is None or len(value) <= 200 else value[:197] + "..."


class Steps(Rollouts):
    """`step_preview` and `step_apply` on the gateway's ApiClient, budget and typed errors."""

    def step_preview(self, req: KubeStepRequest) -> StepPreview:
        self._check(req)
        d = self._read(req)
        if req.action == "rollback":
            return self._rollback_preview(req, d)
        where = f"deployment/{req.deployment}"
        if self._done(req, d):
            return StepPreview(
                summary=_line(f"{where}: {self._already(req, d)}; nothing to do"),
                would_change=False,
                observed=fingerprint(d),
            )
        self._refuse_paused(req, d)
        patch = self._patch(req)
        result = self._send(patch, dry_run=True)
        after = _scaled(d, result) if patch.subresource == "scale" else result
        found = changes(d, after)
        return StepPreview(
            summary=_line(self._summary(req, d)),
            request=patch.text(),
            changes=found,
            would_change=bool(found),
            observed=fingerprint(d),
        )

    def step_apply(
        self,
        req: KubeStepRequest,
        pinned_target: str | None = None,
        on_target: Callable[[str], None] | None = None,
        on_write: Callable[[], None] | None = None,
    ) -> StepOutcome:
        """`pinned_target`/`on_target`: a rollback's chosen ReplicaSet, carried between attempts by
        heartbeat; `on_write`: called before any other action's PATCH (the activity heartbeats).
        Every body here is idempotent by value (the workflow's timestamp, a replica count, a flag), so
        even two attempts racing after a lost heartbeat write one result."""
        self._check(req)
        with self.counting() as calls:
            outcome = self._apply(req, pinned_target, on_target, on_write)
        outcome.api_calls = calls[0]
        return outcome

    # --- apply ----------------------------------------------------------------------------

    def _apply(
        self,
        req: KubeStepRequest,
        pinned_target: str | None,
        on_target: Callable[[str], None] | None,
        on_write: Callable[[], None] | None,
    ) -> StepOutcome:
        d = self._read(req)
        where = f"deployment.apps/{req.deployment}"
        details = {"observed": fingerprint(d)}
        if req.action == "rollback":
            return self._rollback_apply(req, d, pinned_target, on_target)
        if self._done(req, d):
            # Ours when the preview saw the world before this result (or a restart carries our own
            # timestamp); otherwise it was already so and the step changes nothing, as kubectl says.
            ours = req.action == "restart" or bool(req.expected and not self._done_in(req, _fields(req.expected)))
            return StepOutcome(
                outcome="already_applied" if ours else "no_change",
                summary=_line(f"{where} {self._already(req, d)}"),
                details=details,
            )
        stale = staleness(req.expected, fingerprint(d))
        if stale:
            raise PreviewStale(_line(f"{where}: {stale} since the preview; preview and approve the step again"))
        self._refuse_paused(req, d)
        summary = self._summary(req, d)
        if on_write is not None:
            on_write()
        result = self._send(self._patch(req), dry_run=False)
        after = _scaled(d, result) if req.action == "scale" else result
        details["applied"] = fingerprint(after)
        done = {"restart": "restarted", "scale": "scaled", "pause-rollout": "paused", "resume-rollout": "resumed"}
        return StepOutcome(
            outcome="applied",
            summary=_line(f"{where} {done[req.action]}"),
            output=_line(summary),
            details=details,
        )

    def _rollback_apply(
        self, req: KubeStepRequest, d: Obj, pinned_target: str | None, on_target: Callable[[str], None] | None
    ) -> StepOutcome:
        where = f"deployment.apps/{req.deployment}"
        key = req.idempotency_key
        mine = key is not None and annotation(d, policy.ROLLBACK_KEY_ANNOTATION) == key
        if not mine and pinned_target is None:  # a resumed attempt judges by its own earlier choice
            stale = staleness(req.expected, fingerprint(d))
            if stale:
                raise PreviewStale(_line(f"{where}: {stale} since the preview; preview and approve the step again"))
        result = self.rollback(
            RollbackRequest(
                namespace=req.namespace,
                deployment=req.deployment,
                to_revision=req.to_revision,
                expected_revision=None if pinned_target else revision(d),
                idempotency_key=key,
                allow_contraindicated=req.allow_contraindicated,
            ),
            pinned_target=pinned_target,
            on_target=on_target,
            live=d,
        )
        outcome: Literal["applied", "already_applied", "no_change"] = (
            "applied"
            if result.outcome == "rolled_back"
            else "already_applied"
            if mine or result.resumed_attempt
            else "no_change"
        )
        images = ", ".join(f"{k}={v}" for k, v in result.images_after.items())
        return StepOutcome(
            outcome=outcome,
            summary=_line(result.message),
            output=_line(f"revision {result.from_revision} → {result.target_revision}; images {images}"),
            details={
                "observed": fingerprint(d),
                "target_revision": str(result.target_revision),
                "target_replica_set": result.target_replica_set,
            },
        )

    # --- preview --------------------------------------------------------------------------

    def _rollback_preview(self, req: KubeStepRequest, d: Obj) -> StepPreview:
        rss = self._replica_sets(d)
        plan = self._policy(policy.plan_rollback, d, rss, req.to_revision, None, req.idempotency_key)
        observed = fingerprint(d)
        where = f"deployment/{req.deployment}"
        if plan.action == "skip":
            return StepPreview(summary=_line(f"{where}: {plan.message}"), would_change=False, observed=observed)
        if not req.allow_contraindicated:
            target = next(rs for rs in rss if rs["metadata"]["name"] == plan.target_replica_set)
            _, new = policy.split_replica_sets(d, rss)
            reason = policy.migration_contraindication(d, new, target, self.settings.migration_annotation)
            if reason:
                raise KubeContraindicated(f"not rolling back deployment {req.deployment!r}: {reason}")
        patch = _Patch(req, JSON_PATCH, plan.patch)
        after = self._send(patch, dry_run=True)
        images = ", ".join(f"{k}={v}" for k, v in plan.images.items())
        return StepPreview(
            summary=_line(
                f"roll back {where} from revision {plan.from_revision} to revision {plan.target_revision} ({images})"
            ),
            request=patch.text(),
            changes=changes(d, after),
            would_change=True,
            observed=observed,
        )

    # --- the pieces -----------------------------------------------------------------------

    @staticmethod
    def _check(req: KubeStepRequest) -> None:
        """Everything a request could smuggle is refused here, before a path or a body is built."""
        dns_label(req.namespace, "namespace")
        dns_subdomain(req.deployment, "deployment")
        if req.idempotency_key is not None and not ROLLBACK_KEY.fullmatch(req.idempotency_key):
            raise KubeInvalidRequest("idempotency_key: 1-200 of [A-Za-z0-9._/-], starting with a letter or digit")
        if req.action == "scale" and (req.replicas is None or not 0 <= req.replicas <= MAX_REPLICAS):
            raise KubeInvalidRequest(f"replicas must be in 0..{MAX_REPLICAS}, got {shown(req.replicas)}")
        if req.action == "rollback" and not 0 <= req.to_revision < 2**31:
            raise KubeInvalidRequest(f"to_revision must be 0 (the previous) or a revision, got {req.to_revision}")
        if req.action == "restart":
            value = req.restarted_at
            if value is None or not _RFC3339.fullmatch(value) or not _parses(value):
                raise KubeInvalidRequest(
                    f"restarted_at must be an RFC 3339 time (the workflow's clock), got {shown(value)}"
                )
        if len(req.expected) > 300:
            raise KubeInvalidRequest("expected: at most 300 characters (a preview's `observed`)")

    @staticmethod
    def _refuse_paused(req: KubeStepRequest, d: Obj) -> None:
        """kubectl refuses to restart a paused Deployment (the restart would only take effect on resume)."""
        if req.action == "restart" and (d.get("spec") or {}).get("paused"):
            raise KubePaused(
                f'deployments.apps "{req.deployment}" can\'t restart paused deployment (run rollout resume first)'
            )

    @staticmethod
    def _done_in(req: KubeStepRequest, fields: dict[str, str]) -> bool:
        """Does a fingerprint already show the step's result (scale, pause, resume)?"""
        if req.action == "scale":
            return fields.get("replicas") == str(req.replicas)
        if req.action in ("pause-rollout", "resume-rollout"):
            return fields.get("paused") == str(req.action == "pause-rollout").lower()
        return False

    def _done(self, req: KubeStepRequest, d: Obj) -> bool:
        if req.action == "restart":
            return annotation((d.get("spec") or {}).get("template") or {}, RESTARTED_AT) == req.restarted_at
        return self._done_in(req, _fields(fingerprint(d)))

    @staticmethod
    def _already(req: KubeStepRequest, d: Obj) -> str:
        return {
            "restart": f"already restarted at {req.restarted_at}",
            "scale": f"already has {req.replicas} replicas",
            "pause-rollout": "is already paused",
            "resume-rollout": "is not paused",
        }.get(req.action, "unchanged")

    @staticmethod
    def _summary(req: KubeStepRequest, d: Obj) -> str:
        where = f"deployment/{req.deployment}"
        replicas = (d.get("spec") or {}).get("replicas", 1)
        return {
            "restart": f"restart {where}: a new rollout of its {replicas} pods (restartedAt {req.restarted_at})",
            "scale": f"scale {where} from {replicas} to {req.replicas} replicas",
            "pause-rollout": f"pause rollouts of {where}",
            "resume-rollout": f"resume rollouts of {where}",
        }[req.action]

    @staticmethod
    def _patch(req: KubeStepRequest) -> _Patch:
        """kubectl's exact bodies (kubectl/pkg/polymorphichelpers: objectrestarter.go, objectpauser.go,
        objectresumer.go; scale.go's ScalePatch)."""
        if req.action == "restart":
            body = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: req.restarted_at}}}}}
            return _Patch(req, STRATEGIC, body)
        if req.action == "scale":
            return _Patch(req, MERGE, {"spec": {"replicas": req.replicas}}, "scale")
        if req.action == "pause-rollout":
            return _Patch(req, STRATEGIC, {"spec": {"paused": True}})
        return _Patch(req, STRATEGIC, {"spec": {"paused": None}})

    def _read(self, req: KubeStepRequest) -> Obj:
        """The Deployment as plain JSON (names were checked by `_check`)."""
        return self._plain(
            self._call(self.apps.read_namespaced_deployment, req.deployment, req.namespace, _preload_content=False)
        )

    @staticmethod
    def _plain(response: Any) -> Obj:
        """A raw answer's JSON: the dicts the policy reads, without typed models in between (they
        cost as much as the request itself on a near server)."""
        try:
            data: Obj = json.loads(response.data)
        finally:
            response.release_conn()
        return data

    def _send(self, patch: _Patch, dry_run: bool) -> Obj:
        """The PATCH (dry run or not), answered as plain JSON."""
        fn: Callable[..., Any] = self.apps.patch_namespaced_deployment
        extra = {} if patch.content_type == JSON_PATCH else {"field_manager": FIELD_MANAGER}
        if patch.subresource == "scale":  # kubectl scale names no field manager
            fn, extra = self.apps.patch_namespaced_deployment_scale, {}
        return self._plain(
            self._call(
                fn,
                patch.name,
                patch.namespace,
                body=patch.body,
                dry_run="All" if dry_run else None,
                _content_type=patch.content_type,
                _preload_content=False,
                **extra,
            )
        )


def _parses(value: str) -> bool:
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _scaled(d: Obj, scale: Obj) -> Obj:
    """The Deployment as a Scale answer leaves it: only spec.replicas moves."""
    spec = dict(d.get("spec") or {})
    spec["replicas"] = (scale.get("spec") or {}).get("replicas", spec.get("replicas"))
    return {**d, "spec": spec}


class KubeStepActivities:
    """The two step activities over the worker's one gateway: `KubeStepActivities(gateway).all()`."""

    def __init__(self, gateway: Steps) -> None:
        self.gateway = gateway

    @activity.defn(name=KUBE_STEP_PREVIEW.name)
    def kube_step_preview(self, req: KubeStepRequest) -> StepPreview:
        with boundary():
            return self.gateway.step_preview(req)

    @activity.defn(name=KUBE_STEP_APPLY.name)
    def kube_step_apply(self, req: KubeStepRequest) -> StepOutcome:
        # A rollback's chosen ReplicaSet is heartbeated before its write, as in `kube_rollback`;
        # the other actions recognise their own result on the Deployment itself.
        details = activity.info().heartbeat_details
        pinned = details[0].get("target_replica_set") if details and isinstance(details[0], dict) else None
        with rollback_recorded() if req.action == "rollback" else nullcontext(), boundary():
            return self.gateway.step_apply(
                req,
                pinned_target=pinned,
                on_target=lambda name: activity.heartbeat({"target_replica_set": name}),
                on_write=lambda: activity.heartbeat({"action": req.action}),
            )

    def all(self) -> list[Callable[..., Any]]:
        """In the order of `warroom.contracts.steps.KUBE`."""
        return [self.kube_step_preview, self.kube_step_apply]


__all__ = ["KubeStepActivities", "Steps", "changes", "fingerprint", "staleness"]
