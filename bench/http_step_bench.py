"""What an HTTP step costs over a bare request, measured in the same run.

    python bench/http_step_bench.py [--iterations 200]

1. Rendering: `render()` + `preview()` of a kill-switch template, per call.
2. Overhead: `http_step_apply` through temporalio's ActivityEnvironment (URL re-check, allow-list,
   credential lookup, bounded read, heartbeat wrapper, outcome model) vs a bare `httpx` POST of the
   same request to the same loopback server, alternating so drift hits both alike.
3. Cancellation: a server that holds the request; the time from a cancel to the activity's return.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

import httpx  # noqa: E402
from pydantic import SecretStr  # noqa: E402
from temporalio.testing import ActivityEnvironment  # noqa: E402

from activities.http_steps import HttpStepActivities, HttpStepSettings  # noqa: E402
from warroom.policy.http_request import HttpTemplate, preview, render  # noqa: E402


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a real flag service would
    wbufsize = 1 << 16  # headers and body in one segment: no Nagle / delayed-ACK 40 ms stall on loopback
    disable_nagle_algorithm = True

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path.startswith("/slow"):
            time.sleep(3)
        reply = b'{"killed": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args: Any) -> None:
        pass


def ms(values: list[float]) -> str:
    return (
        f"median {statistics.median(values) * 1000:.2f} ms, p90 {sorted(values)[int(len(values) * 0.9)] * 1000:.2f} ms"
    )


async def main(iterations: int) -> None:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    template = HttpTemplate.load(
        {
            "method": "POST",
            "url": base + "/api/v1/flags/{flag}/kill?env={env}",
            "body": {"flag": "{flag}", "percent": "{percent}"},
            "credential": "flags-admin",
        },
        ["flag", "env", "percent"],
    )
    params: dict[str, str | int | bool] = {"flag": "new-checkout", "env": "prod", "percent": 0}

    started = time.perf_counter()
    for _ in range(iterations * 10):
        preview(render(template, params))
    print(f"render + preview: {(time.perf_counter() - started) / (iterations * 10) * 1e6:.1f} µs per step")

    req = render(template, params).model_copy(update={"idempotency_key": "INC-1/kill"})
    acts = HttpStepActivities(HttpStepSettings(credentials={"flags-admin": SecretStr("Bearer token")}))
    env = ActivityEnvironment()
    bare_times: list[float] = []
    step_times: list[float] = []
    async with httpx.AsyncClient(trust_env=False) as bare:
        for _ in range(5):  # warm both connections
            await bare.post(req.url, json=req.body, headers={"Authorization": "Bearer token"})
            await env.run(acts.http_step_apply, req)
        for _ in range(iterations):
            t = time.perf_counter()
            await bare.post(req.url, json=req.body, headers={"Authorization": "Bearer token", "Idempotency-Key": "k"})
            bare_times.append(time.perf_counter() - t)
            t = time.perf_counter()
            await env.run(acts.http_step_apply, req)
            step_times.append(time.perf_counter() - t)
    print(f"bare httpx POST:  {ms(bare_times)}")
    print(f"http_step_apply:  {ms(step_times)}")
    print(f"activity / bare:  {statistics.median(step_times) / statistics.median(bare_times):.2f} (median)")

    cancels: list[float] = []
    slow = req.model_copy(update={"url": base + "/slow"})
    for _ in range(5):
        env = ActivityEnvironment()
        running = asyncio.ensure_future(env.run(acts.http_step_apply, slow))
        await asyncio.sleep(0.2)
        t = time.perf_counter()
        env.cancel()
        try:
            await running
        except asyncio.CancelledError:
            pass
        cancels.append(time.perf_counter() - t)
    print(f"cancel → return:  {ms(cancels)}")
    await acts.aclose()
    httpd.shutdown()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=200)
    asyncio.run(main(parser.parse_args().iterations))
