"""What a cached workflow run's payloads cost a worker in memory, with and without compression.

    python bench/payload_memory_bench.py [--runs 300] [--sizes 8000,32000] [--signals 2]

The bare SDK, unsandboxed, on the dev server: a workflow that takes one string argument and waits
an hour stays in the sticky cache. For each input size, one worker process (its own, so the
allocator starts fresh) starts `--runs` of them and reads its RSS and glibc's heap in use
(mallinfo2) before and after; the baseline, measured in the same run, is the same workflow with
an empty input. The text is the incident runbook's JSON repeated: it compresses better than one
runbook does (the repeats), so the compressed rows are a lower bound. Then the same with
`--signals` signals of the same size each, and with warroom's compression codec on client and
worker (warroom/compression.py).

What it shows (README, Compressed payloads): each byte a cached run took in as a payload costs the
worker several bytes for as long as the run stays cached.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import dataclasses
import gc
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

WORKFLOW = """
import asyncio
from temporalio import workflow


@workflow.defn(name="PayloadHolder")
class PayloadHolder:
    def __init__(self) -> None:
        self.signals = 0

    @workflow.signal
    def poke(self, data: str) -> None:
        self.signals += 1

    @workflow.run
    async def run(self, data: str) -> None:
        await asyncio.sleep(3600)
"""


class MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


def heap_in_use_kib() -> float:
    """glibc's bytes in use (small and mmapped chunks): Python's large objects and the SDK core's."""
    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = MallInfo2
    info = libc.mallinfo2()
    return (info.uordblks + info.hblkhd) / 1024


def text(size: int) -> str:
    from warroom.runbook import load_runbook

    unit = json.dumps(json.loads(load_runbook().model_dump_json()))
    return (unit * (size // len(unit) + 1))[:size]


async def measure(size: int, runs: int, signals: int, compressed: bool) -> dict[str, float]:
    """One configuration in this process: KiB per cached run, RSS and heap in use."""
    from reliability_bench import DevServer, rss_kib
    from temporalio.client import Client
    from temporalio.contrib.pydantic import pydantic_data_converter
    from temporalio.worker import UnsandboxedWorkflowRunner, Worker

    from warroom.compression import CompressionCodec

    workdir = Path(tempfile.mkdtemp(prefix="payload-memory-"))
    (workdir / "holder.py").write_text(WORKFLOW)
    sys.path.insert(0, str(workdir))
    import holder  # type: ignore[import-not-found]

    converter = pydantic_data_converter
    if compressed:
        converter = dataclasses.replace(converter, payload_codec=CompressionCodec())
    async with DevServer(workdir / "temporal") as server:
        client = await Client.connect(server.address, data_converter=converter)
        data = text(size)
        worker = Worker(
            client,
            task_queue="payloads",
            workflows=[holder.PayloadHolder],
            workflow_runner=UnsandboxedWorkflowRunner(),
        )
        async with worker:
            for i in range(20):  # first-use costs (imports, caches) before the measurement
                await client.start_workflow("PayloadHolder", data, id=f"warm-{i}", task_queue="payloads")
            await asyncio.sleep(3)
            gc.collect()
            rss, heap = rss_kib(os.getpid())["VmRSS"], heap_in_use_kib()
            handles = [
                await client.start_workflow("PayloadHolder", data, id=f"run-{i}", task_queue="payloads")
                for i in range(runs)
            ]
            for _ in range(signals):
                for handle in handles:
                    await handle.signal("poke", data)
            await asyncio.sleep(6)
            gc.collect()
            return {"rss": (rss_kib(os.getpid())["VmRSS"] - rss) / runs, "heap": (heap_in_use_kib() - heap) / runs}


def run_child(args: argparse.Namespace, size: int, signals: int, compressed: bool) -> dict[str, float]:
    command = [sys.executable, __file__, "--child", f"{size},{signals},{int(compressed)}", "--runs", str(args.runs)]
    answer = subprocess.run(
        command, capture_output=True, text=True, check=False, env={**os.environ, "PYTHONPATH": str(ROOT)}
    )
    if answer.returncode != 0:
        raise SystemExit(f"measurement {size},{signals},{compressed} failed:\n{answer.stderr[-3000:]}")
    return dict(json.loads(answer.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=300, help="cached runs measured per configuration (default 300)")
    parser.add_argument("--sizes", default="8000,32000", help="input sizes in bytes besides the empty baseline")
    parser.add_argument(
        "--signals", type=int, default=2, help="signals of the same size in the signal rows (default 2)"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        size, signals, compressed = (int(part) for part in args.child.split(","))
        import logging

        logging.disable(logging.WARNING)  # the SDK core's warnings would mix with the answer
        print(json.dumps(asyncio.run(measure(size, args.runs, signals, bool(compressed)))))
        return

    print(f"cached-run memory per payload, {args.runs} runs each, a worker process per row (bare SDK, unsandboxed)")
    base = run_child(args, 0, 0, False)
    print(f"  {'empty input (baseline)':<38}: {base['rss']:6.1f} KiB RSS, heap in use {base['heap']:6.1f} KiB per run")
    rows = []
    for size in (int(s) for s in args.sizes.split(",") if s):
        rows += [(size, 0, False), (size, args.signals, False), (size, 0, True), (size, args.signals, True)]
    for size, signals, compressed in rows:
        r = run_child(args, size, signals, compressed)
        payload_kib = size * (1 + signals) / 1024
        label = f"{size} B input" + (f" + {signals} signals" if signals else "") + (" compressed" if compressed else "")
        extra = r["rss"] - base["rss"]
        print(
            f"  {label:<38}: {r['rss']:6.1f} KiB RSS (+{extra:.1f}, {extra / payload_kib:.1f}x the "
            f"{payload_kib:.1f} KiB of payload), heap in use {r['heap']:6.1f} KiB per run"
        )


if __name__ == "__main__":
    main()
