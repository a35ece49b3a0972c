"""What a Kubernetes API call's span says: the client method, the verb and resource kind, the
namespace and object name, whether it was a dry run. Never a body, a selector's values or a token."""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable, Mapping
from typing import Any

_METHOD = re.compile(r"(?P<verb>[a-z]+)_(?:namespaced_)?(?P<kind>.+?)(?:_for_all_namespaces)?$")


_SUBRESOURCES = ("scale", "log", "status", "eviction", "binding", "ephemeralcontainers")


def _kind(snake: str) -> str:
    """`replica_set` → `replicaset`, `deployment_scale` → `deployment/scale` (a subresource)."""
    parts = snake.split("_")
    if len(parts) > 1 and parts[-1] in _SUBRESOURCES:
        return "".join(parts[:-1]) + "/" + parts[-1]
    return "".join(parts)


@functools.cache
def _signature(fn: Callable[..., Any]) -> inspect.Signature:
    return inspect.signature(fn)


def api_call_span(
    fn: Callable[..., Any], args: tuple[Any, ...], kwargs: Mapping[str, Any]
) -> tuple[str, dict[str, Any]]:
    """(span name, attributes) for `fn(*args, **kwargs)`, a method of the official client's APIs."""
    method = getattr(fn, "__name__", "call")
    match = _METHOD.fullmatch(method)
    verb, kind = (match["verb"], match["kind"]) if match else (method, "unknown")
    try:  # the generated methods name their path parameters: name, namespace, plural
        bound = _signature(getattr(fn, "__func__", fn)).bind_partial(None, *args).arguments
    except TypeError:
        bound = {}
    if kind == "custom_object" and isinstance(bound.get("plural"), str):
        kind = f"{bound.get('group')}/{bound['plural']}"
    else:
        kind = _kind(kind)
    attributes: dict[str, Any] = {
        "k8s.api.method": method,
        "k8s.api.verb": verb,
        "k8s.resource.kind": kind,
        "k8s.namespace.name": bound.get("namespace"),
        "k8s.object.name": bound.get("name"),
        "k8s.dry_run": bool(kwargs.get("dry_run")),
    }
    return f"kubernetes {verb} {kind}", attributes
