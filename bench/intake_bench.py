"""Alert intake benchmark: ack latency against a bare SDK baseline, then an alert storm against a
bare-SDK storm of the same shape.

    python bench/intake_bench.py [--quick] [--n 500] [--storm 600] [--per 5] [--keys 20] [--clients 8]

Starts its own stack, each piece in its own process as in production: a Temporal dev server
(the `temporal` binary next to this Python, in memory), the warroom worker, and the intake
(`python -m warroom.intake.server`). This process is the load: an SDK client for the baselines
and minimal HTTP/1.1 keep-alive clients for the intake (`Sender`; `--httpx` to use httpx).

1. Ack latency (sequential, N requests each): POST an Alertmanager-format alert → 2xx, against
   `client.execute_update_with_start_workflow(IncidentWorkflow.ingest_alerts, [alert], ...)` called
   directly (the update the intake sends, the same payload), interleaved one for one so both see
   the same server and worker load. Both spread over 50 group keys (the first request of each key
   opens an incident, the rest join it). Goal: intake p50 ≤ 1.2x the baseline's (p99 ≤ 2x shown).
2. Storm: `--storm` Alertmanager notifications of `--per` alerts each over `--keys` group keys from
   `--clients` concurrent clients, against the same notifications sent by the SDK directly (one
   update-with-start of `--per` alerts each, same keys, same concurrency). The two alternate in
   rounds so both meet the same background load. Reports notifications/s and the ratio, 5xx,
   incidents opened, and checks that the incidents' alerts_received add up to the alerts answered
   2xx (nothing lost, nothing counted twice). Goal: intake ≥ 0.8x the SDK's throughput, zero 5xx,
   exactly `--keys` incidents.
"""

from __future__ import annotations

import argparse
import asyncio
import json
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
USE_HTTPX = False


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def alertmanager_body(group: str, instance: str, per: int = 1) -> dict[str, Any]:
    """One notification of `per` alerts (instances `instance`, `instance`-1, ...) of one group."""
    labels = {"alertname": "HighErrorRate", "service": "order-api", "group": group}
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
                "labels": {**labels, "instance": name},
                "annotations": {"summary": "Order API returning 503s"},
                "startsAt": datetime.now(UTC).isoformat(),
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus:9090/graph",
                "fingerprint": f"{group}-{name}",
            }
            for name in [instance, *(f"{instance}-{k}" for k in range(1, per))]
        ],
    }


async def baseline_call(client: Client, queue: str, runbook: Any, group: str, n: int, per: int = 1) -> None:
    """What the intake sends for one notification, sent directly: the same start options (search
    attributes, summary) and the same update with the same alerts, minus HTTP, auth, parsing and
    normalization."""
    incident_id = identity.incident_id("baseline", group)
    inp = IncidentInput(
        incident_id=incident_id, service="order-api", summary="Order API returning 503s", runbook=runbook
    )
    instance = f"pod-{n % 10}"
    alerts = [
        Alert(
            source="alertmanager",
            fingerprint=f"{group}-{name}",
            summary="Order API returning 503s",
            labels={"alertname": "HighErrorRate", "service": "order-api", "group": group, "instance": name},
            annotations={"summary": "Order API returning 503s"},
            starts_at=datetime.now(UTC),
            service="order-api",
            links=["http://prometheus:9090/graph", "http://alertmanager:9093"],
        )
        for name in [instance, *(f"{instance}-{k}" for k in range(1, per))]
    ]
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
        IncidentWorkflow.ingest_alerts, alerts, start_workflow_operation=operation, result_type=list[AlertReceipt]
    )


class Sender:
    """A minimal HTTP/1.1 keep-alive client over asyncio streams, as light a sender as Alertmanager
    is: httpx costs this process several ms of CPU per request, which on 2 shared cores was counted
    against the intake (`--httpx` sends with httpx instead, to compare)."""

    def __init__(self, base_url: str, use_httpx: bool = False) -> None:
        self.host, port = base_url.removeprefix("http://").split(":")
        self.port = int(port)
        self.use_httpx = use_httpx
        self.http: httpx.AsyncClient | None = None
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def __aenter__(self) -> Sender:
        if self.use_httpx:
            self.http = httpx.AsyncClient(
                base_url=f"http://{self.host}:{self.port}", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60
            )
        else:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        return self

    async def __aexit__(self, *_: object) -> None:
        if self.http is not None:
            await self.http.aclose()
        if self.writer is not None:
            self.writer.close()

    async def post(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if self.http is not None:
            response = await self.http.post(path, json=body)
            return response.status_code, response.json()
        assert self.reader is not None and self.writer is not None
        data = json.dumps(body).encode()
        self.writer.write(
            f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nAuthorization: Bearer {TOKEN}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n".encode()
            + data
        )
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
        answer = await self.reader.readexactly(int(headers["content-length"]))
        return int(lines[0].split()[1]), json.loads(answer)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


async def latency(stack: Stack, client: Client, n: int) -> None:
    runbook = load_runbook()
    run = uuid.uuid4().hex[:6]
    sdk: list[float] = []
    http_ms: list[float] = []
    failures = Counter[int]()
    async with Sender(stack.intake_url, USE_HTTPX) as http:
        for i in range(-20, n):  # 20 warm-up rounds, not measured
            group = f"lat-{run}-{i % 50}"
            started = time.perf_counter()
            await baseline_call(client, stack.queue, runbook, group, i)
            base = time.perf_counter() - started
            started = time.perf_counter()
            status, _ = await http.post("/alerts/alertmanager", alertmanager_body(group, f"pod-{i % 10}"))
            took = time.perf_counter() - started
            if status != 200:
                failures[status] += 1
            if i >= 0:
                sdk.append(base * 1000)
                http_ms.append(took * 1000)
    p50 = (statistics.median(sdk), statistics.median(http_ms))
    p99 = (percentile(sdk, 99), percentile(http_ms, 99))
    print(f"ack latency, N={n} each, sequential, interleaved")
    print(f"  SDK update-with-start : p50 {p50[0]:6.1f} ms   p99 {p99[0]:6.1f} ms")
    print(f"  intake POST → 2xx     : p50 {p50[1]:6.1f} ms   p99 {p99[1]:6.1f} ms   non-2xx {sum(failures.values())}")
    ratio = p50[1] / p50[0]
    print(
        f"  ratio                 : p50 {ratio:.2f}x (goal ≤ 1.2x: {verdict(ratio <= 1.2)})   "
        f"p99 {p99[1] / p99[0]:.2f}x (≤ 2x: {verdict(p99[1] / p99[0] <= 2)})"
    )


class Storm:
    """One side of the storm (the intake over HTTP, or the SDK directly): its notifications are
    taken from a shared counter in rounds, so both sides alternate through the same minutes."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.elapsed = 0.0
        self.sent = 0
        self.codes = Counter[int]()
        self.took: list[float] = []
        self.accepted = 0
        self.workflow_ids: set[str] = set()


async def storm_round(
    stack: Stack, client: Client, side: Storm, groups: list[str], per: int, clients: int, first: int
) -> None:
    runbook = load_runbook()
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(len(groups)):
        queue.put_nowait(i)

    async def over_http() -> None:
        async with Sender(stack.intake_url, USE_HTTPX) as http:
            while not queue.empty():
                i = queue.get_nowait()
                body = alertmanager_body(groups[i], f"pod-{(first + i) % 10}", per)
                started = time.perf_counter()
                try:
                    status, answer = await http.post("/alerts/alertmanager", body)
                except (httpx.TransportError, OSError, asyncio.IncompleteReadError):
                    side.codes[0] += 1
                    continue
                side.took.append((time.perf_counter() - started) * 1000)
                side.codes[status] += 1
                if status == 200:
                    side.accepted += answer["accepted"]
                    side.workflow_ids.add(answer["workflow_id"])

    async def over_sdk() -> None:
        while not queue.empty():
            i = queue.get_nowait()
            started = time.perf_counter()
            await baseline_call(client, stack.queue, runbook, groups[i], first + i, per)
            side.took.append((time.perf_counter() - started) * 1000)
            side.codes[200] += 1
            side.accepted += per

    started = time.perf_counter()
    await asyncio.gather(*((over_sdk if side.name == "sdk" else over_http)() for _ in range(clients)))
    side.elapsed += time.perf_counter() - started
    side.sent += len(groups)


async def storm(stack: Stack, client: Client, total: int, per: int, keys: int, clients: int, rounds: int) -> None:
    run = uuid.uuid4().hex[:6]
    sdk, intake = Storm("sdk"), Storm("intake")
    cpu_before = stack.cpu_seconds()
    size = -(-total // rounds)
    for r in range(rounds):
        first = r * size
        count = min(size, total - first)
        for side in (sdk, intake) if r % 2 == 0 else (intake, sdk):
            groups = [f"{side.name}-{run}-{(first + i) % keys}" for i in range(count)]
            await storm_round(stack, client, side, groups, per, clients, first)
    cpu = {k: v - cpu_before[k] for k, v in stack.cpu_seconds().items()}
    received = 0
    for workflow_id in intake.workflow_ids:
        state = await Incidents(client).state(workflow_id)
        received += state.alerts_received
    server_errors = sum(v for k, v in intake.codes.items() if k >= 500 or k == 0)
    print(
        f"storm: {total} Alertmanager notifications of {per} alerts over {keys} group keys from {clients} "
        f"concurrent clients, each side in {rounds} alternating rounds"
    )
    for side in (sdk, intake):
        label = "SDK update-with-start" if side.name == "sdk" else "intake POST → 2xx   "
        print(
            f"  {label} : {side.sent / side.elapsed:7.1f} notifications/s ({side.elapsed:.1f} s)   "
            f"latency p50 {statistics.median(side.took):.0f} ms p99 {percentile(side.took, 99):.0f} ms"
        )
    ratio = (intake.sent / intake.elapsed) / (sdk.sent / sdk.elapsed)
    print(f"  ratio                 : {ratio:.2f}x the SDK's throughput (goal ≥ 0.8x: {verdict(ratio >= 0.8)})")
    print(f"  status codes {dict(sorted(intake.codes.items()))}   5xx/transport errors {server_errors} (goal 0)")
    print(f"  incidents {len(intake.workflow_ids)} (goal {keys})")
    print(
        f"  alerts_received over the incidents {received} = alerts answered 2xx {intake.accepted}: "
        f"{'yes' if received == intake.accepted else 'NO'}"
    )
    print(
        "  CPU seconds during both storms: "
        + ", ".join(f"{k} {v:.1f}" for k, v in cpu.items())
        + f" (of {(sdk.elapsed + intake.elapsed) * (os.cpu_count() or 1):.1f} available)"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N=100, a storm of 200 notifications, 4 rounds")
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--storm", type=int, default=600, help="notifications")
    parser.add_argument("--per", type=int, default=5, help="alerts per notification")
    parser.add_argument("--keys", type=int, default=20)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=6, help="alternations of SDK and intake in the storm")
    parser.add_argument("--httpx", action="store_true", help="send with httpx instead of the minimal client")
    args = parser.parse_args()
    global USE_HTTPX
    USE_HTTPX = args.httpx
    if args.quick:
        args.n, args.storm, args.rounds = 100, 200, 4
    with tempfile.TemporaryDirectory(prefix="intake-bench-") as tmp:
        stack = Stack(Path(tmp))
        try:
            await stack.start({"WARROOM_INTAKE_ALERTMANAGER_TOKEN": TOKEN})
            client = await Client.connect(stack.address, data_converter=pydantic_data_converter)
            sender = "httpx" if USE_HTTPX else "a minimal HTTP/1.1 client"
            print(f"stack up: Temporal {stack.address}, intake {stack.intake_url}, {os.cpu_count()} CPUs; {sender}")
            print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
            await latency(stack, client, args.n)
            await storm(stack, client, args.storm, args.per, args.keys, args.clients, args.rounds)
            print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        finally:
            stack.stop()


if __name__ == "__main__":
    asyncio.run(main())
