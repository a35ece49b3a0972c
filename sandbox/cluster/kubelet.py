"""What a kubelet would report: each container's state as a pure function of its image's behaviour,
the pod's creation time and now. Recomputing is cheap, so the controller just re-derives the status
every tick and writes it only when it changed (a real resourceVersion bump)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from sandbox.cluster.scenario import ImageBehavior
from sandbox.cluster.util import rfc3339

_LOG_WINDOW = 2000  # repeated lines kept per container instance


@dataclass(frozen=True)
class Instance:
    index: int
    start: float
    end: float | None  # None: still running


@dataclass(frozen=True)
class Timeline:
    current: Instance | None  # the running instance
    last: Instance | None  # the most recent instance that ended
    before_last: Instance | None  # the one before it
    restarts: int
    waiting: tuple[str, str] | None  # (reason, message)
    ready: bool
    ready_changed_at: float


def _backoff(b: ImageBehavior, k: int) -> float:
    return min(b.backoff_seconds * (2 ** min(k, 60)), b.max_backoff_seconds)


def _crash_start(b: ImageBehavior, first: float, k: int) -> float:
    """Start time of instance k of a crash-looping container."""
    t = first
    for i in range(k):
        if _backoff(b, i) >= b.max_backoff_seconds:
            return t + (k - i) * (b.run_seconds + b.max_backoff_seconds)
        t += b.run_seconds + _backoff(b, i)
    return t


def _crash_index(b: ImageBehavior, first: float, now: float) -> int:
    """The newest instance started at or before `now` (closed form once the back-off is capped)."""
    t, k = first, 0
    while True:
        step = b.run_seconds + _backoff(b, k)
        if _backoff(b, k) >= b.max_backoff_seconds:
            return k + int((now - t) // step)
        if t + step > now:
            return k
        t += step
        k += 1


def timeline(b: ImageBehavior, created: float, now: float, container: str, pod_ref: str) -> Timeline:
    first = created + b.start_seconds
    if now < first:
        return Timeline(None, None, None, 0, ("ContainerCreating", ""), False, created)
    if b.behavior == "image_pull":
        reason = "ErrImagePull" if now - first < b.backoff_seconds else "ImagePullBackOff"
        return Timeline(None, None, None, 0, (reason, ""), False, created)
    if b.behavior in ("healthy", "errors"):
        run = Instance(0, first, None)
        ready_at = first + b.ready_seconds
        ready = (b.behavior == "healthy" or b.ready) and now >= ready_at
        return Timeline(run, None, None, 0, None, ready, ready_at if ready else first)
    k = _crash_index(b, first, now)
    start = _crash_start(b, first, k)
    this = Instance(k, start, start + b.run_seconds)
    previous = Instance(k - 1, _crash_start(b, first, k - 1), None) if k > 0 else None
    if previous is not None:
        previous = Instance(k - 1, previous.start, previous.start + b.run_seconds)
    if now < this.end:  # running instance k
        earlier = None
        if k > 1:
            s = _crash_start(b, first, k - 2)
            earlier = Instance(k - 2, s, s + b.run_seconds)
        return Timeline(Instance(k, start, None), previous, earlier, k, None, False, start)
    delay = int(_backoff(b, k))
    message = f"back-off {delay}s restarting failed container={container} pod={pod_ref}"
    return Timeline(None, this, previous, k + 1, ("CrashLoopBackOff", message), False, this.end)


def next_change(b: ImageBehavior, created: float, now: float) -> float | None:
    """The first moment after `now` at which `timeline` answers differently (None: never)."""
    first = created + b.start_seconds
    if now < first:
        return first
    if b.behavior == "image_pull":
        return first + b.backoff_seconds if now < first + b.backoff_seconds else None
    if b.behavior in ("healthy", "errors"):
        ready_at = first + b.ready_seconds
        return ready_at if now < ready_at and (b.behavior == "healthy" or b.ready) else None
    k = _crash_index(b, first, now)
    start = _crash_start(b, first, k)
    end = start + b.run_seconds
    return end if now < end else end + _backoff(b, k)


def _container_id(pod_uid: str, container: str, index: int) -> str:
    return "containerd://" + hashlib.sha256(f"{pod_uid}/{container}/{index}".encode()).hexdigest()


def _image_id(image: str) -> str:
    return f"{image.split(':')[0]}@sha256:{hashlib.sha256(image.encode()).hexdigest()}"


def container_status(spec: dict[str, Any], t: Timeline, b: ImageBehavior, pod_uid: str) -> dict[str, Any]:
    name, image = spec["name"], spec.get("image", "")
    status: dict[str, Any] = {
        "name": name,
        "image": image,
        "imageID": "",
        "ready": t.ready,
        "restartCount": t.restarts,
        "started": t.current is not None,
    }
    if t.current is not None:
        status["state"] = {"running": {"startedAt": rfc3339(t.current.start)}}
        status["containerID"] = _container_id(pod_uid, name, t.current.index)
        status["imageID"] = _image_id(image)
    else:
        reason, message = t.waiting or ("ContainerCreating", "")
        if reason in ("ErrImagePull", "ImagePullBackOff"):
            message = (
                f'Back-off pulling image "{image}"'
                if reason == "ImagePullBackOff"
                else f'rpc error: code = NotFound desc = failed to pull and unpack image "{image}": not found'
            )
        status["state"] = {"waiting": {"reason": reason, **({"message": message} if message else {})}}
        if t.last is not None:
            status["containerID"] = _container_id(pod_uid, name, t.last.index)
            status["imageID"] = _image_id(image)
    if t.last is not None and t.last.end is not None:
        status["lastState"] = {
            "terminated": {
                "exitCode": b.exit_code,
                "reason": b.reason,
                "startedAt": rfc3339(t.last.start),
                "finishedAt": rfc3339(t.last.end),
                "containerID": _container_id(pod_uid, name, t.last.index),
            }
        }
    else:
        status["lastState"] = {}
    return status


def pod_status(
    pod: dict[str, Any], created: float, now: float, behaviors: dict[str, ImageBehavior], node_ip: str
) -> dict[str, Any]:
    meta, spec = pod["metadata"], pod["spec"]
    ref = f"{meta['name']}_{meta['namespace']}({meta['uid']})"
    lines = []
    started_any = False
    for c in spec.get("containers", []):
        b = behaviors[c["name"]]
        t = timeline(b, created, now, c["name"], ref)
        started_any = started_any or t.current is not None or t.last is not None
        lines.append((c, t, b))
    statuses = [container_status(c, t, b, meta["uid"]) for c, t, b in lines]
    ready = all(t.ready for _, t, _ in lines) and bool(lines)
    changed = max((t.ready_changed_at for _, t, _ in lines), default=created)
    first_start = min((created + b.start_seconds for _, _, b in lines), default=created)
    unready = [c["name"] for c, t, _ in lines if not t.ready]
    ready_cond: dict[str, Any] = {
        "status": "True" if ready else "False",
        "lastProbeTime": None,
        "lastTransitionTime": rfc3339(changed),
    }
    if not ready:
        ready_cond.update(reason="ContainersNotReady", message=f"containers with unready status: [{' '.join(unready)}]")
    conditions = [
        {
            "type": "PodReadyToStartContainers",
            "status": "True" if started_any else "False",
            "lastProbeTime": None,
            "lastTransitionTime": rfc3339(first_start if started_any else created),
        },
        {"type": "Initialized", "status": "True", "lastProbeTime": None, "lastTransitionTime": rfc3339(created)},
        {"type": "Ready", **ready_cond},
        {"type": "ContainersReady", **ready_cond},
        {"type": "PodScheduled", "status": "True", "lastProbeTime": None, "lastTransitionTime": rfc3339(created)},
    ]
    digest = hashlib.sha256(meta["uid"].encode()).digest()
    pod_ip = f"10.244.{digest[0] % 250}.{digest[1] % 250 + 2}"
    return {
        "phase": "Running" if started_any else "Pending",
        "conditions": conditions,
        "hostIP": node_ip,
        "hostIPs": [{"ip": node_ip}],
        "podIP": pod_ip,
        "podIPs": [{"ip": pod_ip}],
        "startTime": rfc3339(created),
        "containerStatuses": statuses,
        "qosClass": qos_class(spec),
    }


def qos_class(spec: dict[str, Any]) -> str:
    resources = [c.get("resources") or {} for c in spec.get("containers", [])]
    if not any(r.get("requests") or r.get("limits") for r in resources):
        return "BestEffort"
    guaranteed = all(
        r.get("limits")
        and all(r["limits"].get(k) == (r.get("requests") or r["limits"]).get(k) for k in ("cpu", "memory"))
        and {"cpu", "memory"} <= set(r["limits"])
        for r in resources
    )
    return "Guaranteed" if guaranteed else "Burstable"


# --- logs ----------------------------------------------------------------------------------


def instance_logs(b: ImageBehavior, inst: Instance, now: float) -> list[tuple[float, str]]:
    """(timestamp, line) written by one container instance up to `now`."""
    end = inst.end if inst.end is not None and inst.end <= now else now
    out = [(inst.start + 0.001 * i, line) for i, line in enumerate(b.startup_logs)]
    if b.logs:
        count = int((end - inst.start) // b.log_interval_seconds)
        first = max(1, count - _LOG_WINDOW + 1)
        for n in range(first, count + 1):
            out.append((inst.start + n * b.log_interval_seconds, b.logs[(n - 1) % len(b.logs)]))
    if inst.end is not None and inst.end <= now:
        out.extend((inst.end - 0.001 * (len(b.crash_logs) - i), line) for i, line in enumerate(b.crash_logs))
    return sorted((ts, line) for ts, line in out if ts <= now)
