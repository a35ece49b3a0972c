"""Bounded histories benchmark: one incident receiving an alert storm through the real intake.

    python bench/history_bench.py [--alerts 20000] [--limit 10000] [--clients 4]
    python bench/history_bench.py --quick          # 2,000 alerts, limit 500

Starts its own stack (bench/stack.py: a Temporal dev server, the worker, the intake, each its own
process) with WARROOM_INCIDENT_HISTORY_LIMIT set, and POSTs Alertmanager-format alerts of ONE group
(so one incident) from `--clients` concurrent HTTP clients. Then:

1. History: the incident's runs (continue-as-new) and the events in each; goal: every run under the
   limit plus the handful a quiet point may take (no run near Temporal's 51,200).
2. Ack latency: p99 of the intake's 2xx answers, the last 100 against the first 100 (the baseline,
   same run); goal ≤ 1.5x: a long incident answers as fast as a fresh one.
3. Nothing lost: the incident's alerts_received equals the 2xx answers.
4. `warroom audit ID` of the whole chain (every run and phase), as a subprocess the way a person
   runs it; goal < 10 s. Then `--verify`, which also replays every history: reported, no goal.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.intake_bench import TOKEN, alertmanager_body, percentile  # noqa: E402
from bench.stack import Stack  # noqa: E402
from warroom.audit import audit_rows, incident_histories, run_histories, verify  # noqa: E402
from warroom.incidents import Incidents  # noqa: E402


async def storm(stack: Stack, total: int, clients: int, group: str) -> tuple[list[float], Counter[int], str]:
    """POST `total` alerts of one group (the first alone: it opens the incident); the ack latencies
    in send order (ms), the status codes, the incident's workflow id."""
    latencies: list[float | None] = [None] * total
    codes = Counter[int]()
    workflow_ids: set[str] = set()
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(total):
        queue.put_nowait(i)

    async def sender(alone: bool = False) -> None:
        async with httpx.AsyncClient(
            base_url=stack.intake_url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60
        ) as http:
            while not queue.empty():
                i = queue.get_nowait()
                started = time.perf_counter()
                try:
                    response = await http.post("/alerts/alertmanager", json=alertmanager_body(group, f"pod-{i % 50}"))
                except httpx.TransportError:
                    codes[0] += 1
                    continue
                latencies[i] = (time.perf_counter() - started) * 1000
                codes[response.status_code] += 1
                if response.status_code == 200:
                    workflow_ids.add(response.json()["workflow_id"])
                if alone:
                    return

    await sender(alone=True)
    await asyncio.gather(*(sender() for _ in range(clients)))
    if len(workflow_ids) != 1:
        raise SystemExit(f"expected one incident, got {sorted(workflow_ids)}")
    return [v for v in latencies if v is not None], codes, workflow_ids.pop()


def audit(stack: Stack, workflow_id: str, *flags: str) -> tuple[float, int, str]:
    """`warroom audit ID --format json [flags]` as a person runs it: seconds, exit code, what it said."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "warroom.cli", "audit", workflow_id, "--format", "json", *flags],
        cwd=ROOT,
        env={**os.environ, **stack.env},
        capture_output=True,
        text=True,
        timeout=900,
    )
    took = time.perf_counter() - started
    if done.returncode:
        return took, done.returncode, (done.stderr.strip().splitlines() or ["?"])[-1]
    report = json.loads(done.stdout)
    replayed = sum(check["ok"] for check in report["verification"])
    said = f"{len(report['events'])} rows" + (f", {replayed} of {len(report['verification'])} replay" if flags else "")
    return took, 0, said


async def profile(client: Client, workflow_id: str) -> None:
    """cProfile of the audit's fetch and rows (this process runs nothing else meanwhile: the stack is subprocesses)."""
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    rows = await audit_rows(await incident_histories(client, workflow_id), client.data_converter)
    profiler.disable()
    print(f"profiled audit: {len(rows)} rows")
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=20_000)
    parser.add_argument("--limit", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--quick", action="store_true", help="2,000 alerts, limit 500")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also profile the in-process audit (fetch and rows): top 30 by cumulative",
    )
    args = parser.parse_args()
    if args.quick:
        args.alerts, args.limit = 2_000, 500
    with tempfile.TemporaryDirectory(prefix="history-bench-") as tmp:
        stack = Stack(Path(tmp))
        try:
            stack.env["WARROOM_INCIDENT_HISTORY_LIMIT"] = str(args.limit)
            await stack.start({"WARROOM_INTAKE_ALERTMANAGER_TOKEN": TOKEN, **stack.env})
            client = await Client.connect(stack.address, data_converter=pydantic_data_converter)
            print(f"stack up: Temporal {stack.address}, intake {stack.intake_url}, {os.cpu_count()} CPUs")
            print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
            began = time.perf_counter()
            took, codes, workflow_id = await storm(stack, args.alerts, args.clients, f"history-{uuid.uuid4().hex[:6]}")
            elapsed = time.perf_counter() - began
            print(
                f"storm: {args.alerts} Alertmanager POSTs, one group, {args.clients} clients: "
                f"{args.alerts / elapsed:.1f} requests/s ({elapsed:.1f} s), status codes {dict(sorted(codes.items()))}"
            )

            runs = await run_histories(client, workflow_id)
            sizes = [len(run.events) for run in runs]
            print(
                f"history: {len(runs)} runs, events per run max {max(sizes)} (limit {args.limit}; "
                f"Temporal refuses 51,200), all {sum(sizes)}: {sizes if len(sizes) <= 12 else sizes[:12] + ['...']}"
            )

            first, last = took[:100], took[-100:]
            ratio = percentile(last, 99) / percentile(first, 99)
            print(
                f"ack: first 100 p50 {statistics.median(first):.1f} ms p99 {percentile(first, 99):.1f} ms; "
                f"last 100 p50 {statistics.median(last):.1f} ms p99 {percentile(last, 99):.1f} ms; "
                f"all p99 {percentile(took, 99):.1f} ms max {max(took):.1f} ms"
            )
            print(f"  ratio last/first p99 {ratio:.2f}x (goal ≤ 1.5x)")

            state = await Incidents(client).state(workflow_id)
            print(
                f"nothing lost: alerts_received {state.alerts_received} = 2xx answers {codes[200]}: "
                f"{'yes' if state.alerts_received == codes[200] else 'NO'}; timeline {len(state.timeline)} entries"
            )

            began = time.perf_counter()
            histories = await incident_histories(client, workflow_id)
            fetched = time.perf_counter() - began
            rows = await audit_rows(histories, client.data_converter)
            described = time.perf_counter() - began - fetched
            checks = await verify(histories, converter=client.data_converter)
            replayed = time.perf_counter() - began - fetched - described
            print(
                f"audit in process: fetch {len(histories)} histories {fetched:.1f} s, {len(rows)} rows {described:.1f} s, "
                f"replay {replayed:.1f} s ({sum(c.ok for c in checks)} of {len(checks)} replay)"
            )
            if args.profile:
                await profile(client, workflow_id)
            seconds, code, said = audit(stack, workflow_id)
            print(f"warroom audit of the whole chain: {seconds:.1f} s (goal < 10 s), exit {code}, {said}")
            seconds, code, said = audit(stack, workflow_id, "--verify")
            print(f"warroom audit --verify (every run and phase replayed): {seconds:.1f} s, exit {code}, {said}")
            print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        finally:
            stack.stop()


if __name__ == "__main__":
    asyncio.run(main())
