"""Pure helpers over pod, event and Deployment JSON: kubectl's STATUS column, event summaries."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from warroom.contracts.kubernetes import ContainerHealth, EventSummary, PodHealth
from warroom.policy import rollout as policy

Obj = dict[str, Any]

CONTAINER_PROBLEMS = (
    "CrashLoopBackOff",
    "ImagePullBackOff",
    "ErrImagePull",
    "CreateContainerConfigError",
    "CreateContainerError",
    "InvalidImageName",
    "RunContainerError",
)


def revision(obj: Mapping[str, Any]) -> int | None:
    try:
        return policy.revision(obj)
    except ValueError:
        return None


def annotation(obj: Mapping[str, Any], key: str) -> str | None:
    value: str | None = ((obj.get("metadata") or {}).get("annotations") or {}).get(key)
    return value


def restarts(pod: Obj) -> int:
    return sum(s.get("restartCount", 0) for s in (pod.get("status") or {}).get("containerStatuses") or [])


def timestamp(value: Any) -> datetime | None:
    if not value:
        return None
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def pod_health(pod: Obj, restart_threshold: int = 1) -> PodHealth:
    """A pod's health; `status` is computed as kubectl's STATUS column (printers.go printPod)."""
    status = pod.get("status") or {}
    phase = status.get("phase") or ""
    reason = status.get("reason") or phase
    containers: list[ContainerHealth] = []
    problems: list[str] = []
    ready_count = 0
    for c in reversed(status.get("containerStatuses") or []):
        state, last = c.get("state") or {}, (c.get("lastState") or {}).get("terminated") or {}
        health = ContainerHealth(
            name=c["name"],
            image=c.get("image", ""),
            ready=bool(c.get("ready")),
            restart_count=c.get("restartCount", 0),
            last_terminated_reason=last.get("reason"),
            last_exit_code=last.get("exitCode"),
            last_finished_at=timestamp(last.get("finishedAt")),
        )
        if "waiting" in state:
            health.state, health.reason = "waiting", (state["waiting"] or {}).get("reason")
            health.message = ((state["waiting"] or {}).get("message") or "")[:300] or None
            reason = health.reason or reason
        elif "terminated" in state:
            term = state["terminated"] or {}
            health.state, health.reason = "terminated", term.get("reason")
            reason = term.get("reason") or (
                f"Signal:{term['signal']}" if term.get("signal") else f"ExitCode:{term.get('exitCode', 0)}"
            )
        elif "running" in state:
            health.state = "running"
            ready_count += bool(c.get("ready"))
        containers.insert(0, health)
        for found in (health.reason, health.last_terminated_reason):
            if found is not None and (
                found in CONTAINER_PROBLEMS or found == "OOMKilled" or (health.state == "terminated" and found)
            ):
                problems.append(found)
        if health.restart_count >= restart_threshold > 0:
            problems.append("Restarts")
    ready = any(cond.get("type") == "Ready" and cond.get("status") == "True" for cond in status.get("conditions") or [])
    if phase not in ("Running", "Succeeded"):
        problems.insert(0, "NotRunning")
    if not ready and phase != "Succeeded":
        problems.insert(0, "NotReady")
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        reason = "Terminating"
    return PodHealth(
        name=pod["metadata"]["name"],
        phase=phase,
        status=reason,
        ready=ready,
        ready_containers=f"{ready_count}/{len((pod.get('spec') or {}).get('containers') or [])}",
        restarts=sum(c.restart_count for c in containers),
        node=(pod.get("spec") or {}).get("nodeName"),
        created_at=timestamp((pod.get("metadata") or {}).get("creationTimestamp")),
        containers=containers,
        problems=list(dict.fromkeys(problems)),
    )


def event_time(e: Obj) -> datetime:
    stamp = timestamp(e.get("lastTimestamp")) or timestamp(e.get("eventTime")) or timestamp(e.get("firstTimestamp"))
    return stamp or datetime.min.replace(tzinfo=UTC)


def event_summary(e: Obj) -> EventSummary:
    involved = e.get("involvedObject") or {}
    return EventSummary(
        type=e.get("type", ""),
        reason=e.get("reason", ""),
        object=f"{(involved.get('kind') or '').lower()}/{involved.get('name', '')}",
        message=(e.get("message") or "").strip()[:1000],
        count=e.get("count") or 1,
        first_seen=timestamp(e.get("firstTimestamp")) or timestamp(e.get("eventTime")),
        last_seen=timestamp(e.get("lastTimestamp")) or timestamp(e.get("eventTime")),
    )
