"""The worker's metrics endpoint: warroom's registry and the Temporal SDK's metrics on one port.

`WARROOM_WORKER_METRICS_ADDRESS` (default 127.0.0.1:9464; empty turns it off) serves, at
`/metrics`, warroom's own metrics (warroom/telemetry/metrics.py) and the SDK's (workflow task
latency, activity failures, task slots: `temporal_*`). The SDK's come from its Prometheus
telemetry (`Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(...)))`, passed to
`Client.connect`), bound to a loopback port of its own that only this endpoint reads: one
scrape target, one port to open.

Metrics never stop a worker: an address already in use is logged and the worker pages without them.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import urllib.request
from dataclasses import dataclass, field
from threading import Thread
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.exposition import ThreadingWSGIServer
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from warroom.telemetry.metrics import REGISTRY

log = logging.getLogger("warroom.telemetry")
DEFAULT_ADDRESS = "127.0.0.1:9464"


def split_address(address: str) -> tuple[str, int]:
    """'host:port' (IPv6 as '[::1]:9464') → (host, port); ValueError names what is wrong."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"{address!r}: not host:port")
    return host.strip("[]") or "0.0.0.0", int(port)


def _free_loopback_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def sdk_runtime(port: int) -> Runtime:
    """A Temporal runtime whose metrics Prometheus reads at 127.0.0.1:`port` (counters end in
    `_total`, durations in seconds)."""
    prometheus = PrometheusConfig(
        bind_address=f"127.0.0.1:{port}", counters_total_suffix=True, durations_as_seconds=True
    )
    return Runtime(telemetry=TelemetryConfig(metrics=prometheus))


class _Exposition:
    """The WSGI app behind /metrics: warroom's registry, then the SDK's exposition as the SDK wrote it.

    The SDK's text is passed through as bytes, not parsed and re-rendered: a worker with hundreds of
    open incidents exposes thousands of SDK series, and parsing them in Python on every scrape cost
    more CPU than the metrics themselves. The two never share a metric name (warroom_* and temporal_*),
    so the concatenation is one valid text exposition (format 0.0.4)."""

    def __init__(self, sdk_port: int) -> None:
        self.url = f"http://127.0.0.1:{sdk_port}/metrics"

    def sdk_text(self) -> bytes:
        try:
            with urllib.request.urlopen(self.url, timeout=5) as response:  # noqa: S310 (loopback, our own)
                body: bytes = response.read()
        except OSError as exc:
            log.warning("the Temporal SDK's metrics are unreadable at %s: %s", self.url, exc)
            return b""
        return body if not body or body.endswith(b"\n") else body + b"\n"

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        if environ.get("PATH_INFO", "/") not in ("/", "/metrics"):
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found: the metrics are at /metrics\n"]
        output = generate_latest(REGISTRY) + self.sdk_text()
        start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST), ("Content-Length", str(len(output)))])
        return [] if environ.get("REQUEST_METHOD") == "HEAD" else [output]


class _ThreadingWSGIServerV6(ThreadingWSGIServer):
    address_family = socket.AF_INET6


class _Quiet(WSGIRequestHandler):
    """No access log line per scrape."""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's name)
        pass


@dataclass
class WorkerTelemetry:
    """The endpoint, the SDK runtime behind it, and the open-incidents poller (`watch`)."""

    address: str
    runtime: Runtime
    sdk_port: int
    server: WSGIServer | None = None
    thread: Thread | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @classmethod
    def start(cls, address: str) -> WorkerTelemetry | None:
        """Serve on `address`; None (logged) when it cannot listen there: the worker runs on."""
        host, port = split_address(address)
        sdk_port = _free_loopback_port()
        try:
            server_class = _ThreadingWSGIServerV6 if ":" in host else ThreadingWSGIServer
            server = make_server(host, port, _Exposition(sdk_port), server_class, handler_class=_Quiet)
        except OSError as exc:
            log.error("worker metrics: cannot listen on %s (%s); the worker runs without them", address, exc)
            return None
        thread = Thread(target=server.serve_forever, name="worker metrics", daemon=True)
        thread.start()
        bound = f"{host}:{server.server_port}"
        log.info("worker metrics (warroom's and the Temporal SDK's) at http://%s/metrics", bound)
        return cls(bound, sdk_runtime(sdk_port), sdk_port, server, thread)

    def watch(self, client: Any, every: float = 15.0) -> None:
        """Keep warroom_open_incidents current from visibility while the worker runs."""
        from warroom.telemetry.incidents import keep_open_incidents

        self.tasks.append(asyncio.create_task(keep_open_incidents(client, every), name="open incidents gauge"))

    def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
