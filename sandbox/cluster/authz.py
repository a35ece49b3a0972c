"""What the API server's authorizer sees of a request: verb, API group, resource[/subresource], namespace.

The same reading as kube-apiserver's RequestInfoFactory (k8s.io/apiserver/pkg/endpoints/request),
so a Role can be checked against the requests a client really sent: GET of a named object is `get`,
of a collection `list` (`watch` with ?watch=true), POST `create`, PUT `update`, PATCH `patch`,
DELETE `delete` (`deletecollection` on a collection). A dry run is authorized as the write itself.
Discovery, /version and /healthz are non-resource requests: every authenticated client may make them.

Set SANDBOX_REQUEST_LOG_DIR and every emulator this process starts appends one JSON line per
resource request to `<dir>/requests-<pid>.jsonl` (a file per process: safe under pytest-xdist).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

LOG_DIR_ENV = "SANDBOX_REQUEST_LOG_DIR"
ACTIVITY_HEADER = "x-warroom-activity"
"""Sent by warroom's Kubernetes gateway from inside an activity: the activity's type name."""

_VERBS = {"GET": "get", "HEAD": "get", "POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}


@dataclass(frozen=True, order=True)
class Attributes:
    """One resource request as RBAC authorizes it. `namespace` is "" for a cluster-scoped resource
    or a request across all namespaces; `resource` carries the subresource ("pods/log")."""

    verb: str
    group: str
    resource: str
    namespace: str = ""
    name: str = ""
    activity: str = ""  # who sent it, when warroom's gateway did (ACTIVITY_HEADER)

    @property
    def permission(self) -> tuple[str, str, str]:
        return (self.group, self.resource, self.verb)

    def __str__(self) -> str:
        where = f" in {self.namespace}" if self.namespace else " (cluster-wide)"
        return f"{self.verb} {self.resource}{'.' + self.group if self.group else ''}{where}"


def attributes(method: str, path: str, watch: bool = False, activity: str = "") -> Attributes | None:
    """The request's RBAC attributes, or None for a non-resource request (discovery, /version, ...)."""
    parts = [p for p in path.split("/") if p]
    if parts[:1] == ["api"] and len(parts) >= 3:
        group, rest = "", parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 4:
        group, rest = parts[1], parts[3:]
    else:
        return None
    namespace = ""
    if rest[0] == "namespaces" and len(rest) >= 3:  # /namespaces/{ns}/{resource}...
        namespace, rest = rest[1], rest[2:]
    elif rest[0] == "namespaces" and len(rest) == 2:  # the Namespace object itself
        namespace = rest[1]
    resource, name = rest[0], rest[1] if len(rest) > 1 else ""
    if len(rest) > 2:
        resource = f"{resource}/{rest[2]}"
    verb = _VERBS.get(method.upper(), method.lower())
    if verb == "get" and not name:
        verb = "watch" if watch else "list"
    elif verb == "get" and watch:
        verb = "watch"
    elif verb == "delete" and not name:
        verb = "deletecollection"
    return Attributes(verb, group, resource, namespace, name, activity)


class RequestLog:
    """Appends each resource request's attributes to this process's file under LOG_DIR_ENV."""

    def __init__(self, directory: str | Path) -> None:
        self.path = Path(directory) / f"requests-{os.getpid()}.jsonl"
        self._lock = threading.Lock()

    @classmethod
    def from_env(cls) -> RequestLog | None:
        directory = os.environ.get(LOG_DIR_ENV)
        return cls(directory) if directory else None

    def append(self, attrs: Attributes) -> None:
        line = json.dumps(asdict(attrs), separators=(",", ":")) + "\n"
        with self._lock, self.path.open("a", encoding="utf-8") as f:
            f.write(line)


def read_logs(directory: str | Path) -> Iterator[Attributes]:
    """Every request recorded under `directory`, by every process."""
    for path in sorted(Path(directory).glob("requests-*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                yield Attributes(**json.loads(line))


def from_activities(requests: Iterable[Attributes]) -> list[Attributes]:
    """Only the requests warroom's activities sent (test set-up and kubectl are not the worker)."""
    return [r for r in requests if r.activity]
