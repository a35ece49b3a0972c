"""The emulated cluster: the store, the controllers on a background thread, the API operations the
HTTP routes call, a scenario's history replayed into the past, and state snapshots for parity tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sandbox.cluster.controller import Controllers
from sandbox.cluster.events import Recorder
from sandbox.cluster.kubelet import instance_logs, next_change, timeline
from sandbox.cluster.nodes import node_object
from sandbox.cluster.patch import apply_patch
from sandbox.cluster.resources import (
    DEFAULTERS,
    DEPLOYMENTS,
    NAMESPACES,
    NODES,
    PODS,
    REPLICASETS,
    ResourceType,
    check_kind,
    validate,
    validate_name,
)
from sandbox.cluster.scenario import DeploymentSeed, HistoryEntry, Scenario, offset_seconds
from sandbox.cluster.selectors import (
    fields_match,
    labels_match,
    parse_field_selector,
    parse_label_selector,
    selector_string,
)
from sandbox.cluster.store import Snapshot, Store
from sandbox.cluster.util import ApiError, bad_request, deep, parse_time, rfc3339nano, strip_nulls

_MAX_STOPS = 120  # replayed moments per history step before jumping ahead


class Cluster:
    def __init__(
        self, scenario: Scenario | None = None, *, clock: Callable[[], float] = time.time, state: Snapshot | None = None
    ) -> None:
        """Replay the scenario's history, or start from `state` (another cluster's snapshot of the
        same scenario: cheaper than replaying, and pods simply carry on from their creation times)."""
        self.scenario = scenario or Scenario()
        self.clock = clock
        self.store = Store(self.scenario.seed)
        self.recorder = Recorder(self.store, self.scenario.node)
        self.controllers = Controllers(self.store, self.scenario, self.recorder)
        self._kick = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._hold = 0
        if state is None:
            self._seed(self.clock())
        else:
            self.store.restore(state)
            self.reconcile()

    # --- controller loop -----------------------------------------------------------------

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="sandbox-controllers", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._kick.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self.store.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            if not self._hold:
                self.reconcile()
            self._kick.wait(self.scenario.tick_seconds)
            self._kick.clear()

    def reconcile(self, now: float | None = None, passes: int = 10) -> None:
        """Run the controllers until nothing changes (a write often triggers a follow-up)."""
        for _ in range(passes):
            if not self.controllers.reconcile(self.clock() if now is None else now):
                return

    def kick(self) -> None:
        self._kick.set()

    @contextmanager
    def held(self) -> Iterator[None]:
        """Pause the controllers (e.g. to look at a state before they react to it)."""
        with self.store.lock:
            self._hold += 1
        try:
            yield
        finally:
            with self.store.lock:
                self._hold -= 1
            self.kick()

    def snapshot(self) -> Snapshot:
        return self.store.snapshot()

    def restore(self, snap: Snapshot) -> None:
        self.store.restore(snap)
        self.recorder._index.clear()
        self.kick()

    def wait_for(self, check: Callable[[], Any], timeout: float = 10.0) -> Any:
        """Poll `check` (real time) until it returns something truthy."""
        deadline = time.monotonic() + timeout
        while True:
            result = check()
            if result:
                return result
            if time.monotonic() > deadline:
                raise TimeoutError(f"sandbox cluster: condition not met within {timeout}s")
            time.sleep(0.02)

    # --- API operations (what the routes call) --------------------------------------------

    def list(
        self,
        r: ResourceType,
        namespace: str | None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> tuple[list[dict[str, Any]], str]:
        labels = parse_label_selector(label_selector)
        fields = parse_field_selector(field_selector, r.field_getters)
        with self.store.lock:
            items = [
                o
                for o in self.store.list(r, namespace)
                if labels_match(labels, o["metadata"].get("labels")) and fields_match(fields, o, r.field_getters)
            ]
            return items, str(self.store.rv)

    def get(self, r: ResourceType, namespace: str, name: str) -> dict[str, Any]:
        return self.store.must_get(r, namespace, name)

    def _prepare(
        self, r: ResourceType, namespace: str, obj: dict[str, Any], old: dict[str, Any] | None
    ) -> dict[str, Any]:
        obj = strip_nulls(obj)
        meta = obj.setdefault("metadata", {})
        if r.namespaced:
            if meta.get("namespace") not in (None, "", namespace):
                raise bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request"
                )
            meta["namespace"] = namespace
        validate_name(r, meta.get("name", ""))
        if r.kind in DEFAULTERS:
            DEFAULTERS[r.kind](obj)
        validate(r, obj, old)
        return obj

    def create(self, r: ResourceType, namespace: str, body: Any, dry_run: bool = False) -> dict[str, Any]:
        check_kind(r, body)
        with self.store.lock:
            obj = self._prepare(r, namespace, deep(body), None)
            obj.pop("status", None)
            if r is NAMESPACES:
                obj["status"] = {"phase": "Active"}
                obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = obj["metadata"]["name"]
            created = self.store.create(r, obj, self.clock(), dry_run)
        self.kick()
        return created

    def _write(
        self, r: ResourceType, old: dict[str, Any], obj: dict[str, Any], subresource: str | None, dry_run: bool
    ) -> dict[str, Any]:
        namespace = old["metadata"].get("namespace", "")
        if subresource == "status":
            new = deep(old)
            new["status"] = obj.get("status")
            obj = new
        else:
            obj["status"] = old.get("status")  # the main resource ignores status changes, as on a real server
            obj = self._prepare(r, namespace, obj, old)
        obj["metadata"]["name"] = old["metadata"]["name"]
        updated = self.store.update(r, strip_nulls(obj), dry_run)
        self.kick()
        return updated

    def replace(
        self,
        r: ResourceType,
        namespace: str,
        name: str,
        body: Any,
        subresource: str | None = None,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        check_kind(r, body)
        if (body.get("metadata") or {}).get("name") not in (None, name):
            raise bad_request("the name of the object does not match the name on the URL")
        with self.store.lock:
            old = self.store.must_get(r, namespace, name)
            return self._write(r, old, deep(body), subresource, dry_run)

    def patch(
        self,
        r: ResourceType,
        namespace: str,
        name: str,
        content_type: str,
        body: Any,
        subresource: str | None = None,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        with self.store.lock:
            old = self.store.must_get(r, namespace, name)
            patched = apply_patch(old, content_type, body)
            if not isinstance(patched, dict) or not isinstance(patched.get("metadata"), dict):
                raise ApiError(422, "Invalid", "the patch removed the object's metadata")
            return self._write(r, old, patched, subresource, dry_run)

    def delete(self, r: ResourceType, namespace: str, name: str, dry_run: bool = False) -> dict[str, Any]:
        with self.store.lock:
            gone = self.store.delete(r, namespace, name, dry_run)
        self.kick()
        return gone

    # --- scale subresource ---------------------------------------------------------------

    def scale(self, r: ResourceType, namespace: str, name: str) -> dict[str, Any]:
        obj = self.store.must_get(r, namespace, name)
        meta = obj["metadata"]
        return {
            "kind": "Scale",
            "apiVersion": "autoscaling/v1",
            "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")},
            "spec": {"replicas": obj["spec"]["replicas"]},
            "status": {
                "replicas": (obj.get("status") or {}).get("replicas", 0),
                "selector": selector_string(obj["spec"].get("selector")),
            },
        }

    def write_scale(
        self, r: ResourceType, namespace: str, name: str, scale: dict[str, Any], dry_run: bool = False
    ) -> dict[str, Any]:
        replicas = (scale.get("spec") or {}).get("replicas")
        if not isinstance(replicas, int) or replicas < 0:
            raise ApiError(
                422,
                "Invalid",
                f'Scale.autoscaling "{name}" is invalid: spec.replicas: Invalid value: '
                f"{replicas!r}: must be greater than or equal to 0",
            )
        with self.store.lock:
            obj = self.store.must_get(r, namespace, name)
            sent = (scale.get("metadata") or {}).get("resourceVersion")
            if sent and sent != obj["metadata"]["resourceVersion"]:
                raise ApiError(
                    409,
                    "Conflict",
                    f'Operation cannot be fulfilled on {r.plural}.{r.group} "{name}": '
                    "the object has been modified; please apply your changes to the latest version and try again",
                )
            obj["spec"]["replicas"] = replicas
            self._write(r, self.store.must_get(r, namespace, name), obj, None, dry_run)
            return (
                self.scale(r, namespace, name)
                if not dry_run
                else {**self.scale(r, namespace, name), "spec": {"replicas": replicas}}
            )

    def patch_scale(
        self, r: ResourceType, namespace: str, name: str, content_type: str, body: Any, dry_run: bool = False
    ) -> dict[str, Any]:
        with self.store.lock:
            return self.write_scale(
                r, namespace, name, apply_patch(self.scale(r, namespace, name), content_type, body), dry_run
            )

    # --- pod logs ------------------------------------------------------------------------

    def logs(
        self,
        namespace: str,
        name: str,
        container: str | None = None,
        previous: bool = False,
        tail_lines: int | None = None,
        since_seconds: int | None = None,
        timestamps: bool = False,
        limit_bytes: int | None = None,
    ) -> str:
        pod = self.store.must_get(PODS, namespace, name)
        names = [c["name"] for c in pod["spec"]["containers"]]
        if container is None:
            default = (pod["metadata"].get("annotations") or {}).get("kubectl.kubernetes.io/default-container")
            if len(names) == 1 or default in names:
                container = default if default in names else names[0]
            else:
                raise bad_request(
                    f"a container name must be specified for pod {name}, choose one of: [{' '.join(names)}]"
                )
        if container not in names:
            raise bad_request(f"container {container} is not valid for pod {name}")
        spec = next(c for c in pod["spec"]["containers"] if c["name"] == container)
        b = self.scenario.behavior_for(spec.get("image", ""))
        now = self.clock()
        t = timeline(b, self.store.created_at(PODS, pod), now, container, "")
        instance = t.last if previous else (t.current or t.last)
        if instance is None:
            if previous:
                raise bad_request(f'previous terminated container "{container}" in pod "{name}" not found')
            reason = (t.waiting or ("ContainerCreating", ""))[0]
            why = "trying and failing to pull image" if reason in ("ErrImagePull", "ImagePullBackOff") else reason
            raise bad_request(f'container "{container}" in pod "{name}" is waiting to start: {why}')
        lines = instance_logs(b, instance, now)
        if since_seconds is not None:
            lines = [(ts, line) for ts, line in lines if ts >= now - since_seconds]
        if tail_lines is not None:
            lines = lines[-tail_lines:] if tail_lines > 0 else []
        text = "".join(f"{rfc3339nano(ts) + ' ' if timestamps else ''}{line}\n" for ts, line in lines)
        return text[:limit_bytes] if limit_bytes is not None else text

    # --- scenario replay and test helpers ------------------------------------------------

    def _seed(self, start: float) -> None:
        steps: list[tuple[float, int, DeploymentSeed, HistoryEntry]] = []
        for i, seed in enumerate(self.scenario.deployments):
            steps.extend((start + offset_seconds(h.at), i, seed, h) for h in seed.history)
        steps.sort(key=lambda s: (s[0], s[1]))
        first = min([s[0] for s in steps] + [start]) - 600
        namespaces = list(
            dict.fromkeys(["default"] + self.scenario.namespaces + [s.namespace for s in self.scenario.deployments])
        )  # a real cluster always has `default`, where the kubelet records its Node's events
        for ns in namespaces:
            self.store.create(
                NAMESPACES,
                {
                    "metadata": {"name": ns, "labels": {"kubernetes.io/metadata.name": ns}},
                    "status": {"phase": "Active"},
                },
                first,
            )
        self.store.create(NODES, node_object(self.scenario, first), first)
        t = first
        for when, _, seed, entry in steps:
            self._advance(t, when)
            t = when
            self.apply_rollout(seed, entry, when)
        self._advance(t, start)
        for seed in self.scenario.deployments:
            if seed.paused:
                self.patch(
                    DEPLOYMENTS, seed.namespace, seed.name, "application/merge-patch+json", {"spec": {"paused": True}}
                )
        self.reconcile(start)

    def _advance(self, start: float, end: float) -> None:
        """Replay time from `start` to `end`, stopping at each moment something can change; after
        `_MAX_STOPS` stops jump straight to `end` (pod states are exact at any time anyway)."""
        t = start
        for _ in range(_MAX_STOPS):
            self.reconcile(t)
            upcoming = self._next_change(t)
            if upcoming is None or upcoming >= end:
                break
            t = upcoming + 1e-3
        self.reconcile(end)

    def _next_change(self, now: float) -> float | None:
        times = []
        for pod in self.store.view(PODS):
            created = self.store.created_at(PODS, pod)
            for c in pod["spec"]["containers"]:
                t = next_change(self.scenario.behavior_for(c.get("image", "")), created, now)
                if t is not None:
                    times.append(t)
        for d in self.store.view(DEPLOYMENTS):
            cond = next(
                (c for c in (d.get("status") or {}).get("conditions") or [] if c["type"] == "Progressing"), None
            )
            deadline = d["spec"].get("progressDeadlineSeconds")
            if (
                cond
                and deadline is not None
                and cond["reason"] not in ("NewReplicaSetAvailable", "ProgressDeadlineExceeded")
            ):
                t = (parse_time(cond["lastUpdateTime"]) or now) + deadline + 1
                if t > now:
                    times.append(t)
        return min(times, default=None)

    def apply_rollout(self, seed: DeploymentSeed, entry: HistoryEntry, now: float | None = None) -> dict[str, Any]:
        """Deploy one history entry: create the Deployment or change its image(s) and annotations."""
        now = self.clock() if now is None else now
        labels = seed.labels or {"app": seed.name}
        images = entry.image if isinstance(entry.image, dict) else {seed.container: entry.image}
        containers = [
            {
                "name": name,
                "image": image,
                **({"ports": [{"containerPort": seed.port}]} if seed.port else {}),
                **({"resources": seed.resources} if seed.resources else {}),
            }
            for name, image in images.items()
        ]
        annotations = dict(entry.annotations)
        if entry.change_cause:
            annotations["kubernetes.io/change-cause"] = entry.change_cause
        with self.store.lock:
            current = self.store.get(DEPLOYMENTS, seed.namespace, seed.name)
            if current is None:
                body = {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "metadata": {"name": seed.name, "labels": dict(labels), "annotations": annotations},
                    "spec": {
                        "replicas": seed.replicas,
                        "selector": {"matchLabels": dict(labels)},
                        "revisionHistoryLimit": seed.revision_history_limit,
                        "progressDeadlineSeconds": seed.progress_deadline_seconds,
                        "minReadySeconds": seed.min_ready_seconds,
                        "strategy": {
                            "type": "RollingUpdate",
                            "rollingUpdate": {"maxSurge": seed.max_surge, "maxUnavailable": seed.max_unavailable},
                        },
                        "template": {"metadata": {"labels": dict(labels)}, "spec": {"containers": containers}},
                    },
                }
                if not seed.min_ready_seconds:
                    del body["spec"]["minReadySeconds"]
                obj = self._prepare(DEPLOYMENTS, seed.namespace, body, None)
                result = self.store.create(DEPLOYMENTS, obj, now)
            else:
                patch = {
                    "metadata": {"annotations": annotations},
                    "spec": {
                        "template": {
                            "spec": {"containers": [{"name": c["name"], "image": c["image"]} for c in containers]}
                        }
                    },
                }
                result = self.patch(
                    DEPLOYMENTS, seed.namespace, seed.name, "application/strategic-merge-patch+json", patch
                )
        self.kick()
        return result

    def set_image(
        self,
        namespace: str,
        deployment: str,
        image: str,
        *,
        container: str | None = None,
        change_cause: str | None = None,
        annotations: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """What `kubectl set image` + `kubectl annotate` do: start a new rollout now."""
        d = self.get(DEPLOYMENTS, namespace, deployment)
        name = container or d["spec"]["template"]["spec"]["containers"][0]["name"]
        meta = dict(annotations or {})
        if change_cause:
            meta["kubernetes.io/change-cause"] = change_cause
        patch = {
            "metadata": {"annotations": meta},
            "spec": {"template": {"spec": {"containers": [{"name": name, "image": image}]}}},
        }
        return self.patch(DEPLOYMENTS, namespace, deployment, "application/strategic-merge-patch+json", patch)

    def rollout_complete(self, namespace: str, deployment: str) -> bool:
        d = self.get(DEPLOYMENTS, namespace, deployment)
        s, replicas = d.get("status") or {}, d["spec"]["replicas"]
        return (
            s.get("observedGeneration", 0) >= d["metadata"]["generation"]
            and s.get("updatedReplicas", 0) == replicas
            and s.get("replicas", 0) == replicas
            and s.get("availableReplicas", 0) == replicas
        )

    def replica_sets(self, namespace: str, deployment: str) -> list[dict[str, Any]]:
        uid = self.get(DEPLOYMENTS, namespace, deployment)["metadata"]["uid"]
        return [
            rs
            for rs in self.store.list(REPLICASETS, namespace)
            if any(
                ref.get("uid") == uid and ref.get("controller") for ref in rs["metadata"].get("ownerReferences") or []
            )
        ]
