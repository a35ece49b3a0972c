"""REST routing for the emulator, independent of the HTTP server: a Request in, a Response out.

Paths, query parameters, content negotiation (JSON, or a Table when kubectl asks `as=Table`), watch
streams and Status error bodies follow the real kube-apiserver.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from sandbox.cluster import nodes
from sandbox.cluster.authz import ACTIVITY_HEADER, Attributes, RequestLog, attributes
from sandbox.cluster.cluster import Cluster
from sandbox.cluster.patch import APPLY_PATCH, JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH
from sandbox.cluster.resources import ALL, BY_PATH, PODS, ResourceType, group_versions
from sandbox.cluster.selectors import fields_match, labels_match, parse_field_selector, parse_label_selector
from sandbox.cluster.tables import table
from sandbox.cluster.util import ApiError, bad_request, status_body

VERSION = {
    "major": "1",
    "minor": "32",
    "gitVersion": "v1.32.0-sandbox",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2024-12-11T00:00:00Z",
    "goVersion": "go1.23.3",
    "compiler": "gc",
    "platform": "linux/amd64",
}
_WATCH_IDLE = 0.5  # seconds between liveness checks of an idle watch


@dataclass
class Request:
    method: str
    path: str
    query: Mapping[str, list[str]]
    headers: Mapping[str, str]  # lower-case names
    body: bytes = b""

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else None

    def flag(self, name: str) -> bool:
        return (self.param(name) or "").lower() in ("true", "1")

    def int_param(self, name: str) -> int | None:
        value = self.param(name)
        if value in (None, ""):
            return None
        try:
            return int(value)
        except ValueError as exc:
            raise bad_request(f"invalid value for {name}: {value!r}") from exc


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    stream: Iterator[bytes] | None = None
    headers: dict[str, str] = field(default_factory=dict)


def _json(obj: Any, status: int = 200) -> Response:
    return Response(status, json.dumps(obj, separators=(",", ":")).encode())


def _error(err: ApiError) -> Response:
    return _json(err.body(), err.code)


def _table_version(accept: str) -> str | None:
    for item in accept.split(","):
        params = dict(p.strip().split("=", 1) for p in item.split(";")[1:] if "=" in p)
        if params.get("as") == "Table" and params.get("g", "meta.k8s.io") == "meta.k8s.io":
            return params.get("v", "v1")
    return None


@dataclass
class Fault:
    """Answer matching requests with an error status instead (tests of retry handling), or with
    `status=None` the real answer held back `delay` seconds (a slow apiserver; a reply a test can
    kill the client before it arrives)."""

    status: int | None
    method: str | None = None
    path: str | None = None  # regular expression searched in the path
    times: int = 1
    retry_after: int | None = None
    lost_response: bool = False  # apply the request, then answer with the error (a reply lost on the way)
    delay: float = 0.0

    def matches(self, req: Request) -> bool:
        return (
            self.times > 0
            and (self.method is None or self.method == req.method)
            and (self.path is None or re.search(self.path, req.path) is not None)
        )


_REASONS = {429: "TooManyRequests", 500: "InternalError", 503: "ServiceUnavailable", 504: "Timeout"}


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    query: str
    content_type: str
    body: Any
    at: float = field(default_factory=time.monotonic, compare=False)  # arrival (time.monotonic), for benchmarks
    attributes: Attributes | None = field(default=None, compare=False)  # as RBAC sees it; None: non-resource


class Api:
    def __init__(self, cluster: Cluster, token: str | None = None) -> None:
        self.cluster = cluster
        self.token = token
        self.address = "127.0.0.1:0"
        self.faults: list[Fault] = []
        self.recorded: list[Recorded] = []
        self.log = RequestLog.from_env()

    def handle(self, req: Request) -> Response:
        self._record(req)
        try:
            if (
                self.token
                and req.headers.get("authorization") != f"Bearer {self.token}"
                and req.path not in ("/healthz", "/livez", "/readyz")
            ):
                return _json(status_body(401, "Unauthorized", "Unauthorized"), 401)
            for fault in self.faults:
                if fault.matches(req):
                    fault.times -= 1
                    if fault.status is None:
                        response = self._route(req)
                        time.sleep(fault.delay)
                        return response
                    if fault.lost_response:
                        self._route(req)
                    response = _json(
                        status_body(
                            fault.status, _REASONS.get(fault.status, "InternalError"), f"injected fault: {fault.status}"
                        ),
                        fault.status,
                    )
                    if fault.retry_after is not None:
                        response.headers["Retry-After"] = str(fault.retry_after)
                    time.sleep(fault.delay)
                    return response
            return self._route(req)
        except ApiError as err:
            return _error(err)

    def _record(self, req: Request) -> None:
        arrived = time.monotonic()
        body: Any = None
        if req.body:
            try:
                body = json.loads(req.body)
            except ValueError:
                body = req.body.decode("utf-8", "replace")
        query = "&".join(f"{k}={v}" for k, values in req.query.items() for v in values)
        attrs = attributes(req.method, req.path, req.flag("watch"), req.headers.get(ACTIVITY_HEADER, ""))
        self.recorded.append(
            Recorded(req.method, req.path, query, req.headers.get("content-type", ""), body, arrived, attrs)
        )
        if attrs is not None and self.log is not None:
            self.log.append(attrs)

    # --- routing -------------------------------------------------------------------------

    def _route(self, req: Request) -> Response:
        path = req.path.rstrip("/") or "/"
        if path in ("/healthz", "/livez", "/readyz"):
            return Response(200, b"ok", "text/plain; charset=utf-8")
        if path == "/version":
            return _json(VERSION)
        if path == "/api":
            return _json(
                {
                    "kind": "APIVersions",
                    "versions": ["v1"],
                    "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": self.address}],
                }
            )
        if path == "/apis":
            return _json(
                {
                    "kind": "APIGroupList",
                    "apiVersion": "v1",
                    "groups": [self._group(g, vs) for g, vs in group_versions().items()] + [nodes.discovery_group()],
                }
            )
        parts = path.strip("/").split("/")
        if parts[:2] == ["apis", nodes.GROUP]:
            if req.method != "GET":
                raise ApiError(
                    405, "MethodNotAllowed", "the server does not allow this method on the requested resource"
                )
            c = self.cluster
            return _json(nodes.metrics(c.scenario, c.store, c.clock(), parts[1:], req.param("labelSelector")))
        if parts[0] == "api" and len(parts) >= 2:
            group, version, rest = "", parts[1], parts[2:]
        elif parts[0] == "apis" and len(parts) >= 2:
            if len(parts) == 2:
                versions = group_versions().get(parts[1])
                if not versions:
                    raise ApiError(404, "NotFound", "the server could not find the requested resource")
                return _json({"kind": "APIGroup", "apiVersion": "v1", **self._group(parts[1], versions)})
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if not rest:
            resources = [e for r in ALL if (r.group, r.version) == (group, version) for e in r.discovery()]
            if not resources:
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
            gv = f"{group}/{version}" if group else version
            return _json({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources})
        namespace = None
        if rest[0] == "namespaces" and len(rest) >= 3 and (group, version, rest[2]) in BY_PATH:
            namespace, rest = rest[1], rest[2:]
        r = BY_PATH.get((group, version, rest[0]))
        if r is None or len(rest) > 3 or (namespace is not None and not r.namespaced):
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        if r.namespaced and name is not None and namespace is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        return self._resource(req, r, namespace, name, sub)

    @staticmethod
    def _group(name: str, versions: list[str]) -> dict[str, Any]:
        entries = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
        return {"name": name, "versions": entries, "preferredVersion": entries[0]}

    # --- resources -----------------------------------------------------------------------

    def _resource(
        self, req: Request, r: ResourceType, namespace: str | None, name: str | None, sub: str | None
    ) -> Response:
        c = self.cluster
        dry_run = self._dry_run(req)
        ns = namespace or ""
        if name is None:
            if req.method == "GET":
                return self._watch(req, r, namespace) if req.flag("watch") else self._list(req, r, namespace)
            if req.method == "POST":
                if r.namespaced and namespace is None:
                    raise ApiError(
                        405, "MethodNotAllowed", "the server does not allow this method on the requested resource"
                    )
                return _json(c.create(r, ns, self._body(req), dry_run), 201)
            raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
        if sub == "log" and r is PODS and req.method == "GET":
            text = c.logs(
                ns,
                name,
                req.param("container"),
                req.flag("previous"),
                req.int_param("tailLines"),
                req.int_param("sinceSeconds"),
                req.flag("timestamps"),
                req.int_param("limitBytes"),
            )
            return Response(200, text.encode(), "text/plain")
        if sub == "scale" and r.kind in ("Deployment", "ReplicaSet"):
            if req.method == "GET":
                return _json(c.scale(r, ns, name))
            if req.method == "PUT":
                return _json(c.write_scale(r, ns, name, self._body(req), dry_run))
            if req.method == "PATCH":
                return _json(c.patch_scale(r, ns, name, self._patch_type(req), self._body(req), dry_run))
        elif sub in (None, "status"):
            if req.method == "GET":
                return _json(c.get(r, ns, name))
            if req.method == "PUT":
                return _json(c.replace(r, ns, name, self._body(req), sub, dry_run))
            if req.method == "PATCH":
                return _json(c.patch(r, ns, name, self._patch_type(req), self._body(req), sub, dry_run))
            if req.method == "DELETE" and sub is None:
                return _json(c.delete(r, ns, name, dry_run))
        else:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")

    @staticmethod
    def _dry_run(req: Request) -> bool:
        values = req.query.get("dryRun") or []
        for value in values:
            if value != "All":
                raise bad_request(f'Invalid dry run value: "{value}": supported values: "All"')
        return bool(values)

    @staticmethod
    def _body(req: Request) -> Any:
        ctype = req.headers.get("content-type", "application/json").split(";")[0].strip()
        if "protobuf" in ctype:
            raise ApiError(
                415,
                "UnsupportedMediaType",
                f"the body of the request was in an unknown format - "
                f"accepted media types include: application/json, {JSON_PATCH}, {MERGE_PATCH}",
            )
        try:
            return json.loads(req.body or b"null")
        except ValueError as exc:
            raise bad_request(f"error decoding request body: {exc}") from exc

    @staticmethod
    def _patch_type(req: Request) -> str:
        ctype = req.headers.get("content-type", "").split(";")[0].strip()
        if ctype == APPLY_PATCH:
            raise ApiError(415, "UnsupportedMediaType", "server-side apply is not emulated by the sandbox cluster")
        if ctype not in (JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH):
            raise ApiError(
                415,
                "UnsupportedMediaType",
                f"the body of the request was in an unknown format - accepted "
                f"media types include: {JSON_PATCH}, {MERGE_PATCH}, {STRATEGIC_MERGE_PATCH}, {APPLY_PATCH}",
            )
        return ctype

    def _list(self, req: Request, r: ResourceType, namespace: str | None) -> Response:
        items, rv = self.cluster.list(r, namespace, req.param("labelSelector"), req.param("fieldSelector"))
        start = int(req.param("continue") or 0) if (req.param("continue") or "0").isdigit() else 0
        limit = req.int_param("limit")
        page = items[start : start + limit] if limit else items[start:]
        meta: dict[str, Any] = {"resourceVersion": rv}
        if limit and start + limit < len(items):
            meta.update({"continue": str(start + limit), "remainingItemCount": len(items) - start - limit})
        table_version = _table_version(req.headers.get("accept", ""))
        if table_version:
            body = table(
                r.kind, page, self.cluster.clock(), rv, req.param("includeObject") or "Metadata", table_version
            )
            body["metadata"].update({k: v for k, v in meta.items() if k != "resourceVersion"})
            return _json(body)
        for item in page:  # items of a typed list carry no kind/apiVersion, as on a real server
            item.pop("kind", None)
            item.pop("apiVersion", None)
        return _json({"kind": f"{r.kind}List", "apiVersion": r.api_version, "metadata": meta, "items": page})

    # --- watch ---------------------------------------------------------------------------

    def _watch(self, req: Request, r: ResourceType, namespace: str | None) -> Response:
        labels = parse_label_selector(req.param("labelSelector"))
        fields = parse_field_selector(req.param("fieldSelector"), r.field_getters)
        store = self.cluster.store
        timeout = req.int_param("timeoutSeconds") or 1800
        rv_param = req.param("resourceVersion")
        initial_events = req.flag("sendInitialEvents")

        def matches(obj: dict[str, Any] | None) -> bool:
            if obj is None:
                return False
            if namespace is not None and r.namespaced and obj["metadata"].get("namespace") != namespace:
                return False
            return labels_match(labels, obj["metadata"].get("labels")) and fields_match(fields, obj, r.field_getters)

        with store.lock:
            if rv_param in (None, "", "0") or initial_events:
                initial = [o for o in store.list(r, namespace) if matches(o)]
                start = store.rv
            else:
                start = int(rv_param) if rv_param.isdigit() else 0
                store.changes_after(start)  # 410 before the stream starts
                initial = []

        def line(type_: str, obj: dict[str, Any]) -> bytes:
            return json.dumps({"type": type_, "object": obj}, separators=(",", ":")).encode() + b"\n"

        def events() -> Iterator[bytes]:
            clock = self.cluster.clock
            deadline = clock() + timeout
            for obj in initial:
                yield line("ADDED", obj)
            if initial_events:
                yield line(
                    "BOOKMARK",
                    {
                        "kind": r.kind,
                        "apiVersion": r.api_version,
                        "metadata": {
                            "resourceVersion": str(start),
                            "annotations": {"k8s.io/initial-events-end": "true"},
                        },
                    },
                )
            last = start
            while clock() < deadline and not store.closed:
                with store.lock:
                    try:
                        changes = store.changes_after(last)
                    except ApiError as err:
                        yield line("ERROR", err.body())
                        return
                    if not changes:
                        store.changed.wait(timeout=min(_WATCH_IDLE, max(0.0, deadline - clock())))
                        changes = store.changes_after(last)
                out = []
                for change in changes:
                    last = change.rv
                    if change.resource != r.key:
                        continue
                    was, now = matches(change.old), change.type != "DELETED" and matches(change.obj)
                    if now:
                        out.append(line("ADDED" if not was else "MODIFIED", change.obj))
                    elif was:
                        out.append(line("DELETED", change.obj))
                yield b"".join(out)  # b"" lets the server check that the client is still there

        return Response(200, stream=events())
