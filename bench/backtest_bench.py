"""Backtest benchmark: 100 recorded incidents re-run under their own runbook, against a plain replay.

    python bench/backtest_bench.py [--incidents 100]

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

from warroom.backtest.compare import backtest_incident  # noqa: E402
from warroom.backtest.replay import Backtester  # noqa: E402
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


async def main(count: int) -> None:
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

    backtest_seconds: list[float] = []
    differences = divergences = 0
    run_started = time.perf_counter()
    async with Backtester.start() as backtester:
        for i, histories in enumerate(chosen, 1):
            started_input = next(
                e for e in histories[0].events if e.HasField("workflow_execution_started_event_attributes")
            )
            payloads = started_input.workflow_execution_started_event_attributes.input.payloads
            (inp,) = DATA_CONVERTER.payload_converter.from_payloads(payloads, [dict])
            runbook = RunbookConfig.model_validate(inp["runbook"])
            started = time.perf_counter()
            result = await backtest_incident(backtester, histories, runbook, DATA_CONVERTER)
            backtest_seconds.append(time.perf_counter() - started)
            differences += len(result.differences)
            divergences += len(result.divergences)
            print(f"\r  backtested {i}/{len(chosen)}", end="", file=sys.stderr, flush=True)
    whole = time.perf_counter() - run_started
    print(file=sys.stderr)
    print(f"{count} recorded incidents ({len(incidents)} distinct, each with its phases), under their own runbook")
    for name, values in (("backtest", backtest_seconds), ("plain replay", replay_seconds)):
        print(
            f"  {name:<13}: p50 {statistics.median(values):6.3f} s   p99 {percentile(values, 99):6.3f} s per incident"
        )
    ratio = statistics.median(backtest_seconds) / statistics.median(replay_seconds)
    print(f"  backtest/replay: p50 {ratio:.1f}x")
    print(f"  whole backtest run: {whole:.1f} s (goal ≤ 120 s); differences {differences}, divergences {divergences}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--incidents", type=int, default=100)
    asyncio.run(main(parser.parse_args().incidents))
