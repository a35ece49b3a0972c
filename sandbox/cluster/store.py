"""The object store: what etcd plus the generic registry do for the emulated resources.

Every write bumps a cluster-wide resourceVersion and lands in a bounded change log, which is what
watches replay from. All access holds one re-entrant lock; handlers and controllers are short.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

from sandbox.cluster.resources import ALL, ResourceType
from sandbox.cluster.util import ApiError, deep, new_uid, not_found, rfc3339

_LOG_SIZE = 10_000


@dataclass(frozen=True)
class Change:
    rv: int
    type: str  # ADDED, MODIFIED, DELETED
    resource: str
    obj: dict[str, Any]
    old: dict[str, Any] | None


@dataclass
class Snapshot:
    rv: int
    objects: dict[str, dict[tuple[str, str], dict[str, Any]]]
    created: dict[tuple[str, str, str], float]
    counter: int


class Store:
    def __init__(self, seed: int = 0) -> None:
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.seed = seed
        self.rv = 1000
        self.counter = 0
        self.objects: dict[str, dict[tuple[str, str], dict[str, Any]]] = {r.key: {} for r in ALL}
        self.created: dict[tuple[str, str, str], float] = {}
        self.log: deque[Change] = deque(maxlen=_LOG_SIZE)
        self.closed = False

    # --- reads ---------------------------------------------------------------------------

    def get(self, r: ResourceType, namespace: str, name: str) -> dict[str, Any] | None:
        with self.lock:
            obj = self.objects[r.key].get((namespace if r.namespaced else "", name))
            return deep(obj) if obj is not None else None

    def must_get(self, r: ResourceType, namespace: str, name: str) -> dict[str, Any]:
        obj = self.get(r, namespace, name)
        if obj is None:
            raise not_found(r.plural, name, r.group)
        return obj

    def list(self, r: ResourceType, namespace: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            items = [
                obj
                for (ns, _), obj in sorted(self.objects[r.key].items())
                if namespace is None or not r.namespaced or ns == namespace
            ]
            return deep(items)

    def view(self, r: ResourceType, namespace: str | None = None) -> list[dict[str, Any]]:
        """The stored objects themselves, for controllers: read them, never mutate them (the store
        replaces objects on write, so a view stays a consistent snapshot)."""
        with self.lock:
            return [
                obj
                for (ns, _), obj in sorted(self.objects[r.key].items())
                if namespace is None or not r.namespaced or ns == namespace
            ]

    def created_at(self, r: ResourceType, obj: dict[str, Any]) -> float:
        meta = obj["metadata"]
        return self.created[(r.key, meta.get("namespace", ""), meta["name"])]

    # --- writes --------------------------------------------------------------------------

    def _record(self, r: ResourceType, type_: str, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        # Stored objects are never mutated in place, so the log can share them.
        self.log.append(Change(self.rv, type_, r.key, obj, old))
        self.changed.notify_all()

    def create(self, r: ResourceType, obj: dict[str, Any], now: float, dry_run: bool = False) -> dict[str, Any]:
        with self.lock:
            meta = obj.setdefault("metadata", {})
            namespace = meta.get("namespace", "") if r.namespaced else ""
            key = (namespace, meta["name"])
            if key in self.objects[r.key]:
                raise ApiError(
                    409,
                    "AlreadyExists",
                    f'{r.plural}{"." + r.group if r.group else ""} "{meta["name"]}" already exists',
                    {"name": meta["name"], "group": r.group, "kind": r.plural},
                )
            if r.namespaced and (NAMESPACE_KEY, namespace) not in self._namespace_keys():
                raise ApiError(
                    404, "NotFound", f'namespaces "{namespace}" not found', {"name": namespace, "kind": "namespaces"}
                )
            obj["kind"], obj["apiVersion"] = r.kind, r.api_version
            self.counter += 1
            meta["uid"] = new_uid(f"{self.seed}/{r.key}/{namespace}/{meta['name']}/{self.counter}")
            meta["creationTimestamp"] = rfc3339(now)
            if r.kind in ("Deployment", "ReplicaSet"):
                meta["generation"] = 1
            if dry_run:
                meta["resourceVersion"] = str(self.rv)
                return deep(obj)
            self.rv += 1
            meta["resourceVersion"] = str(self.rv)
            self.objects[r.key][key] = deep(obj)
            self.created[(r.key, namespace, meta["name"])] = now
            self._record(r, "ADDED", obj, None)
            return deep(obj)

    def update(self, r: ResourceType, obj: dict[str, Any], dry_run: bool = False) -> dict[str, Any]:
        """Replace an object; a stale resourceVersion is a 409 as on a real server."""
        with self.lock:
            obj = deep(obj)
            meta = obj["metadata"]
            key = (meta.get("namespace", "") if r.namespaced else "", meta["name"])
            old = self.objects[r.key].get(key)
            if old is None:
                raise not_found(r.plural, meta["name"], r.group)
            sent = meta.get("resourceVersion")
            if sent and sent != old["metadata"]["resourceVersion"]:
                raise ApiError(
                    409,
                    "Conflict",
                    f"Operation cannot be fulfilled on {r.plural}{'.' + r.group if r.group else ''} "
                    f'"{meta["name"]}": the object has been modified; please apply your changes to the latest '
                    "version and try again",
                    {"name": meta["name"], "group": r.group, "kind": r.plural},
                )
            for immutable in ("uid", "creationTimestamp", "namespace", "name"):
                if immutable in old["metadata"]:
                    meta[immutable] = old["metadata"][immutable]
            obj["kind"], obj["apiVersion"] = r.kind, r.api_version
            if "generation" in old["metadata"]:
                meta["generation"] = old["metadata"]["generation"] + (obj.get("spec") != old.get("spec"))
            meta["resourceVersion"] = old["metadata"]["resourceVersion"]
            if obj == old or dry_run:
                return deep(obj)
            self.rv += 1
            meta["resourceVersion"] = str(self.rv)
            self.objects[r.key][key] = obj
            self._record(r, "MODIFIED", obj, old)
            return deep(obj)

    def delete(self, r: ResourceType, namespace: str, name: str, dry_run: bool = False) -> dict[str, Any]:
        with self.lock:
            key = (namespace if r.namespaced else "", name)
            old = self.objects[r.key].get(key)
            if old is None:
                raise not_found(r.plural, name, r.group)
            if dry_run:
                return deep(old)
            del self.objects[r.key][key]
            self.created.pop((r.key, key[0], name), None)
            self.rv += 1
            gone = deep(old)
            gone["metadata"]["resourceVersion"] = str(self.rv)
            self._record(r, "DELETED", gone, old)
            return gone

    def _namespace_keys(self) -> set[tuple[str, str]]:
        return {(NAMESPACE_KEY, ns) for (_, ns) in self.objects["namespaces"]}

    # --- watch ---------------------------------------------------------------------------

    def changes_after(self, rv: int) -> list[Change]:
        """Changes newer than `rv`; 410 Gone when the log no longer reaches back that far."""
        with self.lock:
            if self.log and rv < self.log[0].rv - 1 and len(self.log) == self.log.maxlen:
                raise ApiError(410, "Expired", f"too old resource version: {rv} ({self.log[0].rv - 1})")
            return [c for c in self.log if c.rv > rv]

    def close(self) -> None:
        with self.lock:
            self.closed = True
            self.changed.notify_all()

    # --- state reset (parity tests start two clients from the same state) ---------------

    def snapshot(self) -> Snapshot:
        with self.lock:
            return Snapshot(self.rv, deep(self.objects), dict(self.created), self.counter)

    def restore(self, snap: Snapshot) -> None:
        with self.lock:
            self.objects, self.created, self.counter = deep(snap.objects), dict(snap.created), snap.counter
            # resourceVersions only grow: watchers see a restore as a burst of changes.
            self.rv = max(self.rv, snap.rv) + 1
            self.log.clear()
            self.changed.notify_all()


NAMESPACE_KEY = "namespaces"
