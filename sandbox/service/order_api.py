"""order-api, simulated: serves /orders and /metrics, and fails as the pods the cluster runs would.

Every second it reads the Deployment's pods from the (sandbox) Kubernetes API over HTTP and looks
up each ready pod's image in the scenario: `healthy` serves, `errors` answers 503 to a share of
requests (8 %, the seed's incident), and with no ready pod everything fails. A steady load
generator sends real HTTP requests to /orders, so Prometheus sees the same counters a real
service would export (`http_requests_total{service, code}`).
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote

from prometheus_client import CollectorRegistry, Counter, generate_latest

from sandbox.cluster.scenario import Scenario

ERROR_SHARE = {"healthy": 0.0, "errors": 0.08, "crashloop": 1.0, "image_pull": 1.0}


class SimulatedService:
    def __init__(
        self,
        kube_url: str,
        scenario: Scenario,
        namespace: str = "production",
        deployment: str = "order-api",
        service: str = "order-api",
        rps: float = 40.0,
        port: int = 0,
    ) -> None:
        self.kube_url = kube_url.rstrip("/")
        self.scenario, self.namespace, self.deployment, self.service, self.rps = (
            scenario,
            namespace,
            deployment,
            service,
            rps,
        )
        self.registry = CollectorRegistry()
        self.requests = Counter("http_requests", "Requests served", ["service", "code"], registry=self.registry)
        for code in ("201", "503"):  # exported at 0 from the start, so ratios exist before the first error
            self.requests.labels(service, code)
        self.error_share = 0.0
        self._served = 0
        self._failed = 0.0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._threads = [
            threading.Thread(target=self.server.serve_forever, daemon=True),
            threading.Thread(target=self._watch_cluster, daemon=True),
            threading.Thread(target=self._load, daemon=True),
        ]

    def start(self) -> SimulatedService:
        self._refresh()
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> SimulatedService:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    # --- the cluster decides how we behave --------------------------------------------------

    def _refresh(self) -> None:
        selector = quote(f"app={self.deployment}")
        url = f"{self.kube_url}/api/v1/namespaces/{self.namespace}/pods?labelSelector={selector}"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                pods = json.load(response)["items"]
        except OSError:
            return  # the cluster is unreachable: keep the last behaviour
        shares = []
        for pod in pods:
            if pod.get("metadata", {}).get("deletionTimestamp"):
                continue
            conditions = {c["type"]: c["status"] for c in pod.get("status", {}).get("conditions", [])}
            if conditions.get("Ready") != "True":
                continue
            image = pod["spec"]["containers"][0]["image"]
            shares.append(ERROR_SHARE[self.scenario.behavior_for(image).behavior])
        self.error_share = sum(shares) / len(shares) if shares else 1.0

    def _watch_cluster(self) -> None:
        while not self._stop.wait(1.0):
            self._refresh()

    # --- serving -----------------------------------------------------------------------------

    def _serve_order(self) -> int:
        """503 for `error_share` of requests, spread evenly (deterministic, not random)."""
        with self._lock:
            self._served += 1
            owed = self._served * self.error_share - self._failed
            if owed >= 1 or (self.error_share >= 1.0):
                self._failed += 1
                code = 503
            else:
                code = 201
            if self.error_share == 0.0:
                self._served, self._failed = 0, 0.0
        self.requests.labels(self.service, str(code)).inc()
        return code

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        service = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                if self.path == "/metrics":
                    body, code, kind = generate_latest(service.registry), 200, "text/plain; version=0.0.4"
                elif self.path.startswith("/orders"):
                    code = service._serve_order()
                    body, kind = (
                        (b'{"ok": true}' if code < 500 else b'{"error": "upstream connect error"}'),
                        "application/json",
                    )
                else:
                    body, code, kind = b"not found", 404, "text/plain"
                self.send_response(code)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler

    def _load(self) -> None:
        """The steady load generator: `rps` real requests a second to /orders."""
        interval = 1.0 / self.rps
        next_at = time.monotonic()
        while not self._stop.is_set():
            try:
                urllib.request.urlopen(f"{self.url}/orders", timeout=2).close()
            except OSError:
                pass  # a 503 raises HTTPError (an OSError): that is the point
            next_at += interval
            self._stop.wait(max(0.0, next_at - time.monotonic()))
