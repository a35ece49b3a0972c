"""kubectl's rollout semantics as pure functions over Deployment and ReplicaSet JSON (camelCase dicts).

Ported from kubernetes/kubectl so that warroom and an operator's `kubectl` agree on what a rollout's
status is, which revision "undo" goes back to, and what the rollback writes:

* `rollout_status`: `DeploymentStatusViewer.Status` (pkg/polymorphichelpers/rollout_status.go);
* `rollback_target` and `plan_rollback`: `DeploymentRollbacker.Rollback` and `deploymentRevision`
  (pkg/polymorphichelpers/rollback.go) — target choice, paused refusal, "already matches" skip,
  annotation handling and the single JSON Patch;
* `rollout_history`: `DeploymentHistoryViewer.ViewHistory` (history.go);
* `split_replica_sets`: `deploymentutil.GetAllReplicaSets` (pkg/util/deployment), i.e. owned by
  controller reference and ordered as kubectl orders them.

No I/O: the gateway fetches the objects, these functions decide.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
REVISION_HISTORY_ANNOTATION = "deployment.kubernetes.io/revision-history"
CHANGE_CAUSE_ANNOTATION = "kubernetes.io/change-cause"
POD_TEMPLATE_HASH_LABEL = "pod-template-hash"
DEFAULT_MIGRATION_ANNOTATION = "warroom.io/db-migration-applied"
ROLLBACK_KEY_ANNOTATION = (
    "warroom.io/rollback-key"  # which decision wrote the last rollback (retries find their own write)
)

# Kept from the Deployment, never copied back from the ReplicaSet (kubectl's annotationsToSkip).
ANNOTATIONS_TO_SKIP = frozenset(
    {
        "kubectl.kubernetes.io/last-applied-configuration",
        REVISION_ANNOTATION,
        REVISION_HISTORY_ANNOTATION,
        "deployment.kubernetes.io/desired-replicas",
        "deployment.kubernetes.io/max-replicas",
        "deprecated.deployment.rollback.to",
    }
)

Obj = Mapping[str, Any]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- errors: each says whether asking again can help (it cannot: the state must change first) ---


class RolloutPolicyError(ValueError):
    """The rollout state does not allow what was asked; the message is kubectl's."""

    kind = "RolloutPolicyError"


class NoRolloutHistory(RolloutPolicyError):
    kind = "NoHistory"


class RevisionNotFound(RolloutPolicyError):
    kind = "RevisionNotFound"


class DeploymentPaused(RolloutPolicyError):
    kind = "Paused"


# --- small accessors -------------------------------------------------------------------------


def _meta(obj: Obj) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def _annotations(obj: Obj) -> dict[str, str]:
    return dict(_meta(obj).get("annotations") or {})


def revision(obj: Obj) -> int:
    """deploymentutil.Revision: a missing annotation is revision 0; a malformed one raises ValueError."""
    value = _annotations(obj).get(REVISION_ANNOTATION)
    return 0 if value is None else int(value)


def _revision_or_none(obj: Obj) -> int | None:
    try:
        return revision(obj)
    except ValueError:
        return None


def images(template: Obj) -> dict[str, str]:
    """Container name → image of a pod template."""
    return {c.get("name", ""): c.get("image", "") for c in ((template.get("spec") or {}).get("containers") or [])}


def selector_string(selector: Obj | None) -> str:
    """metav1.LabelSelectorAsSelector(...).String(): requirements sorted by key, values sorted."""
    parts: list[tuple[str, str]] = []
    for key, value in ((selector or {}).get("matchLabels") or {}).items():
        parts.append((key, f"{key}={value}"))
    for expr in (selector or {}).get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], sorted(expr.get("values") or [])
        text = {
            "In": f"{key} in ({','.join(values)})",
            "NotIn": f"{key} notin ({','.join(values)})",
            "Exists": key,
            "DoesNotExist": f"!{key}",
        }[op]
        parts.append((key, text))
    return ",".join(text for _, text in sorted(parts, key=lambda p: p[0]))


def is_controlled_by(obj: Obj, owner: Obj) -> bool:
    """metav1.IsControlledBy: the controller ownerReference carries the owner's UID."""
    uid = _meta(owner).get("uid")
    return any(ref.get("controller") and ref.get("uid") == uid for ref in _meta(obj).get("ownerReferences") or [])


def _semantic(value: Any) -> Any:
    # apiequality.Semantic.DeepEqual: nil and empty maps/slices are equal.
    if isinstance(value, Mapping):
        return {k: _semantic(v) for k, v in value.items() if v is not None and v != {} and v != []}
    if isinstance(value, list):
        return [_semantic(v) for v in value]
    return value


def _without_hash(template: Obj) -> dict[str, Any]:
    metadata = dict(template.get("metadata") or {})
    labels = {k: v for k, v in (metadata.get("labels") or {}).items() if k != POD_TEMPLATE_HASH_LABEL}
    if labels:
        metadata["labels"] = labels
    else:
        metadata.pop("labels", None)
    return {**template, "metadata": metadata}


def equal_ignore_hash(template1: Obj, template2: Obj) -> bool:
    """Pod templates equal but for the pod-template-hash label (kubectl's equalIgnoreHash)."""
    return bool(_semantic(_without_hash(template1)) == _semantic(_without_hash(template2)))


def _creation_key(rs: Obj) -> tuple[datetime, str]:
    stamp = _meta(rs).get("creationTimestamp")
    when = _parse_time(stamp) or datetime.min
    return when.replace(tzinfo=None), _meta(rs).get("name", "")


def _parse_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if not value:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def split_replica_sets(deployment: Obj, replica_sets: Sequence[Obj]) -> tuple[list[Obj], Obj | None]:
    """(old ReplicaSets, the new one) among those the Deployment controls, oldest first.

    The new ReplicaSet is the oldest whose template equals the Deployment's (kubectl's
    findNewReplicaSet); the rest keep creation order, which decides ties between equal revisions.
    """
    owned = sorted((rs for rs in replica_sets if is_controlled_by(rs, deployment)), key=_creation_key)
    template = (deployment.get("spec") or {}).get("template") or {}
    new = next((rs for rs in owned if equal_ignore_hash((rs.get("spec") or {}).get("template") or {}, template)), None)
    return [rs for rs in owned if rs is not new], new


# --- rollout status ----------------------------------------------------------------------------


class RolloutStatus(_Model):
    done: bool
    message: str = Field(..., description="kubectl's wording, e.g. '2 of 3 updated replicas are available...'")
    error: str | None = Field(
        None, description="set when waiting longer cannot help (deadline exceeded, wrong revision)"
    )
    reason: Literal[
        "complete",
        "waiting_generation",
        "updating",
        "terminating_old",
        "waiting_available",
        "deadline_exceeded",
        "revision_mismatch",
    ]


def rollout_status(deployment: Obj, expected_revision: int = 0) -> RolloutStatus:
    """DeploymentStatusViewer.Status: one look at a Deployment, as `kubectl rollout status` prints it."""
    name = _meta(deployment).get("name", "")
    if expected_revision > 0:
        try:
            current = revision(deployment)
        except ValueError as exc:
            message = f'cannot get the revision of deployment "{name}": {exc}'
            return RolloutStatus(done=False, message=message, error=message, reason="revision_mismatch")
        if current != expected_revision:
            message = f"desired revision ({expected_revision}) is different from the running revision ({current})"
            return RolloutStatus(done=False, message=message, error=message, reason="revision_mismatch")
    spec, status = deployment.get("spec") or {}, deployment.get("status") or {}
    if _meta(deployment).get("generation", 0) > status.get("observedGeneration", 0):
        return RolloutStatus(
            done=False, message="Waiting for deployment spec update to be observed...", reason="waiting_generation"
        )
    progressing = next((c for c in status.get("conditions") or [] if c.get("type") == "Progressing"), None)
    if progressing and progressing.get("reason") == "ProgressDeadlineExceeded":
        message = f'deployment "{name}" exceeded its progress deadline'
        return RolloutStatus(done=False, message=message, error=message, reason="deadline_exceeded")
    replicas = spec.get("replicas")
    updated = status.get("updatedReplicas", 0)
    total = status.get("replicas", 0)
    available = status.get("availableReplicas", 0)
    waiting = f'Waiting for deployment "{name}" rollout to finish: '
    if replicas is not None and updated < replicas:
        return RolloutStatus(
            done=False,
            message=f"{waiting}{updated} out of {replicas} new replicas have been updated...",
            reason="updating",
        )
    if total > updated:
        return RolloutStatus(
            done=False,
            message=f"{waiting}{total - updated} old replicas are pending termination...",
            reason="terminating_old",
        )
    if available < updated:
        return RolloutStatus(
            done=False,
            message=f"{waiting}{available} of {updated} updated replicas are available...",
            reason="waiting_available",
        )
    return RolloutStatus(done=True, message=f'deployment "{name}" successfully rolled out', reason="complete")


# --- rollback (kubectl rollout undo) ------------------------------------------------------------


def rollback_target(deployment: Obj, replica_sets: Sequence[Obj], to_revision: int = 0) -> Obj:
    """deploymentRevision: the ReplicaSet `kubectl rollout undo [--to-revision=N]` restores.

    0 means the second-highest revision among the Deployment's ReplicaSets (new one included).
    Raises RevisionNotFound or NoRolloutHistory with kubectl's messages.
    """
    if to_revision < 0:
        raise RevisionNotFound(f"unable to find specified revision {to_revision} in history")
    olds, new = split_replica_sets(deployment, replica_sets)
    latest_rev = previous_rev = -1
    latest: Obj | None = None
    previous: Obj | None = None
    for rs in olds + ([new] if new is not None else []):
        value = _revision_or_none(rs)
        if value is None:
            continue
        if to_revision == 0:
            if latest_rev < value:
                previous_rev, previous = latest_rev, latest
                latest_rev, latest = value, rs
            elif previous_rev < value:
                previous_rev, previous = value, rs
        elif value == to_revision:
            return rs
    if to_revision > 0:
        raise RevisionNotFound(f"unable to find specified revision {to_revision} in history")
    if previous is None:
        raise NoRolloutHistory(f'no rollout history found for deployment "{_meta(deployment).get("name", "")}"')
    return previous


class RollbackPlan(_Model):
    """What a rollback does: `patch` (one JSON Patch for the Deployment) or `skip`."""

    action: Literal["patch", "skip"]
    message: str = Field(..., description="kubectl's: 'rolled back' or 'skipped rollback (...)'")
    requested_revision: int = Field(..., description="0 = previous, as --to-revision")
    target_revision: int
    target_replica_set: str
    from_revision: int | None
    patch: list[dict[str, Any]] = Field(default_factory=list)
    images: dict[str, str] = Field(default_factory=dict, description="what the rollback restores")


def rollback_annotations(deployment: Obj, target: Obj) -> dict[str, str]:
    """The Deployment's bookkeeping annotations, plus every other annotation of the target ReplicaSet
    (so the target's change-cause comes back and the current one's is dropped)."""
    current = _annotations(deployment)
    annotations = {k: current[k] for k in ANNOTATIONS_TO_SKIP if k in current}
    annotations.update({k: v for k, v in _annotations(target).items() if k not in ANNOTATIONS_TO_SKIP})
    return annotations


def rollback_patch(deployment: Obj, target: Obj, key: str | None = None) -> list[dict[str, Any]]:
    """kubectl's getDeploymentPatch: replace /spec/template (hash label removed) and /metadata/annotations;
    with `key`, the annotations also name the decision that wrote them (ROLLBACK_KEY_ANNOTATION)."""
    template = _without_hash((target.get("spec") or {}).get("template") or {})
    annotations = rollback_annotations(deployment, target)
    if key is not None:
        annotations = {**annotations, ROLLBACK_KEY_ANNOTATION: key}
    return [
        {"op": "replace", "path": "/spec/template", "value": template},
        {"op": "replace", "path": "/metadata/annotations", "value": annotations},
    ]


def plan_rollback(
    deployment: Obj,
    replica_sets: Sequence[Obj],
    to_revision: int = 0,
    target: Obj | None = None,
    key: str | None = None,
) -> RollbackPlan:
    """DeploymentRollbacker.Rollback minus the write. `target` skips the revision choice (a retry
    that already chose one must not choose again: after a rollback "previous" means something else)."""
    if target is None:
        target = rollback_target(deployment, replica_sets, to_revision)
    if (deployment.get("spec") or {}).get("paused"):
        raise DeploymentPaused(
            "you cannot rollback a paused deployment; resume it first with 'kubectl rollout resume' and try again"
        )
    target_template = (target.get("spec") or {}).get("template") or {}
    common = dict(
        requested_revision=to_revision,
        target_revision=_revision_or_none(target) or 0,
        target_replica_set=_meta(target).get("name", ""),
        from_revision=_revision_or_none(deployment),
        images=images(target_template),
    )
    if equal_ignore_hash(target_template, (deployment.get("spec") or {}).get("template") or {}):
        return RollbackPlan(
            action="skip",
            message=f"skipped rollback (current template already matches revision {to_revision})",
            **common,
        )
    return RollbackPlan(action="patch", message="rolled back", patch=rollback_patch(deployment, target, key), **common)


# --- history and recent deploys ---------------------------------------------------------------


class RevisionInfo(_Model):
    revision: int
    replica_set: str
    change_cause: str | None = None
    images: dict[str, str] = Field(default_factory=dict)
    created_at: datetime | None = Field(None, description="ReplicaSet creation: the first rollout of this template")
    replicas: int = 0
    current: bool = False
    earlier_revisions: list[int] = Field(default_factory=list, description="revision numbers this template had before")


def rollout_history(deployment: Obj, replica_sets: Sequence[Obj]) -> list[RevisionInfo]:
    """ViewHistory: one entry per revision, oldest first, change-cause from the ReplicaSet."""
    olds, new = split_replica_sets(deployment, replica_sets)
    by_revision: dict[int, RevisionInfo] = {}
    for rs in olds + ([new] if new is not None else []):
        value = _revision_or_none(rs)
        if value is None:
            continue
        annotations = _annotations(rs)
        history = [int(v) for v in annotations.get(REVISION_HISTORY_ANNOTATION, "").split(",") if v.strip().isdigit()]
        by_revision[value] = RevisionInfo(
            revision=value,
            replica_set=_meta(rs).get("name", ""),
            change_cause=annotations.get(CHANGE_CAUSE_ANNOTATION),
            images=images((rs.get("spec") or {}).get("template") or {}),
            created_at=_parse_time(_meta(rs).get("creationTimestamp")),
            replicas=(rs.get("spec") or {}).get("replicas", 0),
            current=rs is new,
            earlier_revisions=history,
        )
    return [by_revision[r] for r in sorted(by_revision)]


class DeployTiming(_Model):
    """When the running revision rolled out, and on what evidence."""

    deployed_at: datetime | None
    source: Literal["replicaset-created", "progressing-condition", "unknown"]
    replica_set_created_at: datetime | None = None


def deploy_timing(deployment: Obj, replica_sets: Sequence[Obj]) -> DeployTiming:
    """A fresh ReplicaSet was created when its rollout began. A reused one (a rollback, or a return to
    an old template) is older than its rollout; then the Progressing condition's lastUpdateTime,
    if it names that ReplicaSet, is the best evidence — it can only be later than the start, so the
    deploy looks at most that recent, never older than it is."""
    _, new = split_replica_sets(deployment, replica_sets)
    if new is None:
        return DeployTiming(deployed_at=None, source="unknown")
    created = _parse_time(_meta(new).get("creationTimestamp"))
    if REVISION_HISTORY_ANNOTATION not in _annotations(new):
        return DeployTiming(deployed_at=created, source="replicaset-created", replica_set_created_at=created)
    name = _meta(new).get("name", "")
    for cond in (deployment.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Progressing" and f'"{name}"' in (cond.get("message") or ""):
            return DeployTiming(
                deployed_at=_parse_time(cond.get("lastUpdateTime")),
                source="progressing-condition",
                replica_set_created_at=created,
            )
    return DeployTiming(deployed_at=None, source="unknown", replica_set_created_at=created)


def migration_contraindication(
    deployment: Obj, current_rs: Obj | None, target: Obj, annotation: str = DEFAULT_MIGRATION_ANNOTATION
) -> str | None:
    """Why rolling back to `target` would run code older than an applied DB migration, or None.

    The annotation names the migration a rollout applied; the Deployment controller copies it onto
    that revision's ReplicaSet and every later one, so the rollback is contraindicated exactly when
    the running revision carries a marker the target does not share.
    """
    marker = _annotations(deployment).get(annotation) or (
        _annotations(current_rs).get(annotation) if current_rs else None
    )
    if not marker or marker.strip().lower() in ("false", "no", "0", "none"):
        return None
    if _annotations(target).get(annotation) == marker:
        return None
    return (
        f"DB migration {marker!r} was applied with the running revision ({annotation}); "
        f"revision {_revision_or_none(target)} predates it"
    )
