"""Traces are set by the standard OTEL_* variables and are off by default.

Off (no OTEL_* set, or OTEL_SDK_DISABLED / OTEL_TRACES_EXPORTER=none): no provider, no interceptor on
the client `warroom.client.connect` makes, nothing sent. On (an OTLP endpoint): the production worker
process (`python worker.py`) sends its spans over OTLP/HTTP to a collector stand-in on loopback, and
flushes them when SIGTERM stops it (the batch delay is set far beyond the test)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from temporalio.api.enums.v1 import EventType
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from tests.helpers import assert_eventually, free_port, incident_input, running_worker, start_incident
from tests.intake.support import terminate
from tests.worker_process import WorkerProcess
from warroom.client import connect
from warroom.enums import Phase, Severity
from warroom.errors import ConfigInvalid
from warroom.ids import phase_workflow_id
from warroom.settings import Settings
from warroom.telemetry import tracing

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(
    ("env", "exporters"),
    [
        ({}, []),
        ({"OTEL_SERVICE_NAME": "warroom", "OTEL_EXPORTER_OTLP_HEADERS": "x=y"}, []),  # names nowhere to send
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, ["otlp"]),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, ["otlp"]),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, ["otlp"]),
        ({"OTEL_TRACES_EXPORTER": "console"}, ["console"]),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, []),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, []),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}, ["otlp"]),
    ],
)
def test_the_standard_variables_turn_traces_on(env: dict[str, str], exporters: list[str]) -> None:
    assert tracing.exporters_from_env(env) == exporters


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"OTEL_TRACES_EXPORTER": "jaeger"}, "OTEL_TRACES_EXPORTER"),
        ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, "OTEL_EXPORTER_OTLP_PROTOCOL"),
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/json"},
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        ),
    ],
)
def test_a_value_warroom_cannot_honour_stops_the_start_naming_the_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigInvalid, match=named):
        tracing.exporters_from_env(env)


async def test_off_by_default_no_provider_and_no_interceptor(
    dev_env: WorkflowEnvironment, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [n for n in os.environ if n.startswith("OTEL_")]:
        monkeypatch.delenv(name)
    with tracing.traced("warroom-worker") as installed:
        assert installed is None and tracing.active() is None and tracing.interceptors() == []
        client = await connect(Settings(temporal_address=dev_env.client.service_client.config.target_host))
        assert list(client.config()["interceptors"]) == []
        with tracing.span("kubernetes read deployment", {"k8s.namespace.name": "prod"}) as span:
            assert not span.is_recording()


class Collector:
    """An OTLP/HTTP collector stand-in: every POST to /v1/traces, decoded."""

    def __init__(self) -> None:
        self.requests: list[ExportTraceServiceRequest] = []
        self.content_types: list[str] = []

    def span_names(self) -> list[str]:
        return [s.name for r in self.requests for rs in r.resource_spans for ss in rs.scope_spans for s in ss.spans]

    def services(self) -> set[str]:
        return {
            a.value.string_value
            for r in self.requests
            for rs in r.resource_spans
            for a in rs.resource.attributes
            if a.key == "service.name"
        }


@contextmanager
def collector() -> Iterator[tuple[Collector, str]]:
    seen = Collector()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_: object) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path == "/v1/traces":
                seen.requests.append(ExportTraceServiceRequest.FromString(body))
                seen.content_types.append(self.headers.get("Content-Type", ""))
            self.send_response(200 if self.path == "/v1/traces" else 404)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield seen, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


async def run_worker_process(
    dev_env: WorkflowEnvironment, tmp_path: Path, otel: dict[str, str], name: str
) -> WorkerProcess:
    """`python worker.py` with `otel` on top of a clean WARROOM_* / OTEL_* environment; one incident
    runs on it (a declared one: its notifications are activities), then SIGTERM stops it."""
    queue = f"otel-{uuid.uuid4().hex[:8]}"
    env = {
        "WARROOM_TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "WARROOM_TASK_QUEUE": queue,
        "WARROOM_DATA_DIR": str(tmp_path / name),
        "OTEL_BSP_SCHEDULE_DELAY": "600000",  # only the flush at exit can deliver within the test
        **otel,
    }
    process = WorkerProcess(env, tmp_path / f"{name}.log")
    process.env = {k: v for k, v in process.env.items() if not (k.startswith("OTEL_") and k not in env)}
    process.env = {k: v for k, v in process.env.items() if not (k.startswith("WARROOM_") and k not in env)}
    await process.start()
    declared = incident_input(declared=True, declared_by="alice", severity=Severity.P2, commander="alice")
    handle = await start_incident(dev_env.client, queue, declared)
    try:

        async def an_activity_completed() -> None:
            completed = 0
            for target in [handle.id, *(phase_workflow_id(handle.id, p) for p in Phase)]:
                try:
                    history = await dev_env.client.get_workflow_handle(target).fetch_history()
                except RPCError:
                    continue  # a phase not started
                completed += sum(e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED for e in history.events)
            assert completed, f"no activity completed yet; worker log:\n{process.log_text()[-1500:]}"

        await assert_eventually(an_activity_completed, timeout=60, interval=0.2)
    finally:
        process.stop()  # SIGTERM first
        await terminate(dev_env.client, {handle.id})
    return process


async def test_the_worker_process_exports_over_otlp_http_and_flushes_at_sigterm(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    with collector() as (seen, url):
        process = await run_worker_process(dev_env, tmp_path, {"OTEL_EXPORTER_OTLP_ENDPOINT": url}, "on")
    assert process.proc is not None and process.proc.returncode == -15, process.log_text()[-2000:]
    names = seen.span_names()
    assert any(n.startswith("RunActivity:") for n in names), names
    assert seen.services() == {"warroom-worker"}
    assert set(seen.content_types) == {"application/x-protobuf"}


async def test_nothing_is_sent_when_otel_sdk_disabled(dev_env: WorkflowEnvironment, tmp_path: Path) -> None:
    with collector() as (seen, url):
        otel = {"OTEL_EXPORTER_OTLP_ENDPOINT": url, "OTEL_SDK_DISABLED": "true"}
        process = await run_worker_process(dev_env, tmp_path, otel, "off")
    assert seen.requests == [], seen.span_names()
    assert "Traceback" not in process.log_text()


async def test_the_intake_process_exports_its_request_spans_and_flushes_at_sigterm(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """`python -m warroom.intake.server` (uvicorn handles SIGTERM, then the spans are flushed)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "WARROOM_"))}
    env |= {
        "WARROOM_TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "WARROOM_DATA_DIR": str(tmp_path / "data"),
        "OTEL_BSP_SCHEDULE_DELAY": "600000",
        "OTEL_SERVICE_NAME": "intake-under-test",
    }
    with collector() as (seen, url), (tmp_path / "intake.log").open("wb") as log:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = url
        proc = subprocess.Popen(
            [sys.executable, "-m", "warroom.intake.server", "--port", str(port)], env=env, stdout=log, stderr=log
        )
        try:

            async def healthy() -> None:
                async with httpx.AsyncClient(timeout=5) as http:
                    try:
                        answer = await http.get(f"http://127.0.0.1:{port}/healthz")
                    except httpx.TransportError as exc:
                        raise AssertionError(f"not listening yet: {exc}") from None
                assert answer.json() == {"status": "ok", "temporal": "reachable"}, answer.text

            await assert_eventually(healthy, timeout=60, interval=0.2)
        finally:
            proc.terminate()
            code = proc.wait(30)
    assert code in (0, -signal.SIGTERM), (tmp_path / "intake.log").read_text()[-2000:]
    assert "GET /healthz" in seen.span_names(), seen.span_names()
    assert seen.services() == {"intake-under-test"}


async def test_a_cli_command_is_traced_as_warroom_cli(dev_env: WorkflowEnvironment, tmp_path: Path) -> None:
    """`warroom status` with OTEL_* set exports its query span before the process exits."""
    async with running_worker(dev_env.client, tmp_path) as harness:
        handle = await harness.start(incident_input())
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "WARROOM_"))}
        env |= {
            "WARROOM_TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
            "WARROOM_TASK_QUEUE": harness.queue,
            "OTEL_BSP_SCHEDULE_DELAY": "600000",  # only the flush at exit can deliver within the test
        }
        with collector() as (seen, url):
            env["OTEL_EXPORTER_OTLP_ENDPOINT"] = url
            done = await asyncio.to_thread(
                subprocess.run,
                [sys.executable, "-m", "warroom.cli", "status", handle.id],
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
        assert done.returncode == 0, done.stderr
        assert "QueryWorkflow:state" in seen.span_names(), seen.span_names()
        assert seen.services() == {"warroom-cli"}


def test_a_benchmark_turns_tracing_on_and_off() -> None:
    """`turn_on` is what bench/ calls: batched OTLP/HTTP export, interceptors back; `shutdown` flushes."""
    with collector() as (seen, url):
        interceptors = tracing.turn_on(url)
        try:
            assert len(interceptors) == 1 and tracing.interceptors() == interceptors
            with tracing.span("kubernetes read deployment", {"k8s.namespace.name": "prod"}) as span:
                assert span.is_recording()
        finally:
            tracing.shutdown()
        assert tracing.active() is None and tracing.interceptors() == []
    assert seen.span_names() == ["kubernetes read deployment"]
    assert seen.services() == {"warroom-bench"}
