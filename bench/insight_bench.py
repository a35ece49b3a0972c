"""Worker overhead of metrics (issue 17, Insight): escalation lateness and CPU per incident, metrics
on against off, in the same run. Goal: on ≤ 1.1× off.

    python bench/insight_bench.py            # 200 incidents per worker, escalations due after 120 s
    python bench/insight_bench.py --quick    # 20 incidents, 45 s, two rounds
    python bench/insight_bench.py --tracing  # two more workers: metrics and tracing on, every trace or 1 in 10

One Temporal dev server; for each mode a worker *subprocess* (this script with --serve-worker)
runs N declared P2 incidents started together whose `escalate_after` is --escalate-after seconds
(bench/reliability_bench.py's section 2 set-up, imported from it). Lateness = when the notify
activity hands the "escalation" page to the sink − (declared_at + escalate_after). CPU per incident
= the worker process's CPU seconds from ready to the last escalation, / N.

  off   WARROOM_WORKER_METRICS_ADDRESS empty: no endpoint, no SDK Prometheus runtime.
  on    the endpoint (warroom's registry and the SDK's Prometheus telemetry on one port) and the
        open-incident poller; the bench scrapes /metrics every 15 s while it runs, as
        deploy/prometheus.yml does, so the scrape's cost is in the number.
The modes run side by side, each worker on a task queue of its own with its own incidents, due at
the same moment: a machine shared with other work (CI, a laptop) loads every mode alike, which
running them one after another did not (two runs on the same quiet machine differed by 1.01× and 1.45×
in CPU). Each round starts the modes in another order; each number is the mean over the rounds
(--rounds, default 2). --sequential runs them one after another instead.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # reliability_bench, beside this file

import reliability_bench as rb  # noqa: E402

ROOT = rb.ROOT
GOAL = 1.1
SCRAPE_EVERY = 15.0
"""Seconds between scrapes: deploy/prometheus.yml's scrape_interval."""


def tracing_interceptors(enabled: bool) -> list[Any]:
    """Tracing on as production batches it (`warroom.telemetry.tracing.turn_on`: the spans kept in
    memory rather than sent, so the bench measures making them, not a collector). `connect` then
    passes the interceptors itself (`tracing.interceptors()`)."""
    if not enabled:
        return []
    from warroom.telemetry import tracing

    return tracing.turn_on(None, service="insight-bench")


async def serve_worker(args: argparse.Namespace) -> None:
    """--serve-worker off|on: one warroom worker (sandboxed, as deployed) until terminated."""
    from warroom.client import connect
    from warroom.settings import Settings
    from warroom.telemetry.endpoint import WorkerTelemetry
    from warroom.worker import build_worker

    workdir = Path(args.workdir)
    telemetry = WorkerTelemetry.start(args.metrics_address) if args.serve_worker != "off" else None
    if args.serve_worker != "off" and telemetry is None:
        raise SystemExit(f"cannot serve metrics on {args.metrics_address}")
    if args.serve_worker == "sampled":  # one trace in ten, whole (the SDK reads these when it starts)
        os.environ |= {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.1"}
    tracing_interceptors(args.serve_worker in ("tracing", "sampled"))
    settings = Settings(temporal_address=args.address, task_queue=args.task_queue, worker_metrics_address="")
    runtime = telemetry.runtime if telemetry else None
    client = await connect(settings, identity=f"insight-bench-{args.serve_worker}", wait=30, runtime=runtime)
    worker = build_worker(client, args.task_queue, rb.timed_sink(workdir, workdir / "deliveries.jsonl"))
    async with worker:
        if telemetry is not None:
            telemetry.watch(client)
        (workdir / "ready").write_text(str(os.getpid()))
        while os.getppid() == args.parent_pid:  # the bench died without stopping us: stop too
            await asyncio.sleep(1)


class Worker:
    """This script with --serve-worker `mode`, in a process of its own."""

    def __init__(self, mode: str, server: Any, workdir: Path) -> None:
        self.mode, self.server = mode, server
        self.workdir = workdir / f"worker-{mode}-{uuid.uuid4().hex[:4]}"
        self.queue = f"insight-{mode}-{uuid.uuid4().hex[:6]}"
        self.address = f"127.0.0.1:{rb.free_port()}"
        self.log = self.workdir / "worker.log"
        self.proc: Any = None

    async def __aenter__(self) -> Worker:
        self.workdir.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, str(Path(__file__).resolve()), "--serve-worker", self.mode]
        command += ["--address", self.server.address, "--task-queue", self.queue, "--workdir", str(self.workdir)]
        command += ["--parent-pid", str(os.getpid()), "--metrics-address", self.address]
        self.proc = rb.CHILDREN.spawn(command, self.log, {"PYTHONPATH": str(ROOT)})
        deadline = time.monotonic() + 90
        while not (self.workdir / "ready").exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the {self.mode} worker did not come up:\n{rb.tail(self.log)}")
            await asyncio.sleep(0.1)
        return self

    async def __aexit__(self, *exc: object) -> None:
        rb.CHILDREN.stop(self.proc)

    def records(self) -> list[dict[str, Any]]:
        path = self.workdir / "deliveries.jsonl"
        if not path.exists():
            return []
        import json

        return [json.loads(line) for line in path.read_text().splitlines() if line.endswith("}")]


async def scrape(address: str, every: float) -> None:
    """Read /metrics as Prometheus would (more often), until cancelled."""
    while True:
        await asyncio.to_thread(lambda: urllib.request.urlopen(f"http://{address}/metrics", timeout=10).read())
        await asyncio.sleep(every)


async def terminate(client: Any, queue: str) -> None:
    handles = [
        client.get_workflow_handle(wf.id, run_id=wf.run_id)
        async for wf in client.list_workflows(f"TaskQueue = '{queue}' AND ExecutionStatus = 'Running'")
        if not wf.parent_id
    ]

    async def end(handle: Any) -> None:
        from temporalio.service import RPCError

        try:
            await handle.terminate(reason="insight bench: measured")
        except RPCError:
            pass  # it ended meanwhile

    await rb.bounded(20, [lambda h=h: end(h) for h in handles])


async def one_run(mode: str, client: Any, server: Any, workdir: Path, n: int, after: float) -> dict[str, Any]:
    async with Worker(mode, server, workdir) as worker:
        scraper = asyncio.create_task(scrape(worker.address, SCRAPE_EVERY)) if mode != "off" else None
        cpu_before = rb.cpu_seconds(worker.proc.pid)
        prefix = f"insight-{mode}-{uuid.uuid4().hex[:4]}"
        await rb.start_incidents(
            client, worker.queue, rb.timers_runbook(after), n, prefix, f"{mode}: incidents started"
        )

        def escalated() -> int:
            return len({r["id"] for r in worker.records() if r["template"] == "escalation" and r["channel"] == "page"})

        progress = rb.Counter(f"{mode}: escalations delivered", n)
        await rb.wait_until(
            lambda: progress.update(escalated()) or escalated() >= n, after + 600, "every escalation", 0.5
        )
        progress.close()
        cpu = rb.cpu_seconds(worker.proc.pid) - cpu_before
        text = ""
        if scraper is not None:
            scraper.cancel()
            text = urllib.request.urlopen(f"http://{worker.address}/metrics", timeout=10).read().decode()
        _, late = await rb.escalation_lateness(client, worker.records(), after)
        await terminate(client, worker.queue)  # the next mode's dev server fires none of these timers
    if mode != "off":
        assert "warroom_deadlines_fired_total" in text and "temporal_workflow_task_execution_latency" in text, (
            "the metrics endpoint served no deadline or SDK metrics"
        )
    return {"p50": statistics.median(late), "p99": rb.percentile(late, 99), "cpu_per_incident": cpu / n}


async def bench(args: argparse.Namespace, workdir: Path) -> int:
    modes = ["off", "on"] + (["tracing", "sampled"] if args.tracing else [])
    n, after = args.incidents, args.escalate_after
    print(
        f"insight bench: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; {n} P2 incidents per worker, "
        f"escalate_after {after:g} s, modes {' '.join(modes)} × {args.rounds} rounds, "
        + ("one after another" if args.sequential else "side by side")
        + ("; quick run" if args.quick else "")
    )
    main_task = asyncio.current_task()
    assert main_task is not None
    for signum in (signal.SIGINT, signal.SIGTERM):  # unwind: the workers and the dev server stop too
        asyncio.get_running_loop().add_signal_handler(signum, main_task.cancel)
    runs: dict[str, list[dict[str, Any]]] = {m: [] for m in modes}
    async with rb.DevServer(workdir / "temporal") as server:
        client = await server.client("insight-bench")
        for round_ in range(args.rounds):
            # Each round starts the modes in another order, so none always goes first.
            order = modes[round_ % len(modes) :] + modes[: round_ % len(modes)]
            if args.sequential:
                results = [await one_run(m, client, server, workdir / f"round{round_}", n, after) for m in order]
            else:
                results = list(
                    await asyncio.gather(
                        *(one_run(m, client, server, workdir / f"round{round_}", n, after) for m in order)
                    )
                )
            for mode, result in zip(order, results, strict=True):
                runs[mode].append(result)
                print(
                    f"  round {round_ + 1} {mode:>7}: lateness p50 {result['p50']:7.1f} ms  p99 {result['p99']:7.1f} ms  "
                    f"CPU {result['cpu_per_incident'] * 1000:6.1f} ms/incident"
                )
    mean = {m: {k: statistics.mean(r[k] for r in rs) for k in rs[0]} for m, rs in runs.items()}
    base = mean["off"]
    print("\n  mode     lateness p50   lateness p99   CPU/incident    ratio p50  p99   CPU")
    verdicts: dict[str, bool] = {}
    for mode in modes:
        x = mean[mode]
        ratios = [x[k] / base[k] if base[k] else float("nan") for k in ("p50", "p99", "cpu_per_incident")]
        print(
            f"  {mode:<7} {x['p50']:10.1f} ms  {x['p99']:10.1f} ms  {x['cpu_per_incident'] * 1000:10.1f} ms"
            f"    {ratios[0]:5.2f}x {ratios[1]:5.2f}x {ratios[2]:5.2f}x"
        )
        if mode != "off":
            verdicts[mode] = ratios[1] <= GOAL and ratios[2] <= GOAL
    print(f"\n  goal: each mode ≤ {GOAL}× off (p99 lateness and CPU per incident):")
    for mode, met in verdicts.items():
        print(f"    {mode:<7} {rb.verdict(met)}")
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="20 incidents, escalations after 45 s")
    parser.add_argument("--incidents", type=int, help="incidents per worker (default 200, quick 20)")
    parser.add_argument("--escalate-after", type=float, help="P2 escalate_after in seconds (default 120, quick 45)")
    parser.add_argument("--rounds", type=int, help="off/on rounds (default 2)")
    parser.add_argument(
        "--tracing",
        action="store_true",
        help="two more modes: metrics and tracing on (every trace), and sampled (one trace in ten)",
    )
    parser.add_argument(
        "--sequential",
        action="store_true",
        help="run the modes one after another (default: side by side, so a shared machine's load falls on all alike)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, databases) and print it")
    parser.add_argument("--serve-worker", choices=("off", "on", "tracing", "sampled"), help=argparse.SUPPRESS)
    for hidden in ("--address", "--task-queue", "--workdir", "--metrics-address"):
        parser.add_argument(hidden, help=argparse.SUPPRESS)
    parser.add_argument("--parent-pid", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for name, full, fast in (("incidents", 200, 20), ("escalate_after", 120.0, 45.0), ("rounds", 2, 2)):
        if getattr(args, name) is None:
            setattr(args, name, fast if args.quick else full)
    return args


def main() -> int:
    args = parse_args()
    if args.serve_worker:
        try:
            asyncio.run(serve_worker(args))
        except KeyboardInterrupt:
            pass
        return 0
    workdir = Path(tempfile.mkdtemp(prefix="insight-bench-"))
    rb.quiet_sdk_logs(workdir / "bench.log")
    try:
        return asyncio.run(bench(args, workdir))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        rb.finish(workdir, args.keep)


if __name__ == "__main__":
    sys.exit(main())
