"""core/v1 Events as the controllers and the kubelet record them, aggregated the way client-go's
recorder does: the same object, reason and message bump `count` and `lastTimestamp`."""

from __future__ import annotations

from typing import Any

from sandbox.cluster.resources import EVENTS, NAMESPACES
from sandbox.cluster.store import Store
from sandbox.cluster.util import rfc3339

MAX_EVENTS = 1000

_Key = tuple[str, str, str, str, str | None]


class Recorder:
    def __init__(self, store: Store, node: str) -> None:
        self.store = store
        self.node = node
        self._index: dict[_Key, tuple[str, str]] = {}

    def _existing(self, key: _Key) -> dict[str, Any] | None:
        where = self._index.get(key)
        event = self.store.get(EVENTS, *where) if where else None
        if event is not None and _key_of(event) == key:
            return event
        self._index.pop(key, None)
        return None

    def record(
        self,
        obj: dict[str, Any],
        type_: str,
        reason: str,
        message: str,
        now: float,
        *,
        component: str,
        field_path: str | None = None,
        count: int | None = None,
    ) -> None:
        meta = obj["metadata"]
        namespace = meta.get("namespace") or "default"
        key = (meta["uid"], reason, message, type_, field_path)
        with self.store.lock:
            event = self._existing(key)
            if event is not None:
                new_count = count if count is not None else event["count"] + 1
                if new_count == event["count"] and count is not None:
                    return
                event.update(count=new_count, lastTimestamp=rfc3339(now))
                self.store.update(EVENTS, event)
                return
            if not self.store.get(NAMESPACES, "", namespace):
                return
            involved = {
                "kind": obj["kind"],
                "namespace": namespace,
                "name": meta["name"],
                "uid": meta["uid"],
                "apiVersion": obj["apiVersion"],
                "resourceVersion": meta.get("resourceVersion", ""),
            }
            if field_path:
                involved["fieldPath"] = field_path
            host = {"host": self.node} if component == "kubelet" else {}
            event = {
                "metadata": {"name": self._name(namespace, meta["name"], now), "namespace": namespace},
                "involvedObject": involved,
                "reason": reason,
                "message": message,
                "source": {"component": component, **host},
                "firstTimestamp": rfc3339(now),
                "lastTimestamp": rfc3339(now),
                "count": count or 1,
                "type": type_,
                "eventTime": None,
                "reportingComponent": component,
                "reportingInstance": self.node if host else "",
            }
            created = self.store.create(EVENTS, event, now)
            self._index[key] = (namespace, created["metadata"]["name"])
            self._trim()

    def _name(self, namespace: str, name: str, now: float) -> str:
        stamp = int(now * 1e9)
        while self.store.get(EVENTS, namespace, f"{name}.{stamp:x}"):
            stamp += 1
        return f"{name}.{stamp:x}"

    def _trim(self) -> None:
        if len(self.store.objects[EVENTS.key]) <= MAX_EVENTS:
            return
        events = sorted(self.store.list(EVENTS), key=lambda e: e["lastTimestamp"])
        for old in events[: len(events) - MAX_EVENTS]:
            self.store.delete(EVENTS, old["metadata"]["namespace"], old["metadata"]["name"])


def _key_of(event: dict[str, Any]) -> _Key:
    involved = event["involvedObject"]
    return involved.get("uid", ""), event["reason"], event["message"], event["type"], involved.get("fieldPath")
