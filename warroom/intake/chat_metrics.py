"""`warroom_chat_requests_total{platform,kind,outcome}` on the intake's own registry.

Both chat adapters count into one counter, so it is made once per registry here (a second
`Counter` of the same name on a registry is an error). The adapters find the registry through
the app serving the request (`app.state.intake.metrics.registry`); an app without one counts
nothing.
"""

from __future__ import annotations

from typing import Any
from weakref import WeakKeyDictionary

from prometheus_client import CollectorRegistry, Counter

_COUNTERS: WeakKeyDictionary[CollectorRegistry, Counter] = WeakKeyDictionary()


def chat_requests(registry: CollectorRegistry) -> Counter:
    """The counter on `registry`, made on first use."""
    counter = _COUNTERS.get(registry)
    if counter is None:
        counter = Counter(
            "warroom_chat_requests",
            "Chat requests by platform, endpoint and outcome (accepted, replay, or why refused)",
            ["platform", "kind", "outcome"],
            registry=registry,
        )
        _COUNTERS[registry] = counter
    return counter


def count(app: Any, platform: str, kind: str, outcome: str) -> None:
    """Count one request on `app`'s intake registry, if it has one."""
    registry = getattr(getattr(getattr(getattr(app, "state", None), "intake", None), "metrics", None), "registry", None)
    if isinstance(registry, CollectorRegistry):
        chat_requests(registry).labels(platform=platform, kind=kind, outcome=outcome).inc()
