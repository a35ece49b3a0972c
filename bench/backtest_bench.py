"""Backtest benchmark: 100 recorded incidents re-run under their own runbook, against a plain replay.

    python bench/backtest_bench.py [--incidents 100] [--servers 2] [--quick]

The recorded incidents are the ones committed under tests/ that the current code recorded (the
step-catalog and on-call incidents of tests/histories, and the drill of tests/backtest/drill: real
Prometheus readings and Kubernetes calls), each with its phases, taken in turn until --incidents
are run. (Older recordings run today's code and differ where a revision changed the rules: see
tests/backtest/test_core_identity.py.) The baseline, in the same run, is a plain
`Replayer` pass over the same histories: what checking determinism costs, with no re-execution.

Reported: seconds per incident (p50, p99) for the backtest and the replay, the ratio, the whole
run, and the differences found (the identity check: 0 expected). Goal (issue #16): the whole run
≤ 2 min on 2 cores.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from temporalio.client import WorkflowHistory  # noqa: E402
from temporalio.worker import Replayer  # noqa: E402

from warroom.backtest.compare import backtest_many, default_servers  # noqa: E402
from warroom.client import DATA_CONVERTER  # noqa: E402
from warroom.config import RunbookConfig  # noqa: E402
from workflows.registry import WORKFLOWS  # noqa: E402

HISTORIES = ROOT / "tests" / "histories"
CURRENT = ("incident-order-api-step-catalog", "incident-order-api-oncall-pages")
DRILL = ROOT / "tests" / "backtest" / "drill"
PHASES = ["detection", "declare", "command", "resolve", "retrospective"]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def _load(paths: list[Path]) -> list[WorkflowHistory]:
    """The incident's own history first, then its phases in the order they start."""
    ordered = sorted(paths, key=lambda p: -1 if "--" not in p.stem else PHASES.index(p.stem.rsplit("--", 1)[1]))
    return [WorkflowHistory.from_json(p.stem, p.read_text()) for p in ordered]


def recorded_incidents() -> list[list[WorkflowHistory]]:
    incidents = [_load([HISTORIES / f"{wid}.json", *HISTORIES.glob(f"{wid}--*.json")]) for wid in CURRENT]
    return [*incidents, _load(sorted(DRILL.glob("*.json")))]


async def main(count: int, servers: int) -> None:
    from warroom.cli.backtest import quiet_temporal

    quiet_temporal()  # the Temporal core's log lines would bury the numbers
    incidents = recorded_incidents()
    chosen = [incidents[i % len(incidents)] for i in range(count)]
    replayer = Replayer(workflows=WORKFLOWS, data_converter=DATA_CONVERTER)
    replay_seconds: list[float] = []
    for histories in chosen:
        started = time.perf_counter()
        for history in histories:
            await replayer.replay_workflow(history)
        replay_seconds.append(time.perf_counter() - started)

    jobs = []
    for histories in chosen:
        started_input = next(
            e for e in histories[0].events if e.HasField("workflow_execution_started_event_attributes")
        )
        payloads = started_input.workflow_execution_started_event_attributes.input.payloads
        (inp,) = DATA_CONVERTER.payload_converter.from_payloads(payloads, [dict])
        jobs.append((histories, RunbookConfig.model_validate(inp["runbook"])))

    def progress(done: int, total: int, incident: str) -> None:
        print(f"\r  backtested {done}/{total}", end="", file=sys.stderr, flush=True)

    timings: dict[int, float] = {}
    run_started = time.perf_counter()
    results = await backtest_many(jobs, DATA_CONVERTER, servers, progress, timings)
    backtest_seconds = [timings[i] for i in range(count)]
    whole = time.perf_counter() - run_started
    print(file=sys.stderr)
    differences = sum(len(r.differences) for r in results)
    divergences = sum(len(r.divergences) for r in results)
    stranded = sum(1 for r in results for d in r.divergences if d.kind == "failed")
    print(
        f"{count} recorded incidents ({len(incidents)} distinct, each with its phases), under their own runbook, "
        f"on {servers} time-skipping server(s)"
    )
    print(f"  backtest throughput: {whole / count:6.3f} s per incident ({count / whole:.2f} incidents/s)")
    slowest = max(range(count), key=lambda i: backtest_seconds[i])
    print(f"  slowest: {results[slowest].incident_id} {backtest_seconds[slowest]:.1f} s")
    # Each run's own wall time (with --servers > 1, runs on the other servers overlap it).
    for name, values in (("backtest", backtest_seconds), ("plain replay", replay_seconds)):
        print(
            f"  {name:<13}: p50 {statistics.median(values):6.3f} s   p99 {percentile(values, 99):6.3f} s per incident"
        )
    ratio = statistics.median(backtest_seconds) / statistics.median(replay_seconds)
    throughput = (whole / count) / statistics.mean(replay_seconds)
    print(f"  backtest/replay: p50 {ratio:.2f}x per run; throughput {throughput:.2f}x the replay's mean")
    for result in results:
        for d in result.divergences[:3]:
            print(f"    divergence {result.incident_id} at {d.offset:.0f}s: {d.kind}: {d.detail[:160]}")
        for f in result.differences[:3]:
            print(f"    difference {result.incident_id}: {f.change} {f.decision.kind} {f.decision.key[:80]}")
    print(
        f"  whole backtest run: {whole:.1f} s (goal ≤ 120 s for 100); differences {differences}, "
        f"divergences {divergences} ({stranded} runs stranded by the test server twice)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--incidents", type=int, default=100)
    parser.add_argument("--servers", type=int, default=default_servers(), help="time-skipping servers at once")
    parser.add_argument("--quick", action="store_true", help="12 incidents")
    args = parser.parse_args()
    asyncio.run(main(12 if args.quick else args.incidents, args.servers))
