"""The intake HTTP app: one endpoint per alert source, /healthz, /metrics and the OpenAPI spec.

A request goes through the same gates in the same order, cheapest and least trusting first:

    size (413), arrival (408) → content type (415) → credentials / signature (401, 403)
    → JSON and schema (422) → allow-lists (422) → replay bounds (403) → Temporal (2xx once recorded, else 503)

Nothing before the last gate touches Temporal, so a forged, oversized or malformed request
changes nothing. Headers never travel further than auth.py: no secret reaches a workflow payload.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field, ValidationError

from warroom.http_framing import RejectAmbiguousFraming
from warroom.intake import auth, chat
from warroom.intake.bodies import Problem, read_body
from warroom.intake.metrics import IntakeMetrics
from warroom.intake.normalize import Defaults, Delivery, FieldError, PayloadInvalid
from warroom.intake.recorder import ClientFactory, KeyedGate, Prepared, Recorder, TemporalUnavailable
from warroom.intake.responses import count_responses
from warroom.intake.settings import IntakeSettings
from warroom.intake.sources import SOURCES, SourceSpec
from warroom.models import AlertReceipt
from warroom.runbook import load_runbook
from warroom.telemetry.tracing import TracingMiddleware

log = logging.getLogger("warroom.intake")


class IntakeResponse(BaseModel):
    """What a sender gets back once its alerts are in the incident's history."""

    accepted: int = Field(..., description="alerts recorded on the incident")
    incident_id: str | None = None
    workflow_id: str | None = None
    new_incident: bool = False
    alerts_received: int | None = Field(None, description="alerts the incident has received so far")
    phase: str | None = None
    ignored: str | None = Field(None, description="why nothing was recorded (not an alert, nothing to resolve)")
    duplicate: bool = Field(False, description="a signed delivery seen before; recorded the first time")


def _loc_text(loc: tuple[str | int, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "body"


def _invalid(errors: list[dict[str, Any]]) -> Problem:
    detail = [
        {"loc": ["body", *e["loc"]], "field": _loc_text(tuple(e["loc"])), "msg": e["msg"], "type": e["type"]}
        for e in errors
    ]
    return Problem(422, "invalid", detail)


def _is_json(content_type: str | None) -> bool:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


class Intake:
    """The request pipeline of one app (its settings, runbook, metrics and Temporal recorder)."""

    def __init__(self, settings: IntakeSettings, client_factory: ClientFactory) -> None:
        self.settings = settings
        self.runbook = load_runbook(settings.temporal.runbook)  # once: a bad runbook stops start-up
        self.metrics = IntakeMetrics()
        self.defaults = Defaults(default_service=settings.default_service)
        self.recorder = Recorder(
            client_factory,
            settings.temporal.task_queue,
            timeout=settings.temporal_timeout,
            closing_wait=settings.closing_wait,
            publish_search_attributes=settings.publish_search_attributes,
        )
        self.in_flight = KeyedGate(1)
        self.replays = {
            "pagerduty": auth.ReplayGuard(settings.pagerduty_max_event_age.total_seconds()),
            "grafana": auth.ReplayGuard(2 * settings.replay_window.total_seconds()),
        }

    async def handle(self, spec: SourceSpec, request: Request) -> Response:
        started = time.perf_counter()
        status = 500
        try:
            response = await self._handle(spec, request)
            status = response.status_code
            return response
        except Problem as problem:
            status = problem.status
            self.metrics.rejected.labels(source=spec.name, reason=problem.reason).inc()
            if problem.status < 500:
                log.info("%s: %d %s", spec.name, problem.status, problem.reason)
            body = {"detail": problem.detail}
            return JSONResponse(body, status_code=problem.status, headers=problem.headers)
        finally:
            self.metrics.latency.labels(source=spec.name, code=str(status)).observe(time.perf_counter() - started)

    async def _handle(self, spec: SourceSpec, request: Request) -> Response:
        body = await read_body(request, self.settings.body_limit, self.settings.body_timeout)
        if not _is_json(request.headers.get("content-type")):
            raise Problem(415, "unsupported_media_type", "send Content-Type: application/json")
        try:
            replay_key = auth.authenticate(spec.name, body, request.headers, self.settings)
        except auth.AuthFailed as failed:
            headers = {"WWW-Authenticate": failed.challenge} if failed.status == 401 and failed.challenge else None
            raise Problem(failed.status, failed.reason, failed.detail, headers) from None

        delivery = self._parse(spec, body)
        if spec.name == "pagerduty":
            try:
                auth.check_fresh(delivery.occurred_at, self.settings.pagerduty_max_event_age.total_seconds(), spec.name)
            except auth.AuthFailed as failed:
                raise Problem(failed.status, failed.reason, failed.detail) from None
            replay_key = delivery.replay_key
        guard = self.replays.get(spec.name)
        if replay_key and guard is not None:
            # A copy arriving while the first is still being recorded (a sender retrying after its
            # own timeout) waits for the first's outcome: a duplicate if it was recorded, else a retry.
            async with self.in_flight.hold(f"{spec.name}:{replay_key}"):
                return await self._deliver(spec, delivery, replay_key, guard)
        return await self._deliver(spec, delivery, None, None)

    async def _deliver(
        self, spec: SourceSpec, delivery: Delivery, replay_key: str | None, guard: auth.ReplayGuard | None
    ) -> Response:
        if replay_key and guard is not None and guard.seen(replay_key):
            self.metrics.duplicate_deliveries.labels(source=spec.name).inc()
            return self._answer(IntakeResponse(accepted=0, duplicate=True))
        response: Response
        if delivery.ignored:
            self.metrics.ignored.labels(source=spec.name).inc()
            response = self._answer(IntakeResponse(accepted=0, ignored=delivery.ignored))
        else:
            response = await self._record(spec, delivery)
        if replay_key and guard is not None:
            guard.remember(replay_key)
        return response

    def _parse(self, spec: SourceSpec, body: bytes) -> Delivery:
        try:
            data = json.loads(body)
        except (ValueError, RecursionError) as exc:
            raise _invalid([{"loc": (), "msg": f"not valid JSON: {str(exc)[:200]}", "type": "json_invalid"}]) from None
        try:
            payload = spec.model.model_validate(data)
            return spec.normalize(payload, self.defaults)
        except ValidationError as exc:
            raise _invalid(PayloadInvalid(exc).errors) from None
        except PayloadInvalid as exc:
            raise _invalid(exc.errors) from None
        except FieldError as exc:
            raise _invalid([{"loc": exc.loc, "msg": exc.message, "type": "value_error"}]) from None

    def _prepare(self, delivery: Delivery) -> Prepared:
        try:
            alerts = sorted((a.to_alert() for a in delivery.alerts), key=lambda a: not a.firing)
            incident = delivery.incident_input(self.runbook, self.settings.publish_search_attributes)
            incident.history_limit = self.settings.temporal.incident_history_limit
        except ValidationError as exc:  # normalization bounds everything; this is the last guard
            raise _invalid(PayloadInvalid(exc).errors) from None
        return Prepared(source=delivery.source, workflow_id=delivery.workflow_id, incident=incident, alerts=alerts)

    async def _record(self, spec: SourceSpec, delivery: Delivery) -> Response:
        prepared = self._prepare(delivery)
        self.metrics.received.labels(source=spec.name).inc(len(prepared.alerts))
        try:
            recorded = await self.recorder.record(prepared)
        except TemporalUnavailable as exc:
            # The cause (addresses, RPC errors) goes to our log, not to the sender.
            log.warning("%s: %s not recorded: %s", spec.name, prepared.workflow_id, exc)
            raise Problem(
                503,
                "temporal_unavailable",
                f"alert not recorded: Temporal is unavailable; retry after {self.settings.retry_after}s",
                {"Retry-After": str(self.settings.retry_after)},
            ) from None
        if recorded.ignored:
            self.metrics.ignored.labels(source=spec.name).inc()
            return self._answer(
                IntakeResponse(
                    accepted=0,
                    ignored=recorded.ignored,
                    incident_id=prepared.incident.incident_id,
                    workflow_id=prepared.workflow_id,
                )
            )
        receipts: list[AlertReceipt] = recorded.receipts
        opened = sum(1 for r in receipts if r.new_incident)
        self.metrics.incidents_started.labels(source=spec.name).inc(opened)
        self.metrics.deduplicated.labels(source=spec.name).inc(len(receipts) - opened)
        self.metrics.repeated.labels(source=spec.name).inc(sum(1 for r in receipts if r.repeated))
        last = max(receipts, key=lambda r: r.alerts_received)
        return self._answer(
            IntakeResponse(
                accepted=len(receipts),
                incident_id=last.incident_id,
                workflow_id=last.workflow_id,
                new_incident=opened > 0,
                alerts_received=last.alerts_received,
                phase=last.phase.value,
            )
        )

    @staticmethod
    def _answer(response: IntakeResponse) -> JSONResponse:
        return JSONResponse(response.model_dump(mode="json"), status_code=200)


def _schema_name(model: type[BaseModel]) -> str:
    return str(model.model_config.get("title") or model.__name__)


def create_app(settings: IntakeSettings, client_factory: ClientFactory) -> FastAPI:
    """The intake app. `client_factory` connects to Temporal on first use (e.g. `lambda:
    warroom.client.connect(settings.temporal)`), so the app starts while Temporal is down."""
    intake = Intake(settings, client_factory)
    app = FastAPI(
        title="warroom alert intake",
        version="1",
        description="Alerts from Alertmanager, PagerDuty, Opsgenie, Grafana and a generic JSON "
        "schema start or join incidents. See docs/intake.md.",
    )
    app.add_middleware(RejectAmbiguousFraming)
    app.add_middleware(TracingMiddleware)  # outermost: a span per request (a no-op with traces off)
    app.state.intake = intake
    count_responses(app)  # outermost: the framing middleware's 400s count too
    app.state.chat = chat.mount(app, settings, intake.recorder, intake.runbook)
    app.state.subscribers = None
    if settings.temporal.subscribers.status_subscriptions:  # the status page's subscription routes
        from warroom.statuspage.subscribe import mount_subscriptions

        app.state.subscribers = mount_subscriptions(app, settings.temporal.subscribers, settings.temporal.data_dir)

    error_responses: dict[int | str, dict[str, Any]] = {
        401: {"description": "credentials or signature missing"},
        403: {"description": "credentials wrong, signature bad, timestamp stale, or source not configured"},
        408: {"description": f"body not complete within {settings.body_timeout:g} s"},
        413: {"description": f"body over {settings.body_limit} bytes"},
        415: {"description": "not application/json"},
        422: {"description": "schema error; `detail[].field` names the path"},
        503: {"description": "Temporal unreachable: nothing recorded, retry after `Retry-After` seconds"},
    }
    for spec in SOURCES.values():
        for method in spec.methods:
            app.add_api_route(
                f"/alerts/{spec.name}",
                _endpoint(intake, spec),
                methods=[method],
                summary=spec.summary,
                response_model=IntakeResponse,
                responses=error_responses,
                tags=["alerts"],
                operation_id=f"alerts_{spec.name}" + ("" if method == "POST" else f"_{method.lower()}"),
                openapi_extra={
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": {"$ref": f"#/components/schemas/{_schema_name(spec.model)}"}}
                        },
                    }
                },
            )

    @app.get("/healthz", tags=["ops"], summary="liveness, and whether Temporal answers")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "temporal": "reachable" if await intake.recorder.healthy() else "unreachable"}

    @app.get("/metrics", tags=["ops"], summary="Prometheus metrics", response_class=Response)
    async def metrics() -> Response:
        return Response(generate_latest(intake.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for spec in SOURCES.values():
                model_schema = spec.model.model_json_schema(ref_template="#/components/schemas/{model}")
                for name, definition in model_schema.pop("$defs", {}).items():
                    components.setdefault(name, definition)
                components[_schema_name(spec.model)] = model_schema
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def _endpoint(intake: Intake, spec: SourceSpec) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        return await intake.handle(spec, request)

    endpoint.__name__ = f"alerts_{spec.name}"
    endpoint.__doc__ = spec.summary
    return endpoint
