"""The worker's liveness endpoint (WARROOM_HEALTH_PORT), which deploy/kubernetes probes: a real
Worker on the dev server answers 200 while it polls and 503 before it starts and after it stopped."""

from __future__ import annotations

import asyncio
import socket
import uuid

import httpx
from temporalio import activity
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from warroom.worker import _serve_health


@activity.defn(name="health_probe_noop")
async def noop() -> None:
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_healthz_follows_the_worker(dev_env: WorkflowEnvironment) -> None:
    worker = Worker(dev_env.client, task_queue=f"health-{uuid.uuid4()}", activities=[noop])
    port = _free_port()
    server = await _serve_health(worker, port)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:
            assert (await http.get("/healthz")).status_code == 503  # not polling yet
            async with worker:
                # The worker first checks its namespace with the server (an RPC), then polls: 200 from then on.
                for _ in range(100):
                    answer = await http.get("/healthz")
                    if answer.status_code == 200:
                        break
                    await asyncio.sleep(0.1)
                assert (answer.status_code, answer.text) == (200, "ok\n")
            assert (await http.get("/healthz")).status_code == 503  # stopped: the kubelet restarts the pod
    finally:
        server.close()
        await server.wait_closed()
