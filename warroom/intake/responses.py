"""`warroom_intake_responses_total{status_class}`: every intake answer by class (2xx … 5xx), for the
"intake 5xx" alert (deploy/prometheus-rules.yml). An exception no handler caught is a 5xx too.

ASGI middleware over the whole app (alerts, chat, /healthz, /metrics), counting into the app's
own registry (`app.state.intake.metrics.registry`), as the intake's other metrics do.
"""

from __future__ import annotations

from typing import Any
from weakref import WeakKeyDictionary

from prometheus_client import CollectorRegistry, Counter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

STATUS_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")
_COUNTERS: WeakKeyDictionary[CollectorRegistry, Counter] = WeakKeyDictionary()


def responses(registry: CollectorRegistry) -> Counter:
    """The counter on `registry`, made (every class at 0) on first use."""
    counter = _COUNTERS.get(registry)
    if counter is None:
        counter = Counter(
            "warroom_intake_responses", "Intake HTTP responses by status class", ["status_class"], registry=registry
        )
        for status_class in STATUS_CLASSES:
            counter.labels(status_class=status_class)
        _COUNTERS[registry] = counter
    return counter


class CountResponses:
    """Counts each HTTP response's status class on `registry`."""

    def __init__(self, app: ASGIApp, registry: CollectorRegistry) -> None:
        self.app = app
        self.counter = responses(registry)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status: list[int] = []

        async def counting(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(int(message["status"]))
            await send(message)

        try:
            await self.app(scope, receive, counting)
        finally:  # an exception after (Starlette's 500) or before any response is a 5xx
            self.counter.labels(status_class=f"{min(status[0] // 100, 5)}xx" if status else "5xx").inc()


def count_responses(app: Any) -> None:
    """Mount the middleware on a FastAPI app whose intake already has its metrics."""
    app.add_middleware(CountResponses, registry=app.state.intake.metrics.registry)
