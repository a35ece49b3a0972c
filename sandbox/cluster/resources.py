"""The resource types the emulator serves: discovery entries, field selectors, defaults, validation."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sandbox.cluster.selectors import labels_match, selector_from_spec
from sandbox.cluster.util import ApiError, invalid

_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")

Getter = Callable[[dict[str, Any]], Any]


def _path(*keys: str) -> Getter:
    def get(obj: dict[str, Any]) -> Any:
        node: Any = obj
        for key in keys:
            node = node.get(key) if isinstance(node, dict) else None
        return node

    return get


_META_FIELDS: dict[str, Getter] = {
    "metadata.name": _path("metadata", "name"),
    "metadata.namespace": _path("metadata", "namespace"),
}


@dataclass(frozen=True)
class ResourceType:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: tuple[tuple[str, str, str, str, tuple[str, ...]], ...] = ()  # (name, group, version, kind, verbs)
    fields: dict[str, Getter] = field(default_factory=dict)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def key(self) -> str:
        return f"{self.group}/{self.plural}" if self.group else self.plural

    @property
    def field_getters(self) -> dict[str, Getter]:
        return {**_META_FIELDS, **self.fields}

    def discovery(self) -> list[dict[str, Any]]:
        main: dict[str, Any] = {
            "name": self.plural,
            "singularName": self.kind.lower(),
            "namespaced": self.namespaced,
            "kind": self.kind,
            "verbs": list(_VERBS),
        }
        if self.short_names:
            main["shortNames"] = list(self.short_names)
        if self.categories:
            main["categories"] = list(self.categories)
        entries = [main]
        for name, group, version, kind, verbs in self.subresources:
            sub: dict[str, Any] = {
                "name": f"{self.plural}/{name}",
                "singularName": "",
                "namespaced": self.namespaced,
                "kind": kind,
                "verbs": list(verbs),
            }
            if group is not None and (group, version) != (self.group, self.version):
                sub.update(group=group, version=version)
            entries.append(sub)
        return entries


NAMESPACES = ResourceType(
    "",
    "v1",
    "namespaces",
    "Namespace",
    False,
    ("ns",),
    subresources=(("status", "", "v1", "Namespace", ("get", "patch", "update")),),
    fields={"status.phase": _path("status", "phase")},
)
PODS = ResourceType(
    "",
    "v1",
    "pods",
    "Pod",
    True,
    ("po",),
    ("all",),
    subresources=(("log", "", "v1", "Pod", ("get",)), ("status", "", "v1", "Pod", ("get", "patch", "update"))),
    fields={
        "spec.nodeName": _path("spec", "nodeName"),
        "spec.restartPolicy": _path("spec", "restartPolicy"),
        "spec.schedulerName": _path("spec", "schedulerName"),
        "spec.serviceAccountName": _path("spec", "serviceAccountName"),
        "status.phase": _path("status", "phase"),
        "status.podIP": _path("status", "podIP"),
        "status.nominatedNodeName": _path("status", "nominatedNodeName"),
    },
)
EVENTS = ResourceType(
    "",
    "v1",
    "events",
    "Event",
    True,
    ("ev",),
    fields={
        **{
            f"involvedObject.{k}": _path("involvedObject", k)
            for k in ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath")
        },
        "reason": _path("reason"),
        "reportingComponent": _path("reportingComponent"),
        "source": _path("source", "component"),
        "type": _path("type"),
    },
)
NODES = ResourceType(
    "",
    "v1",
    "nodes",
    "Node",
    False,
    ("no",),
    subresources=(("status", "", "v1", "Node", ("get", "patch", "update")),),
    fields={"spec.unschedulable": _path("spec", "unschedulable")},
)
DEPLOYMENTS = ResourceType(
    "apps",
    "v1",
    "deployments",
    "Deployment",
    True,
    ("deploy",),
    ("all",),
    subresources=(
        ("scale", "autoscaling", "v1", "Scale", ("get", "patch", "update")),
        ("status", "apps", "v1", "Deployment", ("get", "patch", "update")),
    ),
)
REPLICASETS = ResourceType(
    "apps",
    "v1",
    "replicasets",
    "ReplicaSet",
    True,
    ("rs",),
    ("all",),
    subresources=(
        ("scale", "autoscaling", "v1", "Scale", ("get", "patch", "update")),
        ("status", "apps", "v1", "ReplicaSet", ("get", "patch", "update")),
    ),
    fields={"status.replicas": _path("status", "replicas")},
)

ALL = (NAMESPACES, NODES, PODS, EVENTS, DEPLOYMENTS, REPLICASETS)
BY_PATH = {(r.group, r.version, r.plural): r for r in ALL}
BY_KIND = {r.kind: r for r in ALL}


def group_versions() -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for r in ALL:
        if r.group:
            groups.setdefault(r.group, [])
            if r.version not in groups[r.group]:
                groups[r.group].append(r.version)
    return groups


# --- defaults (what the API server's defaulting adds) --------------------------------------


def _default_container(c: dict[str, Any]) -> None:
    c.setdefault("terminationMessagePath", "/dev/termination-log")
    c.setdefault("terminationMessagePolicy", "File")
    image = c.get("image", "")
    tag = image.rsplit("/", 1)[-1]
    c.setdefault("imagePullPolicy", "Always" if ":" not in tag or tag.endswith(":latest") else "IfNotPresent")
    c.setdefault("resources", {})
    for port in c.get("ports") or []:
        port.setdefault("protocol", "TCP")


def default_pod_spec(spec: dict[str, Any]) -> None:
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    for c in spec.get("containers") or []:
        _default_container(c)


def default_workload(obj: dict[str, Any]) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    if obj.get("kind") == "Deployment":
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("progressDeadlineSeconds", 600)
        strategy = spec.setdefault("strategy", {"type": "RollingUpdate"})
        if strategy.get("type", "RollingUpdate") == "RollingUpdate":
            strategy["type"] = "RollingUpdate"
            rolling = strategy.setdefault("rollingUpdate", {})
            rolling.setdefault("maxUnavailable", "25%")
            rolling.setdefault("maxSurge", "25%")
    template = spec.setdefault("template", {})
    template.setdefault("metadata", {})
    default_pod_spec(template.setdefault("spec", {}))


def default_pod(obj: dict[str, Any]) -> None:
    spec = obj.setdefault("spec", {})
    default_pod_spec(spec)
    spec.setdefault("serviceAccountName", "default")
    spec.setdefault("serviceAccount", spec["serviceAccountName"])
    spec.setdefault("enableServiceLinks", True)
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
    spec.setdefault("priority", 0)
    spec.setdefault(
        "tolerations",
        [
            {"key": f"node.kubernetes.io/{k}", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}
            for k in ("not-ready", "unreachable")
        ],
    )


DEFAULTERS: dict[str, Callable[[dict[str, Any]], None]] = {
    "Deployment": default_workload,
    "ReplicaSet": default_workload,
    "Pod": default_pod,
}


# --- validation ----------------------------------------------------------------------------


def validate_name(r: ResourceType, name: str) -> None:
    pattern, limit = (_DNS_LABEL, 63) if r.kind == "Namespace" else (_DNS_SUBDOMAIN, 253)
    if not name or len(name) > limit or not pattern.match(name):
        raise invalid(
            r.kind,
            name,
            f"metadata.name: Invalid value: {name!r}: a lowercase RFC 1123 "
            f"{'label' if r.kind == 'Namespace' else 'subdomain'} must consist of lower case alphanumeric "
            "characters, '-' or '.', and must start and end with an alphanumeric character",
            r.group,
        )


def validate(r: ResourceType, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
    name = obj["metadata"]["name"]
    if r.kind not in ("Deployment", "ReplicaSet"):
        return
    spec = obj.get("spec") or {}
    errors = []
    if not isinstance(spec.get("replicas"), int) or spec["replicas"] < 0:
        errors.append("spec.replicas: Invalid value: must be greater than or equal to 0")
    selector = spec.get("selector")
    labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    if not selector or not (selector.get("matchLabels") or selector.get("matchExpressions")):
        errors.append("spec.selector: Required value")
    elif not labels_match(selector_from_spec(selector), labels):
        errors.append(
            f"spec.template.metadata.labels: Invalid value: {labels!r}: `selector` does not match template `labels`"
        )
    if old is not None and (old.get("spec") or {}).get("selector") != selector:
        errors.append(f"spec.selector: Invalid value: {selector!r}: field is immutable")
    containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or []
    if not containers:
        errors.append("spec.template.spec.containers: Required value")
    for i, c in enumerate(containers):
        if not c.get("name"):
            errors.append(f"spec.template.spec.containers[{i}].name: Required value")
        if not c.get("image"):
            errors.append(f"spec.template.spec.containers[{i}].image: Required value")
    if spec.get("paused") not in (None, True, False):
        errors.append("spec.paused: Invalid value: must be a boolean")
    if errors:
        raise invalid(r.kind, name, ", ".join(errors) if len(errors) == 1 else f"[{', '.join(errors)}]", r.group)


def check_kind(r: ResourceType, obj: Any) -> None:
    if not isinstance(obj, dict):
        raise ApiError(400, "BadRequest", f"the body must be a {r.kind} object")
    if obj.get("kind") not in (None, r.kind) or obj.get("apiVersion") not in (None, r.api_version):
        raise ApiError(
            400,
            "BadRequest",
            f"the API version in the data ({obj.get('apiVersion')}) does not match the "
            f"expected API version ({r.api_version})",
        )
