"""What a cached workflow run costs the worker as its history grows (README: Scale and operations, Sizing).

    python bench/cached_history_bench.py [--runs 200] [--steps 0,50,100]

For each step count K, a worker process of its own (the bare SDK, sandboxed, on the dev server) starts
`--runs` workflows that each sleep K times for 1 ms and then wait an hour, so every run stays in
the sticky cache with a history of about 3 + 5·K events. RSS (VmRSS) is read before the runs
start and once all of them are waiting, the worker CPU-idle. Printed: KiB per cached run for each K,
its ratio to K = 0 in the same run, and what one more history event costs while the run is cached.

Why it matters: the worker's core keeps per-event state for every cached run until the run is
evicted or closes, so an incident that stays open for days costs more memory while cached than a
new one, up to `WARROOM_INCIDENT_HISTORY_LIMIT` events per run (it then continues as new).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

MODULE = "cached_history_bench_workflow"
SOURCE = '''"""The workflow of bench/cached_history_bench.py (generated into its temp dir)."""
import asyncio

from temporalio import workflow


@workflow.defn(name="BenchSteps")
class Steps:
    @workflow.run
    async def run(self, steps: int) -> None:
        for _ in range(steps):
            await asyncio.sleep(0.001)
        await asyncio.sleep(3600)
'''


async def measure(steps: int, runs: int, workdir: Path) -> tuple[float, int]:
    """In this process: KiB of RSS per cached run after `steps` steps each, and the events per run."""
    from temporalio.worker import Worker

    from bench.reliability_bench import DevServer, rss_kib

    (workdir / f"{MODULE}.py").write_text(SOURCE, encoding="utf-8")
    sys.path.insert(0, str(workdir))
    module = importlib.import_module(MODULE)
    events = 3 + 5 * steps  # started, first task (3), then per step: task (3) + timer started/fired (2)
    async with DevServer(workdir / "temporal") as server:
        client = await server.client("cached-history-bench")
        async with Worker(client, task_queue="bench", workflows=[module.Steps]):

            async def start(prefix: str, n: int) -> None:
                for i in range(n):
                    await client.start_workflow("BenchSteps", steps, id=f"{prefix}-{i}", task_queue="bench")

            async def settled(prefix: str, n: int) -> None:
                handle = client.get_workflow_handle(f"{prefix}-{n - 1}")
                while (await handle.describe()).raw_description.workflow_execution_info.history_length < events:
                    await asyncio.sleep(0.5)
                await asyncio.sleep(3)

            await start("warm", 10)  # first-use imports and the sandbox's first module load, not counted
            await settled("warm", 10)
            gc.collect()
            before = rss_kib(os.getpid())["VmRSS"]
            await start("run", runs)
            await settled("run", runs)
            gc.collect()
            return (rss_kib(os.getpid())["VmRSS"] - before) / runs, events


def one(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="cached-history-") as workdir:
        kib, events = asyncio.run(measure(args.one, args.runs, Path(workdir)))
    print(f"{kib:.1f} {events}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=200, help="cached runs per step count (default 200)")
    parser.add_argument(
        "--steps",
        type=lambda text: [int(k) for k in text.split(",") if k],
        default=[0, 50, 100],
        help="step counts, comma-separated; the first is the baseline (default 0,50,100)",
    )
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one is not None:
        return one(args)
    print(f"cached history bench: {args.runs} cached runs per step count, a worker process each")
    results: list[tuple[int, float, int]] = []
    for steps in args.steps:
        command = [sys.executable, __file__, "--one", str(steps), "--runs", str(args.runs)]
        out = subprocess.run(command, capture_output=True, text=True, check=False, cwd=ROOT)  # noqa: S603
        if out.returncode != 0:
            print(out.stderr[-2000:], file=sys.stderr)
            return 1
        kib, events = out.stdout.split()[-2:]
        results.append((steps, float(kib), int(events)))
        print(f"  {steps:>4} steps ({events:>4} events per run): {float(kib):6.1f} KiB per cached run", flush=True)
    base_steps, base_kib, base_events = results[0]
    for steps, kib, events in results[1:]:
        per_event = (kib - base_kib) * 1024 / max(1, events - base_events)
        print(
            f"  {steps} steps against {base_steps}: {kib / base_kib:.2f}x the memory per cached run, "
            f"{per_event:.0f} bytes per history event"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
