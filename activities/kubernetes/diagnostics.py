"""The seed's diagnostic commands as data: `kubectl get pods`, `get events`, `logs | grep`."""

from __future__ import annotations

import re
from typing import Any

from activities.kubernetes.client import KubeApi, Obj
from activities.kubernetes.errors import KubeInvalid, KubeInvalidName, KubeInvalidRequest
from activities.kubernetes.health import event_summary, event_time, pod_health, restarts
from activities.kubernetes.names import KINDS, dns_label, dns_subdomain, shown
from warroom.contracts.kubernetes import (
    EventsReport,
    EventsRequest,
    EventType,
    LogsReport,
    LogsRequest,
    LogStream,
    PodHealthReport,
    PodHealthRequest,
)
from warroom.policy import rollout as policy

NODE_EVENTS_NAMESPACE = "default"
"""Where the kubelet and node-problem-detector record a Node's events (it has no namespace)."""


class Diagnostics(KubeApi):
    def pod_health(self, req: PodHealthRequest) -> PodHealthReport:
        """`kubectl get pods | grep -v Running` and `describe pod`, as data."""
        selector = self._selector(req.namespace, req.deployment, req.labels)
        pods = [pod_health(p, req.restart_threshold) for p in self._pods(req.namespace, selector)]
        findings: dict[str, int] = {}
        for pod in pods:
            for problem in pod.problems:
                findings[problem] = findings.get(problem, 0) + 1
        return PodHealthReport(
            namespace=req.namespace,
            selector=selector,
            total=len(pods),
            unhealthy=[p.name for p in pods if p.problems],
            findings=findings,
            pods=sorted(pods, key=lambda p: (not p.problems, p.name)),
        )

    def events(self, req: EventsRequest) -> EventsReport:
        """`kubectl get events --sort-by=.lastTimestamp | tail -N`, narrowed to what matters."""
        dns_label(req.namespace, "namespace")
        if not 0 < req.limit <= 500:
            raise KubeInvalidRequest(f"limit must be in 1..500, got {req.limit}")
        fields = []
        if req.kind is not None:
            if not KINDS.fullmatch(req.kind):
                raise KubeInvalidName(f"kind {shown(req.kind)} is not a Kubernetes kind")
            fields.append(f"involvedObject.kind={req.kind}")
        if req.name is not None:
            fields.append(f"involvedObject.name={dns_subdomain(req.name, 'object name')}")
        if len(set(req.types)) == 1:
            fields.append(f"type={req.types[0]}")
        related: set[tuple[str, str]] | None = None
        if req.deployment:
            related = self._related_objects(req.namespace, req.deployment)
        result = self._call(
            self.core.list_namespaced_event,
            req.namespace,
            field_selector=",".join(fields) or None,
            limit=self.settings.list_limit,
        )
        items = list(result.items or [])
        if related is not None and req.include_nodes and req.namespace != NODE_EVENTS_NAMESPACE:
            items += self._node_events(related, req.types)
        events = []
        for item in items:
            e = self._json(item)
            involved = e.get("involvedObject") or {}
            if e.get("type") not in req.types:
                continue
            if related is not None and (involved.get("kind"), involved.get("name")) not in related:
                continue
            events.append(e)
        events.sort(key=event_time)
        summaries = [event_summary(e) for e in events[-req.limit :]]
        return EventsReport(namespace=req.namespace, total=len(events), events=summaries)

    def _node_events(self, related: set[tuple[str, str]], types: list[EventType]) -> list[Any]:
        """Events of the related nodes (added to `related` by `_related_objects`), from `default`."""
        if not any(kind == "Node" for kind, _ in related):
            return []
        fields = ["involvedObject.kind=Node"] + ([f"type={types[0]}"] if len(set(types)) == 1 else [])
        result = self._call(
            self.core.list_namespaced_event,
            NODE_EVENTS_NAMESPACE,
            field_selector=",".join(fields),
            limit=self.settings.list_limit,
        )
        return list(result.items or [])

    def _related_objects(self, namespace: str, deployment: str) -> set[tuple[str, str]]:
        d = self._deployment(namespace, deployment)
        related = {("Deployment", deployment)}
        owned = [rs for rs in self._replica_sets(d) if policy.is_controlled_by(rs, d)]
        related |= {("ReplicaSet", rs["metadata"]["name"]) for rs in owned}
        uids = {rs["metadata"]["uid"] for rs in owned}
        selector = policy.selector_string((d.get("spec") or {}).get("selector"))
        for pod in self._pods(namespace, selector):
            if any(ref.get("uid") in uids for ref in pod["metadata"].get("ownerReferences") or []):
                related.add(("Pod", pod["metadata"]["name"]))
                if (pod.get("spec") or {}).get("nodeName"):
                    related.add(("Node", pod["spec"]["nodeName"]))
        return related

    def logs(self, req: LogsRequest) -> LogsReport:
        """`kubectl logs [--previous] ... | grep -i "error\\|exception\\|fatal"`, bounded."""
        if len(req.pattern) > 200:
            raise KubeInvalidRequest("the log pattern is longer than 200 characters")
        try:
            pattern = re.compile(req.pattern, re.IGNORECASE)
        except re.error as exc:
            raise KubeInvalidRequest(f"the log pattern is not a regular expression: {exc}") from exc
        if not 0 < req.tail_lines <= 10_000 or not 0 < req.max_pods <= 50 or not 0 < req.max_matches <= 1000:
            raise KubeInvalidRequest("tail_lines must be in 1..10000, max_pods in 1..50, max_matches in 1..1000")
        if req.since_seconds is not None and req.since_seconds <= 0:
            raise KubeInvalidRequest("since_seconds must be positive")
        dns_label(req.namespace, "namespace")
        if req.container is not None:
            dns_label(req.container, "container")
        if req.pod:
            dns_subdomain(req.pod, "pod")
            pods = [self._json(self._call(self.core.read_namespaced_pod, req.pod, req.namespace))]
        else:
            pods = self._pods(req.namespace, self._selector(req.namespace, req.deployment, req.labels))
            pods.sort(key=lambda p: (-restarts(p), p["metadata"]["name"]))
            pods = pods[: req.max_pods]
        report = LogsReport(namespace=req.namespace, pattern=req.pattern)
        for pod in pods:
            statuses = {s["name"]: s for s in (pod.get("status") or {}).get("containerStatuses") or []}
            for container in (c["name"] for c in pod["spec"]["containers"]):
                if req.container and container != req.container:
                    continue
                restarted = statuses.get(container, {}).get("restartCount", 0) > 0
                wanted = [False, True] if req.previous is None and restarted else [True] if req.previous else [False]
                for previous in wanted:
                    stream = self._log_stream(pod, container, previous, req, pattern)
                    report.streams.append(stream)
                    report.total_matches += len(stream.matches)
        return report

    def _log_stream(
        self, pod: Obj, container: str, previous: bool, req: LogsRequest, pattern: re.Pattern[str]
    ) -> LogStream:
        name = pod["metadata"]["name"]
        stream = LogStream(pod=name, container=container, previous=previous)
        try:
            text = self._call(
                self.core.read_namespaced_pod_log,
                name,
                req.namespace,
                container=container,
                previous=previous,
                tail_lines=req.tail_lines,
                since_seconds=req.since_seconds,
            )
        except KubeInvalid as exc:  # 400: not started yet, or no previous container: an answer, not a failure
            stream.unavailable = str(exc)
            return stream
        lines = (text or "").splitlines()
        stream.lines = len(lines)
        matches = [line[:500] for line in lines if pattern.search(line)]
        stream.truncated = len(matches) > req.max_matches
        stream.matches = matches[-req.max_matches :]
        return stream
