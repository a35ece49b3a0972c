"""The Deployment and ReplicaSet controllers and the kubelet, reduced to what a rollout shows.

Ported from kubernetes/pkg/controller/deployment (rolling.go, sync.go, progress.go, util/) closely
enough that revisions, ReplicaSet reuse on rollback, the rollout status fields and the Progressing
condition behave as kubectl and warroom expect. Not emulated: Recreate's pod-termination wait,
proportional scaling of paused rollouts, orphan adoption, terminating pods.
"""

from __future__ import annotations

import math
from typing import Any

from sandbox.cluster.events import Recorder
from sandbox.cluster.kubelet import pod_status, timeline
from sandbox.cluster.resources import DEPLOYMENTS, PODS, REPLICASETS, default_pod
from sandbox.cluster.scenario import Scenario
from sandbox.cluster.selectors import labels_match, selector_from_spec
from sandbox.cluster.store import Store
from sandbox.cluster.util import deep, parse_time, rfc3339, safe_encode, template_hash

HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
SKIP_COPY = {
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION,
    REVISION_HISTORY,
    DESIRED_REPLICAS,
    MAX_REPLICAS,
    "deprecated.deployment.rollback.to",
}
MAX_REV_HISTORY_CHARS = 2000
NODE_IP = "10.0.0.10"


def _controller_uid(obj: dict[str, Any]) -> str | None:
    for ref in obj["metadata"].get("ownerReferences") or []:
        if ref.get("controller"):
            return ref.get("uid")
    return None


def _owner_ref(owner: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _revision(obj: dict[str, Any]) -> int:
    try:
        return int((obj["metadata"].get("annotations") or {}).get(REVISION, "0"))
    except ValueError:
        return 0


def _without_hash(template: dict[str, Any]) -> dict[str, Any]:
    t = deep(template)
    labels = (t.get("metadata") or {}).get("labels")
    if labels:
        labels.pop(HASH_LABEL, None)
    return t


def _normal(value: Any) -> Any:
    """apiequality.Semantic.DeepEqual treats nil and empty maps/slices as equal."""
    if isinstance(value, dict):
        return {k: _normal(v) for k, v in value.items() if v not in (None, {}, [])}
    if isinstance(value, list):
        return [_normal(v) for v in value]
    return value


def equal_ignore_hash(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return _normal(_without_hash(a)) == _normal(_without_hash(b))


def _by_creation(rs: dict[str, Any]) -> tuple[str, str]:
    return rs["metadata"]["creationTimestamp"], rs["metadata"]["name"]


def _scaled(value: int | str, total: int, round_up: bool) -> int:
    if isinstance(value, int):
        return value
    percent = int(str(value).rstrip("%"))
    exact = percent * total / 100
    return math.ceil(exact) if round_up else math.floor(exact)


def fenceposts(d: dict[str, Any]) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) resolved against spec.replicas (ResolveFenceposts)."""
    spec = d["spec"]
    if spec.get("strategy", {}).get("type") != "RollingUpdate":
        return 0, 0
    rolling = spec["strategy"].get("rollingUpdate") or {}
    replicas = spec["replicas"]
    surge = _scaled(rolling.get("maxSurge", "25%"), replicas, True)
    unavailable = _scaled(rolling.get("maxUnavailable", "25%"), replicas, False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, min(unavailable, replicas) if replicas else 0


def _cond(status: dict[str, Any], type_: str) -> dict[str, Any] | None:
    return next((c for c in status.get("conditions") or [] if c["type"] == type_), None)


def _set_cond(status: dict[str, Any], cond: dict[str, Any]) -> None:
    """SetDeploymentCondition: same status and reason → no change; same status → keep lastTransitionTime."""
    current = _cond(status, cond["type"])
    if current and current["status"] == cond["status"] and current["reason"] == cond["reason"]:
        return
    if current and current["status"] == cond["status"]:
        cond["lastTransitionTime"] = current["lastTransitionTime"]
    status["conditions"] = [c for c in status.get("conditions") or [] if c["type"] != cond["type"]] + [cond]


def _new_cond(type_: str, status: str, reason: str, message: str, now: float) -> dict[str, Any]:
    return {
        "type": type_,
        "status": status,
        "lastUpdateTime": rfc3339(now),
        "lastTransitionTime": rfc3339(now),
        "reason": reason,
        "message": message,
    }


class Controllers:
    def __init__(self, store: Store, scenario: Scenario, recorder: Recorder) -> None:
        self.store = store
        self.scenario = scenario
        self.recorder = recorder
        self._same: dict[tuple[str, int, str, int], bool] = {}

    def _same_template(self, rs: dict[str, Any], d: dict[str, Any]) -> bool:
        """equal_ignore_hash, memoized: templates only change with a generation bump."""
        key = (
            rs["metadata"]["uid"],
            rs["metadata"].get("generation", 0),
            d["metadata"]["uid"],
            d["metadata"]["generation"],
        )
        if key not in self._same:
            if len(self._same) > 10_000:
                self._same.clear()
            self._same[key] = equal_ignore_hash(rs["spec"]["template"], d["spec"]["template"])
        return self._same[key]

    def reconcile(self, now: float) -> bool:
        """One pass of every controller; True if anything was written."""
        with self.store.lock:
            before = self.store.rv
            for pod in self.store.view(PODS):
                self.sync_pod(pod, now)
            for rs in self.store.view(REPLICASETS):
                self.sync_replica_set(rs, now)
            for d in self.store.view(DEPLOYMENTS):
                self.sync_deployment(d, now)
            self._collect_garbage()
            return self.store.rv != before

    # --- kubelet -------------------------------------------------------------------------

    def sync_pod(self, pod: dict[str, Any], now: float) -> None:
        created = self.store.created_at(PODS, pod)
        behaviors = {c["name"]: self.scenario.behavior_for(c.get("image", "")) for c in pod["spec"]["containers"]}
        status = pod_status(pod, created, now, behaviors, NODE_IP)
        old = pod.get("status") or {}
        if status == old:
            self._probe_events(pod, status, behaviors, created, now)
            return
        pod = {**pod, "status": status}
        pod = self.store.update(PODS, pod)
        self._kubelet_events(pod, old, status, behaviors, created, now)

    def _kubelet_events(
        self,
        pod: dict[str, Any],
        old: dict[str, Any],
        new: dict[str, Any],
        behaviors: dict[str, Any],
        created: float,
        now: float,
    ) -> None:
        olds = {c["name"]: c for c in old.get("containerStatuses") or []}
        if not old:
            node = pod["spec"].get("nodeName", "")
            self.recorder.record(
                pod,
                "Normal",
                "Scheduled",
                f"Successfully assigned {pod['metadata']['namespace']}/{pod['metadata']['name']} to {node}",
                now,
                component="default-scheduler",
            )
        for c in new.get("containerStatuses") or []:
            name, image = c["name"], c["image"]
            path = f"spec.containers{{{name}}}"
            before = olds.get(name) or {}
            waiting = (c.get("state") or {}).get("waiting") or {}
            was_waiting = ((before.get("state") or {}).get("waiting") or {}).get("reason")
            started = "running" in (c.get("state") or {}) and c.get("containerID") != before.get("containerID")

            def emit(type_: str, reason: str, message: str, count: int | None = None, path: str = path) -> None:
                self.recorder.record(
                    pod, type_, reason, message, now, component="kubelet", field_path=path, count=count
                )

            if started:
                restarts = c["restartCount"]
                if restarts == 0:
                    emit("Normal", "Pulled", f'Container image "{image}" already present on machine')
                emit("Normal", "Created", f"Created container: {name}", count=restarts + 1)
                emit("Normal", "Started", f"Started container {name}", count=restarts + 1)
            reason = waiting.get("reason")
            if reason == "CrashLoopBackOff" and (
                was_waiting != reason or c["restartCount"] != before.get("restartCount")
            ):
                ref = f"{pod['metadata']['name']}_{pod['metadata']['namespace']}({pod['metadata']['uid']})"
                emit(
                    "Warning",
                    "BackOff",
                    f"Back-off restarting failed container {name} in pod {ref}",
                    count=max(1, c["restartCount"]),
                )
            if reason in ("ErrImagePull", "ImagePullBackOff") and was_waiting != reason:
                if reason == "ErrImagePull":
                    emit("Normal", "Pulling", f'Pulling image "{image}"')
                    emit("Warning", "Failed", f'Failed to pull image "{image}": {waiting.get("message", "")}')
                else:
                    emit("Normal", "BackOff", f'Back-off pulling image "{image}"')
                emit("Warning", "Failed", f"Error: {reason}")
        self._probe_events(pod, new, behaviors, created, now)

    def _probe_events(
        self, pod: dict[str, Any], status: dict[str, Any], behaviors: dict[str, Any], created: float, now: float
    ) -> None:
        """A failing readiness probe is recorded each probe period, as the kubelet's prober does, whether
        or not the pod's status changed (an aggregated Unhealthy event whose count keeps growing)."""
        for c in status.get("containerStatuses") or []:
            b = behaviors[c["name"]]
            if b.behavior == "errors" and not b.ready and "running" in (c.get("state") or {}):
                t = timeline(b, created, now, c["name"], "")
                if t.current is not None and now >= t.current.start + b.ready_seconds:
                    probes = 1 + int((now - t.current.start - b.ready_seconds) // max(b.probe_period_seconds, 0.001))
                    self.recorder.record(
                        pod,
                        "Warning",
                        "Unhealthy",
                        b.probe_message,
                        now,
                        component="kubelet",
                        field_path=f"spec.containers{{{c['name']}}}",
                        count=probes,
                    )

    # --- ReplicaSet controller -----------------------------------------------------------

    def sync_replica_set(self, rs: dict[str, Any], now: float) -> None:
        meta, spec = rs["metadata"], rs["spec"]
        ns = meta["namespace"]
        selector = selector_from_spec(spec.get("selector"))
        pods = [
            p
            for p in self.store.view(PODS, ns)
            if _controller_uid(p) == meta["uid"] and labels_match(selector, p["metadata"].get("labels"))
        ]
        diff = len(pods) - spec["replicas"]
        if diff < 0:
            for _ in range(-diff):
                pods.append(self._create_pod(rs, now))
        elif diff > 0:
            # Like the ReplicaSet controller's ranking: unready pods first, then the newest.
            victims = sorted(pods, key=lambda p: (_pod_ready(p), -self.store.created_at(PODS, p)))
            for pod in victims[:diff]:
                self.store.delete(PODS, ns, pod["metadata"]["name"])
                self.recorder.record(
                    rs,
                    "Normal",
                    "SuccessfulDelete",
                    f"Deleted pod: {pod['metadata']['name']}",
                    now,
                    component="replicaset-controller",
                )
                pods.remove(pod)
        min_ready = spec.get("minReadySeconds", 0)
        ready = [p for p in pods if _pod_ready(p)]
        available = [p for p in ready if (_ready_since(p) or now) + min_ready <= now]
        status: dict[str, Any] = {"replicas": len(pods)}
        if pods:
            status["fullyLabeledReplicas"] = len(pods)
        if ready:
            status["readyReplicas"] = len(ready)
        if available:
            status["availableReplicas"] = len(available)
        status["observedGeneration"] = meta.get("generation", 1)
        if status != rs.get("status"):
            self.store.update(REPLICASETS, {**rs, "status": status})

    def _create_pod(self, rs: dict[str, Any], now: float) -> dict[str, Any]:
        template = deep(rs["spec"]["template"])
        self.store.counter += 1
        suffix = safe_encode(f"{rs['metadata']['uid']}/{self.store.counter}", 5)
        name = f"{rs['metadata']['name']}-{suffix}"
        meta = {
            "name": name,
            "generateName": f"{rs['metadata']['name']}-",
            "namespace": rs["metadata"]["namespace"],
            "labels": template.get("metadata", {}).get("labels", {}),
            "ownerReferences": [_owner_ref(rs)],
        }
        if template.get("metadata", {}).get("annotations"):
            meta["annotations"] = template["metadata"]["annotations"]
        pod = {"metadata": meta, "spec": {**template.get("spec", {}), "nodeName": self.scenario.node}}
        default_pod(pod)
        pod = self.store.create(PODS, pod, now)
        self.recorder.record(
            rs, "Normal", "SuccessfulCreate", f"Created pod: {name}", now, component="replicaset-controller"
        )
        return pod

    # --- Deployment controller -----------------------------------------------------------

    def sync_deployment(self, d: dict[str, Any], now: float) -> None:
        ns, uid = d["metadata"]["namespace"], d["metadata"]["uid"]
        selector = selector_from_spec(d["spec"].get("selector"))
        rss = sorted(
            (
                rs
                for rs in self.store.view(REPLICASETS, ns)
                if _controller_uid(rs) == uid and labels_match(selector, rs["metadata"].get("labels"))
            ),
            key=_by_creation,
        )
        new_rs = next((rs for rs in rss if self._same_template(rs, d)), None)
        olds = [rs for rs in rss if rs is not new_rs]
        new_revision = max((_revision(rs) for rs in olds), default=0) + 1
        status = deep(d.get("status") or {})
        if new_rs is None and not d["spec"].get("paused"):
            new_rs = self._create_replica_set(d, rss, new_revision, now)
            _set_cond(
                status,
                _new_cond(
                    "Progressing",
                    "True",
                    "NewReplicaSetCreated",
                    f'Created new replica set "{new_rs["metadata"]["name"]}"',
                    now,
                ),
            )
        elif new_rs is not None:
            candidate = deep(new_rs)
            if self._set_new_rs_annotations(d, candidate, new_revision, exists=True):
                new_rs = self.store.update(REPLICASETS, candidate)
            elif _cond(status, "Progressing") is None:
                _set_cond(
                    status,
                    _new_cond(
                        "Progressing",
                        "True",
                        "FoundNewReplicaSet",
                        f'Found new replica set "{new_rs["metadata"]["name"]}"',
                        now,
                    ),
                )
            revision = new_rs["metadata"]["annotations"].get(REVISION)
            if revision and (d["metadata"].get("annotations") or {}).get(REVISION) != revision:
                d = deep(d)
                d["metadata"].setdefault("annotations", {})[REVISION] = revision
                d = self.store.update(DEPLOYMENTS, d)
        if not d["spec"].get("paused") and new_rs is not None:
            if d["spec"].get("strategy", {}).get("type") == "Recreate":
                self._recreate(d, olds, new_rs, now)
            else:
                self._rolling(d, olds, new_rs, now)
        self._cleanup(d, olds, new_rs)
        self._sync_status(d, status, new_rs, now)

    def _create_replica_set(
        self, d: dict[str, Any], rss: list[dict[str, Any]], revision: int, now: float
    ) -> dict[str, Any]:
        collisions = d.get("status", {}).get("collisionCount", 0)
        template = deep(d["spec"]["template"])
        rs_hash = template_hash(template, collisions)
        template.setdefault("metadata", {}).setdefault("labels", {})[HASH_LABEL] = rs_hash
        selector = deep(d["spec"]["selector"])
        selector.setdefault("matchLabels", {})[HASH_LABEL] = rs_hash
        rs = {
            "kind": "ReplicaSet",
            "apiVersion": "apps/v1",
            "metadata": {
                "name": f"{d['metadata']['name']}-{rs_hash}",
                "namespace": d["metadata"]["namespace"],
                "labels": dict(template["metadata"]["labels"]),
                "ownerReferences": [_owner_ref(d)],
                "annotations": {},
            },
            "spec": {
                "replicas": 0,
                "minReadySeconds": d["spec"].get("minReadySeconds", 0),
                "selector": selector,
                "template": template,
            },
        }
        self._set_new_rs_annotations(d, rs, revision, exists=False)
        if rs["spec"]["minReadySeconds"] == 0:
            del rs["spec"]["minReadySeconds"]
        return self.store.create(REPLICASETS, rs, now)

    def _set_new_rs_annotations(self, d: dict[str, Any], rs: dict[str, Any], revision: int, exists: bool) -> bool:
        """deploymentutil.SetNewReplicaSetAnnotations: copy the Deployment's annotations, raise the
        revision, and keep the revisions a reused ReplicaSet had in revision-history."""
        annotations = rs["metadata"].setdefault("annotations", {})
        changed = False
        for key, value in (d["metadata"].get("annotations") or {}).items():
            if key in SKIP_COPY or annotations.get(key) == value:
                continue
            annotations[key] = value
            changed = True
        old = annotations.get(REVISION)
        try:
            old_int = int(old) if old else 0
        except ValueError:
            return changed
        if old_int < revision:
            annotations[REVISION] = str(revision)
            changed = True
            if old is not None:
                history = annotations.get(REVISION_HISTORY, "")
                entries = history.split(",") if history else []
                while entries and len(",".join(entries + [old])) > MAX_REV_HISTORY_CHARS:
                    entries.pop(0)
                annotations[REVISION_HISTORY] = ",".join(entries + [old])
        if not exists:
            surge, _ = fenceposts(d)
            annotations[DESIRED_REPLICAS] = str(d["spec"]["replicas"])
            annotations[MAX_REPLICAS] = str(d["spec"]["replicas"] + surge)
            changed = True
        return changed

    def _scale(self, d: dict[str, Any], rs: dict[str, Any], replicas: int, now: float) -> dict[str, Any]:
        """Scale a ReplicaSet; returns the stored result (the argument is left untouched)."""
        rs = deep(rs)
        before = rs["spec"]["replicas"]
        surge, _ = fenceposts(d)
        annotations = rs["metadata"].setdefault("annotations", {})
        annotations[DESIRED_REPLICAS] = str(d["spec"]["replicas"])
        annotations[MAX_REPLICAS] = str(d["spec"]["replicas"] + surge)
        rs["spec"]["replicas"] = replicas
        updated = self.store.update(REPLICASETS, rs)
        if before != replicas:
            direction = "up" if replicas > before else "down"
            self.recorder.record(
                d,
                "Normal",
                "ScalingReplicaSet",
                f"Scaled {direction} replica set {rs['metadata']['name']} from {before} to {replicas}",
                now,
                component="deployment-controller",
            )
        return updated

    def _rolling(self, d: dict[str, Any], olds: list[dict[str, Any]], new_rs: dict[str, Any], now: float) -> None:
        """rolloutRolling: scale the new ReplicaSet up within maxSurge, then old ones down within
        maxUnavailable (unhealthy replicas first, oldest ReplicaSets first)."""
        replicas = d["spec"]["replicas"]
        surge, max_unavailable = fenceposts(d)
        current = new_rs["spec"]["replicas"]
        if current > replicas:
            new_rs = self._scale(d, new_rs, replicas, now)
        elif current < replicas:
            total = sum(rs["spec"]["replicas"] for rs in olds) + current
            if total < replicas + surge:
                new_rs = self._scale(d, new_rs, current + min(replicas + surge - total, replicas - current), now)
        olds = sorted(olds, key=_by_creation)
        if not any(rs["spec"]["replicas"] for rs in olds):
            return
        all_pods = sum(rs["spec"]["replicas"] for rs in olds) + new_rs["spec"]["replicas"]
        min_available = replicas - max_unavailable
        new_unavailable = new_rs["spec"]["replicas"] - new_rs.get("status", {}).get("availableReplicas", 0)
        budget = all_pods - min_available - new_unavailable
        if budget <= 0:
            return
        cleaned = 0
        for i, rs in enumerate(olds):  # cleanupUnhealthyReplicas
            if cleaned >= budget:
                break
            available = rs.get("status", {}).get("availableReplicas", 0)
            if rs["spec"]["replicas"] == 0 or rs["spec"]["replicas"] == available:
                continue
            down = min(budget - cleaned, rs["spec"]["replicas"] - available)
            olds[i] = self._scale(d, rs, rs["spec"]["replicas"] - down, now)
            cleaned += down
        available_pods = sum(rs.get("status", {}).get("availableReplicas", 0) for rs in olds + [new_rs])
        if available_pods <= min_available:
            return
        to_remove, removed = available_pods - min_available, 0
        for i, rs in enumerate(olds):  # scaleDownOldReplicaSetsForRollingUpdate
            if removed >= to_remove:
                break
            if rs["spec"]["replicas"] == 0:
                continue
            down = min(rs["spec"]["replicas"], to_remove - removed)
            olds[i] = self._scale(d, rs, rs["spec"]["replicas"] - down, now)
            removed += down

    def _recreate(self, d: dict[str, Any], olds: list[dict[str, Any]], new_rs: dict[str, Any], now: float) -> None:
        for rs in olds:
            if rs["spec"]["replicas"]:
                self._scale(d, rs, 0, now)
        if (
            all(rs.get("status", {}).get("replicas", 0) == 0 for rs in olds)
            and new_rs["spec"]["replicas"] != d["spec"]["replicas"]
        ):
            self._scale(d, new_rs, d["spec"]["replicas"], now)

    def _cleanup(self, d: dict[str, Any], olds: list[dict[str, Any]], new_rs: dict[str, Any] | None) -> None:
        limit = d["spec"].get("revisionHistoryLimit", 10)
        idle = [
            rs
            for rs in sorted(olds, key=_by_creation)
            if rs["spec"]["replicas"] == 0 and rs.get("status", {}).get("replicas", 0) == 0
        ]
        for rs in idle[: max(0, len(idle) - limit)]:
            self.store.delete(REPLICASETS, rs["metadata"]["namespace"], rs["metadata"]["name"])

    def _sync_status(
        self, d: dict[str, Any], status: dict[str, Any], new_rs: dict[str, Any] | None, now: float
    ) -> None:
        ns, uid = d["metadata"]["namespace"], d["metadata"]["uid"]
        rss = [rs for rs in self.store.view(REPLICASETS, ns) if _controller_uid(rs) == uid]
        new = next((rs for rs in rss if new_rs and rs["metadata"]["uid"] == new_rs["metadata"]["uid"]), None)
        replicas = d["spec"]["replicas"]
        counts = {
            "replicas": sum(rs.get("status", {}).get("replicas", 0) for rs in rss),
            "updatedReplicas": (new or {}).get("status", {}).get("replicas", 0),
            "readyReplicas": sum(rs.get("status", {}).get("readyReplicas", 0) for rs in rss),
            "availableReplicas": sum(rs.get("status", {}).get("availableReplicas", 0) for rs in rss),
        }
        counts["unavailableReplicas"] = max(0, replicas - counts["availableReplicas"])
        old_status = d.get("status") or {}
        for key, value in counts.items():
            status.pop(key, None)
            if value:
                status[key] = value
        status["observedGeneration"] = d["metadata"]["generation"]
        _, max_unavailable = fenceposts(d)
        if counts["availableReplicas"] >= replicas - max_unavailable:
            _set_cond(
                status,
                _new_cond("Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability.", now),
            )
        else:
            _set_cond(
                status,
                _new_cond(
                    "Available",
                    "False",
                    "MinimumReplicasUnavailable",
                    "Deployment does not have minimum availability.",
                    now,
                ),
            )
        self._progress(d, old_status, status, counts, new, now)
        status = {k: status[k] for k in ("observedGeneration", *counts, "conditions", "collisionCount") if k in status}
        if status != old_status:
            self.store.update(DEPLOYMENTS, {**d, "status": status})

    def _progress(
        self,
        d: dict[str, Any],
        old: dict[str, Any],
        status: dict[str, Any],
        counts: dict[str, int],
        new_rs: dict[str, Any] | None,
        now: float,
    ) -> None:
        """syncRolloutStatus: the Progressing condition (complete, progressing, timed out, paused)."""
        name = new_rs["metadata"]["name"] if new_rs else d["metadata"]["name"]
        kind = "ReplicaSet" if new_rs else "Deployment"
        current = _cond(status, "Progressing")
        if d["spec"].get("paused"):
            if not current or current["reason"] != "DeploymentPaused":
                _set_cond(status, _new_cond("Progressing", "Unknown", "DeploymentPaused", "Deployment is paused", now))
            return
        if current and current["reason"] == "DeploymentPaused":
            _set_cond(status, _new_cond("Progressing", "Unknown", "DeploymentResumed", "Deployment is resumed", now))
            current = _cond(status, "Progressing")
        replicas = d["spec"]["replicas"]
        complete = (
            counts["updatedReplicas"] == replicas
            and counts["replicas"] == replicas
            and counts["availableReplicas"] == replicas
        )
        progressing = (
            counts["updatedReplicas"] > old.get("updatedReplicas", 0)
            or counts["replicas"] - counts["updatedReplicas"] < old.get("replicas", 0) - old.get("updatedReplicas", 0)
            or counts["readyReplicas"] > old.get("readyReplicas", 0)
            or counts["availableReplicas"] > old.get("availableReplicas", 0)
        )
        if complete:
            _set_cond(
                status,
                _new_cond(
                    "Progressing",
                    "True",
                    "NewReplicaSetAvailable",
                    f'{kind} "{name}" has successfully progressed.',
                    now,
                ),
            )
        elif progressing:
            cond = _new_cond("Progressing", "True", "ReplicaSetUpdated", f'{kind} "{name}" is progressing.', now)
            if current and current["status"] == "True":
                cond["lastTransitionTime"] = current["lastTransitionTime"]
            status["conditions"] = [c for c in status.get("conditions") or [] if c["type"] != "Progressing"] + [cond]
        elif current and current["reason"] not in ("NewReplicaSetAvailable", "ProgressDeadlineExceeded"):
            deadline = d["spec"].get("progressDeadlineSeconds")
            started = parse_time(current["lastUpdateTime"]) or now
            if deadline is not None and started + deadline < now:
                _set_cond(
                    status,
                    _new_cond(
                        "Progressing",
                        "False",
                        "ProgressDeadlineExceeded",
                        f'{kind} "{name}" has timed out progressing.',
                        now,
                    ),
                )

    # --- garbage collector ---------------------------------------------------------------

    def _collect_garbage(self) -> None:
        """Background cascading deletion: ReplicaSets and Pods whose controller is gone."""
        for r, owner_r in ((REPLICASETS, DEPLOYMENTS), (PODS, REPLICASETS)):
            owners = {o["metadata"]["uid"] for o in self.store.view(owner_r)}
            for obj in self.store.view(r):
                owner = _controller_uid(obj)
                if owner is not None and owner not in owners:
                    self.store.delete(r, obj["metadata"]["namespace"], obj["metadata"]["name"])


def _pod_ready(pod: dict[str, Any]) -> bool:
    cond = next((c for c in (pod.get("status") or {}).get("conditions") or [] if c["type"] == "Ready"), None)
    return bool(cond and cond["status"] == "True")


def _ready_since(pod: dict[str, Any]) -> float | None:
    cond = next((c for c in (pod.get("status") or {}).get("conditions") or [] if c["type"] == "Ready"), None)
    return parse_time(cond.get("lastTransitionTime")) if cond else None
