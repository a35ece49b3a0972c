"""Serve a sandbox Cluster over real HTTP on loopback, and write a kubeconfig for clients and kubectl.

with serve(load_scenario(SCENARIOS / "order-api.yaml")) as running:
    running.write_kubeconfig(tmp / "kubeconfig", namespace="production")
    subprocess.run(["kubectl", "--kubeconfig", tmp / "kubeconfig", "get", "pods"])
"""

from __future__ import annotations

import select
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import yaml

from sandbox.cluster.cluster import Cluster
from sandbox.cluster.routes import Api, Fault, Recorded, Request, Response
from sandbox.cluster.scenario import Scenario


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the clients expect
    disable_nagle_algorithm = True  # headers and body go out as separate writes: avoid 40 ms ACK stalls
    server: _Server

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - quiet by default
        if self.server.verbose:
            super().log_message(format, *args)

    def _handle(self) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        request = Request(
            self.command,
            url.path,
            parse_qs(url.query, keep_blank_values=True),
            {k.lower(): v for k, v in self.headers.items()},
            body,
        )
        response = self.server.api.handle(request)
        if response.stream is not None:
            self._stream(response)
        else:
            self._send(response)

    def _send(self, response: Response) -> None:
        try:
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(response.body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client went away (a killed worker): nothing to answer

    def _stream(self, response: Response) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        assert response.stream is not None
        try:
            for chunk in response.stream:
                if chunk:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    self.wfile.flush()
                elif self._client_gone():
                    return
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        finally:
            response.stream.close()  # type: ignore[attr-defined]
            self.close_connection = True

    def _client_gone(self) -> bool:
        readable, _, _ = select.select([self.connection], [], [], 0)
        if not readable:
            return False
        try:
            return self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], api: Api, verbose: bool) -> None:
        super().__init__(address, _Handler)
        self.api = api
        self.verbose = verbose


@dataclass
class RunningCluster:
    """A cluster being served: `url` for clients, `cluster` for tests to look at or steer."""

    cluster: Cluster
    url: str
    token: str | None
    _server: _Server
    _thread: threading.Thread

    @property
    def requests(self) -> list[Recorded]:
        """Every request received (method, path, query, content type, decoded body), oldest first."""
        return self._server.api.recorded

    def inject_fault(
        self,
        status: int,
        *,
        method: str | None = None,
        path: str | None = None,
        times: int = 1,
        retry_after: int | None = None,
        lost_response: bool = False,
    ) -> Fault:
        """Answer the next `times` matching requests with `status` (a Status body, optional Retry-After);
        with `lost_response` the request is applied first, as when a reply is lost on the way back."""
        fault = Fault(status, method, path, times, retry_after, lost_response)
        self._server.api.faults.append(fault)
        return fault

    def stall(self, seconds: float, *, method: str | None = None, path: str | None = None, times: int = 1) -> Fault:
        """Apply the next `times` matching requests at once but hold their replies for `seconds`:
        the write has happened while the client still waits (to kill the client in between)."""
        fault = Fault(None, method, path, times, delay=seconds)
        self._server.api.faults.append(fault)
        return fault

    def write_kubeconfig(self, path: str | Path, namespace: str = "default", context: str = "sandbox") -> Path:
        path = Path(path)
        user: dict[str, str] = {"token": self.token} if self.token else {}
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "preferences": {},
            "clusters": [{"name": context, "cluster": {"server": self.url}}],
            "users": [{"name": context, "user": user}],
            "contexts": [{"name": context, "context": {"cluster": context, "user": context, "namespace": namespace}}],
            "current-context": context,
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        return path

    def stop(self) -> None:
        self.cluster.stop()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def start(
    scenario: Scenario | Cluster | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    token: str | None = None,
    verbose: bool = False,
) -> RunningCluster:
    """Start the controllers and the HTTP server on a background thread; `stop()` ends both."""
    cluster = scenario if isinstance(scenario, Cluster) else Cluster(scenario)
    api = Api(cluster, token)
    server = _Server((host, port), api, verbose)
    bound_host, bound_port = server.server_address[:2]
    api.address = f"{bound_host}:{bound_port}"
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="sandbox-apiserver", daemon=True
    )
    thread.start()
    cluster.start()
    return RunningCluster(cluster, f"http://{bound_host}:{bound_port}", token, server, thread)


@contextmanager
def serve(scenario: Scenario | Cluster | None = None, **options: object) -> Iterator[RunningCluster]:
    running = start(scenario, **options)  # type: ignore[arg-type]
    try:
        yield running
    finally:
        running.stop()
