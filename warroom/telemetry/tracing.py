"""OpenTelemetry traces: intake → update → workflow → activity → Kubernetes or Ansible, as one trace.

Off by default. `setup_from_env` reads only the standard variables: OTEL_TRACES_EXPORTER (`otlp`,
`console`, `none`), OTEL_EXPORTER_OTLP_ENDPOINT / OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (either turns
OTLP over HTTP on), OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, OTEL_SDK_DISABLED, and whatever the
SDK itself reads (OTEL_BSP_*, OTEL_TRACES_SAMPLER, OTEL_EXPORTER_OTLP_HEADERS, ...). With none of
them set there is no tracer provider, no Temporal interceptor, and `span` costs one global read.
`turn_on` is the benchmark's switch; `install_in_memory` the tests'.

The provider is warroom's own, never the process-global one (which can be set only once): the
`TracingInterceptor` gets its tracer from it, and so do `span` (activities) and `TracingMiddleware`
(the intake). Workflow code never imports this module (import-linter); the SDK's interceptor makes
the workflow spans, and none on replay.

Span attributes carry names (workflow ids, resource kinds, namespaces, playbooks, outcomes), never
values that could be secret: no headers, no request bodies, no extravars' values, no exception
messages (they may quote a server's answer), only exception type names.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from types import FrameType
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from warroom.errors import ConfigInvalid

if TYPE_CHECKING:  # the SDK and the interceptor load only when traces are turned on (CLI start-up)
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from temporalio.contrib.opentelemetry import TracingInterceptor

TRACER_NAME = "warroom"
EXPORTERS = ("otlp", "console", "none")
OUTCOME = "warroom.outcome"
"""The attribute every warroom span ends with: `ok`, or the type name of what was raised."""


@dataclass
class Tracing:
    """An installed provider and the interceptor a Temporal client (and so its worker) takes."""

    provider: TracerProvider
    interceptor: TracingInterceptor
    tracer: trace.Tracer
    exporters: list[str] = field(default_factory=list)

    @property
    def interceptors(self) -> list[TracingInterceptor]:
        return [self.interceptor]


_active: Tracing | None = None
_lock = threading.Lock()


def active() -> Tracing | None:
    """The installed tracing, or None when traces are off."""
    return _active


def interceptors() -> list[TracingInterceptor]:
    """For `Client.connect(interceptors=...)`: the tracing interceptor, or nothing when traces are off."""
    tracing = _active
    return tracing.interceptors if tracing is not None else []


def exporters_from_env(env: Mapping[str, str] | None = None) -> list[str]:
    """The exporters OTEL_* asks for (empty: traces off). Raises ConfigInvalid naming the variable."""
    env = os.environ if env is None else env
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return []
    named = [e.strip().lower() for e in env.get("OTEL_TRACES_EXPORTER", "").split(",") if e.strip()]
    unknown = [e for e in named if e not in EXPORTERS]
    if unknown:
        raise ConfigInvalid(f"OTEL_TRACES_EXPORTER: unknown exporter {unknown[0]!r}; one of {', '.join(EXPORTERS)}")
    if not named:
        endpoint = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        named = ["otlp"] if endpoint else []
    if "none" in named:
        return []
    if "otlp" in named:
        for var in ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"):
            protocol = env.get(var, "").strip().lower()
            if protocol and protocol != "http/protobuf":
                raise ConfigInvalid(f"{var}: only http/protobuf is installed, not {protocol!r}")
            if protocol:
                break
    return named


def _exporter(name: str) -> SpanExporter:
    """The SDK's exporter for `name`; each reads its own OTEL_EXPORTER_* variables."""
    if name == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()


def setup_from_env(service: str, env: Mapping[str, str] | None = None) -> Tracing | None:
    """Install tracing when OTEL_* asks for it (see the module's doc); None, and nothing installed,
    otherwise. Installed already (the stack runs the worker and the intake in one process): that one."""
    names = exporters_from_env(env)
    if _active is not None or not names:
        return _active
    return install([_exporter(n) for n in names], service=service, names=names)


def install(
    exporters: list[SpanExporter], *, service: str = "warroom", batch: bool = True, names: list[str] | None = None
) -> Tracing:
    """Install a provider exporting to `exporters` (batched unless `batch=False`) and its interceptor,
    replacing (and shutting down) any installed before. The benchmark and the tests call this."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
    from temporalio.contrib.opentelemetry import TracingInterceptor

    global _active
    provider = TracerProvider(resource=_resource(service), shutdown_on_exit=False)
    for exporter in exporters:
        provider.add_span_processor(BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter))
    interceptor = TracingInterceptor(provider.get_tracer("temporalio"))
    tracing = Tracing(provider, interceptor, provider.get_tracer(TRACER_NAME), names or [])
    with _lock:
        previous, _active = _active, tracing
    if previous is not None:
        previous.provider.shutdown()
    return tracing


def turn_on(otlp_endpoint: str | None = None, service: str = "warroom-bench") -> list[TracingInterceptor]:
    """Tracing on, as production batches it, for a benchmark's traced half: spans exported over
    OTLP/HTTP to `otlp_endpoint` (…/v1/traces is appended), or kept in memory when None. Returns the
    interceptors to connect with (`Client.connect(..., interceptors=...)`); `shutdown()` turns it off."""
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter: SpanExporter
    if otlp_endpoint is None:
        exporter = InMemorySpanExporter()
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter(endpoint=otlp_endpoint.rstrip("/") + "/v1/traces")
    return install([exporter], service=service, names=["otlp" if otlp_endpoint else "memory"]).interceptors


def install_in_memory(service: str = "warroom-test") -> tuple[Tracing, InMemorySpanExporter]:
    """For tests: every span, as it ends, in an `InMemorySpanExporter` (`get_finished_spans()`)."""
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    return install([exporter], service=service, batch=False, names=["memory"]), exporter


def shutdown() -> None:
    """Flush what is buffered and uninstall: the worker and the intake call it on their way out."""
    global _active
    with _lock:
        tracing, _active = _active, None
    if tracing is not None:
        tracing.provider.shutdown()


@contextlib.contextmanager
def traced(service: str, env: Mapping[str, str] | None = None) -> Iterator[Tracing | None]:
    """Tracing from OTEL_* for the block, flushed and uninstalled after it (and before a SIGTERM
    ends the process, which runs no `finally`). The block that installed it owns it: an inner
    `traced` (the stack's worker inside the stack) shares it and leaves it alone."""
    if _active is not None:
        yield _active
        return
    tracing = setup_from_env(service, env)
    if tracing is None:
        yield None
        return
    restore = _flush_on_sigterm()
    try:
        yield tracing
    finally:
        restore()
        shutdown()


def _flush_on_sigterm() -> Any:
    """Flush before the default SIGTERM ends the process; a no-op where another handler is set
    (uvicorn's, which returns through our `finally`) or off the main thread."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return lambda: None

    def flush_then_die(signum: int, frame: FrameType | None) -> None:
        tracing = _active
        if tracing is not None:
            tracing.provider.force_flush(5_000)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)

    signal.signal(signal.SIGTERM, flush_then_die)

    def restore() -> None:
        if signal.getsignal(signal.SIGTERM) is flush_then_die:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)

    return restore


def _resource(service: str) -> Resource:
    """OTEL_SERVICE_NAME (or service.name in OTEL_RESOURCE_ATTRIBUTES) wins; `service` otherwise."""
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource

    resource = Resource.create()
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: service}))
    return resource


@contextlib.contextmanager
def span(name: str, attributes: Mapping[str, Any] | None = None, kind: SpanKind = SpanKind.CLIENT) -> Iterator[Span]:
    """A child span of the current one (an activity's, the intake request's) for one call out of
    the process; ends with `warroom.outcome` (`ok` or the exception's type name). Off: a no-op span."""
    with described_span(lambda: (name, attributes or {}), kind) as current:
        yield current


@contextlib.contextmanager
def described_span(
    describe: Callable[[], tuple[str, Mapping[str, Any]]], kind: SpanKind = SpanKind.CLIENT
) -> Iterator[Span]:
    """`span`, its name and attributes made by `describe` only when traces are on."""
    tracing = _active
    if tracing is None:
        yield trace.INVALID_SPAN
        return
    name, attributes = describe()
    attrs = {k: v for k, v in attributes.items() if v is not None}
    with tracing.tracer.start_as_current_span(
        name, kind=kind, attributes=attrs, record_exception=False, set_status_on_exception=False
    ) as current:
        try:
            yield current
        except BaseException as exc:
            failed(current, exc)
            raise
        if OUTCOME not in (getattr(current, "attributes", None) or {}):
            current.set_attribute(OUTCOME, "ok")


def failed(current: Span, exc: BaseException) -> None:
    """Mark a span failed by the exception's type only: its message may quote a secret-bearing answer."""
    current.set_attribute(OUTCOME, type(exc).__name__)
    current.set_status(Status(StatusCode.ERROR, type(exc).__name__))


_PARENT = TraceContextTextMapPropagator()
PATH_LIMIT = 256
"""The most of a request's path a span keeps: senders choose it."""


class TracingMiddleware:
    """ASGI: one SERVER span per HTTP request, current while the app handles it, so the Temporal
    client's spans (update-with-start, update) are its children. Only `traceparent` is read from
    the request (never baggage or tracestate: a sender's data must not ride into workflow headers);
    attributes are the method, path, route and status, never headers or the query string."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        tracing = _active
        if tracing is None or scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        carrier = {
            k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers") or () if k == b"traceparent"
        }
        parent = _PARENT.extract(carrier) if carrier else otel_context.Context()
        method, path = str(scope.get("method", "")), str(scope.get("path", ""))[:PATH_LIMIT]
        status: list[int] = []

        async def send_status(message: dict[str, Any]) -> None:
            if message.get("type") == "http.response.start":
                status.append(int(message.get("status", 0)))
            await send(message)

        with tracing.tracer.start_as_current_span(
            method,  # the route, once routing has found one, joins the name (never the raw path)
            context=parent,
            kind=SpanKind.SERVER,
            attributes={"http.request.method": method, "url.path": path, "url.scheme": str(scope.get("scheme", ""))},
            record_exception=False,
            set_status_on_exception=False,
        ) as current:
            try:
                await self.app(scope, receive, send_status)
            except BaseException as exc:
                failed(current, exc)
                raise
            finally:
                _finish_request(current, method, getattr(scope.get("route"), "path", None), status)


def _finish_request(current: Span, method: str, route: str | None, status: list[int]) -> None:
    if route:
        current.set_attribute("http.route", route)
        current.update_name(f"{method} {route}")
    if not status:
        return  # raised before answering: `failed` has set the outcome
    current.set_attribute("http.response.status_code", status[0])
    if status[0] >= 500:
        current.set_status(Status(StatusCode.ERROR, f"HTTP {status[0]}"))
    current.set_attribute(OUTCOME, "ok" if status[0] < 400 else f"http_{status[0]}")
