"""Alert intake benchmark: ack latency against a bare SDK baseline, then an alert storm.

    python bench/intake_bench.py [--n 500] [--storm 2000] [--keys 20] [--clients 8]

Starts its own stack, each piece in its own process as in production: a Temporal dev server
(the `temporal` binary next to this Python, in memory), the warroom worker, and the intake
(`python -m warroom.intake.server`). This process is the load: an SDK client for the baseline
and httpx clients for the intake.

1. Ack latency (sequential, N requests each): POST an Alertmanager-format alert → 2xx, against
   `client.execute_update_with_start_workflow(IncidentWorkflow.ingest_alert, ...)` called
   directly, interleaved one for one so both see the same server and worker load. Both spread
   over 50 group keys (the first request of each key opens an incident, the rest join it).
   Goal: intake p50 ≤ 1.5x and p99 ≤ 2x the baseline's.
2. Storm: `--storm` Alertmanager-format POSTs over `--keys` group keys from `--clients`
   concurrent clients. Reports requests/s, 5xx, incidents opened, and checks that the incidents'
   alerts_received add up to the requests answered 2xx (nothing lost, nothing counted twice).
   Goal: ≥ 100 req/s, zero 5xx, exactly `--keys` incidents.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDConflictPolicy
from temporalio.contrib.pydantic import pydantic_data_converter

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.stack import Stack  # noqa: E402
from warroom import search  # noqa: E402
from warroom.ids import incident_workflow_id  # noqa: E402
from warroom.incidents import Incidents  # noqa: E402
from warroom.intake import identity  # noqa: E402
from warroom.models import Alert, AlertReceipt, IncidentInput  # noqa: E402
from warroom.runbook import load_runbook  # noqa: E402
from workflows.incident import IncidentWorkflow  # noqa: E402

TOKEN = "bench-token"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def alertmanager_body(group: str, instance: str) -> dict[str, Any]:
    labels = {"alertname": "HighErrorRate", "service": "order-api", "group": group, "instance": instance}
    return {
        "version": "4",
        "groupKey": f'{{}}:{{alertname="HighErrorRate", group="{group}"}}',
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "warroom",
        "groupLabels": {"alertname": "HighErrorRate", "group": group},
        "commonLabels": labels,
        "commonAnnotations": {"summary": "Order API returning 503s"},
        "externalURL": "http://alertmanager:9093",
        "alerts": [
            {
                "status": "firing",
                "labels": labels,
                "annotations": {"summary": "Order API returning 503s"},
                "startsAt": datetime.now(UTC).isoformat(),
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus:9090/graph",
                "fingerprint": f"{group}-{instance}",
            }
        ],
    }


async def baseline_call(client: Client, queue: str, runbook: Any, group: str, n: int) -> None:
    """What the intake sends for one alert, sent directly: the same start options (search
    attributes, summary) and the same update, minus HTTP, auth, parsing and normalization."""
    incident_id = identity.incident_id("baseline", group)
    inp = IncidentInput(
        incident_id=incident_id, service="order-api", summary="Order API returning 503s", runbook=runbook
    )
    alert = Alert(
        source="alertmanager",
        fingerprint=f"{group}-{n % 10}",
        summary="Order API returning 503s",
        labels={"alertname": "HighErrorRate", "service": "order-api"},
    )
    attributes = TypedSearchAttributes(
        [
            SearchAttributePair(search.SEVERITY, "unassessed"),
            SearchAttributePair(search.SERVICE, inp.service),
            SearchAttributePair(search.PHASE, "detection"),
            SearchAttributePair(search.COMMANDER, "none"),
        ]
    )
    operation = WithStartWorkflowOperation(
        IncidentWorkflow.run,
        inp,
        id=incident_workflow_id(incident_id),
        task_queue=queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        search_attributes=attributes,
        static_summary=f"alertmanager alert, {inp.summary}",
    )
    await client.execute_update_with_start_workflow(
        IncidentWorkflow.ingest_alert, alert, start_workflow_operation=operation, result_type=AlertReceipt
    )


async def latency(stack: Stack, client: Client, n: int) -> None:
    runbook = load_runbook()
    run = uuid.uuid4().hex[:6]
    sdk: list[float] = []
    http_ms: list[float] = []
    failures = Counter[int]()
    async with httpx.AsyncClient(base_url=stack.intake_url, headers={"Authorization": f"Bearer {TOKEN}"}) as http:
        for i in range(-20, n):  # 20 warm-up rounds, not measured
            group = f"lat-{run}-{i % 50}"
            started = time.perf_counter()
            await baseline_call(client, stack.queue, runbook, group, i)
            base = time.perf_counter() - started
            started = time.perf_counter()
            response = await http.post("/alerts/alertmanager", json=alertmanager_body(group, f"pod-{i % 10}"))
            took = time.perf_counter() - started
            if response.status_code != 200:
                failures[response.status_code] += 1
            if i >= 0:
                sdk.append(base * 1000)
                http_ms.append(took * 1000)
    p50 = (statistics.median(sdk), statistics.median(http_ms))
    p99 = (percentile(sdk, 99), percentile(http_ms, 99))
    print(f"ack latency, N={n} each, sequential, interleaved")
    print(f"  SDK update-with-start : p50 {p50[0]:6.1f} ms   p99 {p99[0]:6.1f} ms")
    print(f"  intake POST → 2xx     : p50 {p50[1]:6.1f} ms   p99 {p99[1]:6.1f} ms   non-2xx {sum(failures.values())}")
    print(
        f"  ratio                 : p50 {p50[1] / p50[0]:.2f}x (goal ≤ 1.5x)   p99 {p99[1] / p99[0]:.2f}x (goal ≤ 2x)"
    )


async def storm(stack: Stack, client: Client, total: int, keys: int, clients: int) -> None:
    run = uuid.uuid4().hex[:6]
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(total):
        queue.put_nowait(i)
    codes = Counter[int]()
    workflow_ids: set[str] = set()
    took: list[float] = []

    async def sender() -> None:
        async with httpx.AsyncClient(
            base_url=stack.intake_url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60
        ) as http:
            while not queue.empty():
                i = queue.get_nowait()
                body = alertmanager_body(f"storm-{run}-{i % keys}", f"pod-{i % 10}")
                started = time.perf_counter()
                try:
                    response = await http.post("/alerts/alertmanager", json=body)
                except httpx.TransportError:
                    codes[0] += 1
                    continue
                took.append((time.perf_counter() - started) * 1000)
                codes[response.status_code] += 1
                if response.status_code == 200:
                    workflow_ids.add(response.json()["workflow_id"])

    cpu_before = stack.cpu_seconds()
    started = time.perf_counter()
    await asyncio.gather(*(sender() for _ in range(clients)))
    elapsed = time.perf_counter() - started
    cpu = {k: v - cpu_before[k] for k, v in stack.cpu_seconds().items()}
    received = 0
    for workflow_id in workflow_ids:
        state = await Incidents(client).state(workflow_id)
        received += state.alerts_received
    server_errors = sum(v for k, v in codes.items() if k >= 500 or k == 0)
    print(f"storm: {total} Alertmanager POSTs over {keys} group keys from {clients} concurrent clients")
    print(
        f"  {total / elapsed:7.1f} requests/s ({elapsed:.1f} s)   status codes {dict(sorted(codes.items()))}   "
        f"latency p50 {statistics.median(took):.0f} ms p99 {percentile(took, 99):.0f} ms"
    )
    print(f"  5xx/transport errors {server_errors} (goal 0)   incidents {len(workflow_ids)} (goal {keys})")
    print(
        f"  alerts_received over the incidents {received} = 2xx answers {codes[200]}: "
        f"{'yes' if received == codes[200] else 'NO'}"
    )
    print(
        "  CPU seconds during the storm: "
        + ", ".join(f"{k} {v:.1f}" for k, v in cpu.items())
        + f" (of {elapsed * (os.cpu_count() or 1):.1f} available)"
    )


async def sdk_storm(stack: Stack, client: Client, total: int, keys: int, clients: int) -> None:
    """The same storm through the SDK directly: the ceiling the workflow and server allow here."""
    runbook = load_runbook()
    run = uuid.uuid4().hex[:6]
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(total):
        queue.put_nowait(i)

    async def sender() -> None:
        while not queue.empty():
            i = queue.get_nowait()
            await baseline_call(client, stack.queue, runbook, f"sdkstorm-{run}-{i % keys}", i)

    started = time.perf_counter()
    await asyncio.gather(*(sender() for _ in range(clients)))
    elapsed = time.perf_counter() - started
    print(f"  same storm through the SDK directly (no HTTP): {total / elapsed:.1f} requests/s")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--storm", type=int, default=2000)
    parser.add_argument("--keys", type=int, default=20)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="intake-bench-") as tmp:
        stack = Stack(Path(tmp))
        try:
            await stack.start({"WARROOM_INTAKE_ALERTMANAGER_TOKEN": TOKEN})
            client = await Client.connect(stack.address, data_converter=pydantic_data_converter)
            print(f"stack up: Temporal {stack.address}, intake {stack.intake_url}, {os.cpu_count()} CPUs")
            await latency(stack, client, args.n)
            await storm(stack, client, args.storm, args.keys, args.clients)
            await sdk_storm(stack, client, args.storm, args.keys, args.clients)
        finally:
            stack.stop()


if __name__ == "__main__":
    asyncio.run(main())
