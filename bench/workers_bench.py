"""Many workers (#18 item 4): three warroom worker processes on one task queue, N open incidents whose P2
escalation falls due together, one worker killed with SIGKILL while the escalations are due.

    python bench/workers_bench.py            # 600 incidents, escalate_after 240 s (takes a while)
    python bench/workers_bench.py --quick    # 120 incidents, escalate_after 90 s

A Temporal dev server (SQLite file in a temp dir), then three worker subprocesses (this script with
--serve-worker: `warroom.worker.build_worker`, sandboxed as deployed, no cluster, no metrics) polling
one task queue and sharing one data dir, as pods on one volume would. N declared P2 incidents (IC
alice) start together with `escalate_after` shortened so every escalation falls due at about the same
time, after the start-up. Once a tenth of the escalation pages were handed to a sink, the first
worker gets SIGKILL: its cached workflows, its polled workflow tasks and its running activities are
gone without a word to the server.

Measured, from each worker's record of every attempt (incident, template, attempt number, the
deadline's due time from the notification's context, wall clock) and from the shared sink's
delivery ledger (`<incident>.delivered.jsonl`, one line per logged message and delivery key), and
from the histories (each incident's state, read by query, replays its history):
- lost: incidents with no escalation page logged;
- duplicated: incidents with more than one escalation page logged;
- fired: incidents whose timeline does not hold exactly one `escalate` event;
- lateness: the page logged − the deadline's due time, p50/p99/max, split into incidents whose page
  was retried (an attempt that ran on the killed worker) and the others.
The baseline is the same run's own due times: a bare-SDK comparison is reliability_bench section 2.

What bounds the lateness after the kill (SDK and server defaults, nothing warroom sets):
- a workflow task sent to the killed worker's sticky queue moves to the shared queue after the sticky
  schedule-to-start timeout (10 s); one it had already polled is retried after the workflow task
  timeout (10 s), and the server then drops the stickiness, so an escalation (an incident and its
  phase, each possibly cached on the killed worker) waits at most about 2 × 10 s more;
- a notify activity running on the killed worker is retried only when its start-to-close timeout
  (60 s, warroom.contracts.notify) passes, plus the retry's first interval (1 s).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.reliability_bench import (  # noqa: E402
    CHILDREN,
    Counter,
    DevServer,
    bounded,
    finish,
    percentile,
    quiet_sdk_logs,
    start_incidents,
    tail,
    timers_runbook,
    wait_until,
)

WORKERS = 3
STICKY_TIMEOUT_S = 10.0  # temporalio Worker(sticky_queue_schedule_to_start_timeout=...) default
TASK_TIMEOUT_S = 10.0  # the server's default workflow task timeout (warroom sets none)
NOTIFY_START_TO_CLOSE_S = 60.0  # warroom.contracts.notify.NOTIFY
NOTIFY_FIRST_RETRY_S = 1.0


# =============================================================================================
# The worker subprocess
# =============================================================================================


def recording_sink(root: Path, attempts: Path) -> Any:
    """warroom's LocalSink over the shared data dir, noting every attempt it is handed (a retry too)."""
    from temporalio import activity

    from activities.notify import LocalSink

    class RecordingSink(LocalSink):
        def __init__(self) -> None:
            super().__init__(root, echo=False)
            self._out = attempts.open("a", encoding="utf-8", buffering=1)

        async def deliver(self, notification: Any, text: str) -> str:
            info = activity.info()
            self._out.write(
                json.dumps(
                    {
                        "id": notification.incident_id,
                        "channel": notification.channel,
                        "template": notification.template,
                        "deadline_kind": notification.context.get("deadline_kind"),
                        "attempt": info.attempt,
                        "pid": os.getpid(),
                        "t": time.time(),
                    }
                )
                + "\n"
            )
            return await super().deliver(notification, text)

    return RecordingSink()


async def serve_worker(args: argparse.Namespace) -> None:
    from warroom.client import connect
    from warroom.settings import Settings
    from warroom.worker import build_worker

    workdir = Path(args.workdir)
    client = await connect(
        Settings(temporal_address=args.address, task_queue=args.task_queue), identity=f"workers-bench-{os.getpid()}"
    )
    worker = build_worker(client, args.task_queue, recording_sink(Path(args.data_dir), workdir / "attempts.jsonl"))
    async with worker:
        (workdir / "ready").write_text(str(os.getpid()))
        while os.getppid() == args.parent_pid:  # the bench (or test) that started us is gone: stop too
            await asyncio.sleep(1)


class WorkerProc:
    """One worker subprocess; `kill9` is SIGKILL to it alone."""

    def __init__(self, index: int, address: str, queue: str, data_dir: Path, workdir: Path) -> None:
        self.index = index
        self.workdir = workdir / f"worker-{index}"
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log = self.workdir / "worker.log"
        self.proc = CHILDREN.spawn(
            [
                sys.executable,
                str(Path(__file__).resolve()),
                "--serve-worker",
                "--address",
                address,
                "--task-queue",
                queue,
                "--workdir",
                str(self.workdir),
                "--data-dir",
                str(data_dir),
                "--parent-pid",
                str(os.getpid()),
            ],
            self.log,
            {"PYTHONPATH": str(ROOT)},
        )
        self.killed_at: float | None = None

    async def ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while not (self.workdir / "ready").exists():
            self.check()
            if time.monotonic() > deadline:
                raise SystemExit(f"worker {self.index} did not come up:\n{tail(self.log)}")
            await asyncio.sleep(0.1)

    def check(self) -> None:
        if self.killed_at is None and self.proc.poll() is not None:
            raise SystemExit(f"worker {self.index} exited ({self.proc.returncode}):\n{tail(self.log)}")

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self.killed_at = time.time()

    def attempts(self) -> list[dict[str, Any]]:
        return read_jsonl(self.workdir / "attempts.jsonl")


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.endswith("}")]


# =============================================================================================
# The scenario (also run by tests/scale_workers/test_many_workers.py, smaller)
# =============================================================================================


@dataclass
class Outcome:
    n: int
    started_s: float
    in_command_s: float
    first_due_s: float
    kill_s: float
    lost: list[str]
    duplicated: list[str]
    not_fired_once: list[str]
    late_ms: dict[str, float]
    backlog_ms: dict[str, float]
    """How long after its deadline an incident's start-up (Declare) still ran: a loaded machine's share."""
    retried: set[str]
    killed: int
    """The worker killed: the one that had attempted the most escalation pages by then."""
    attempts_on_killed: int
    workers_used: dict[int, int] = field(default_factory=dict)

    def lateness(self, retried: bool) -> list[float]:
        return [ms for i, ms in self.late_ms.items() if (i in self.retried) == retried]


def ledger(data_dir: Path) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    for path in (data_dir / "channels").glob("*.delivered.jsonl"):
        entries += read_jsonl(path)
    return entries


async def scenario(n: int, after: float, workdir: Path, kill_fraction: float = 0.1, progress: bool = True) -> Outcome:
    """N incidents on three workers, one killed once `kill_fraction` of the escalation pages were attempted."""
    from warroom.incidents import Incidents

    data_dir = workdir / "data"
    prefix = f"w{uuid.uuid4().hex[:5]}"
    async with DevServer(workdir / "temporal") as server:
        client = await server.client()
        queue = f"workers-{uuid.uuid4().hex[:6]}"
        workers = [WorkerProc(i, server.address, queue, data_dir, workdir) for i in range(WORKERS)]
        try:
            await asyncio.gather(*(w.ready() for w in workers))

            def check() -> None:
                for w in workers:
                    w.check()

            def count(template: str, kind: str | None = None) -> int:
                return len(
                    {e["id"] for e in ledger(data_dir) if e["template"] == template and e["deadline_kind"] == kind}
                )

            t0 = time.time()
            await start_incidents(
                client, queue, timers_runbook(after), n, prefix, "incidents started" if progress else ""
            )
            started_s = time.time() - t0
            bar = Counter("in Command (Declare's last message logged)", n)
            await wait_until(
                lambda: (progress and bar.update(count("ic_opening"))) or count("ic_opening") >= n or check(),
                after + 900,
                "every incident in Command",
                0.5,
            )
            bar.close()
            in_command_s = time.time() - t0

            def attempted() -> int:
                return len({a["id"] for w in workers for a in w.attempts() if a["deadline_kind"] == "escalate"})

            await wait_until(
                lambda: attempted() >= max(1, int(n * kill_fraction)) or check(),
                after + 900,
                "the first escalations",
                0.05,
            )
            # The busiest worker: the server, not warroom, decides which poller takes what, so a
            # fixed victim may hold no escalation at all and its kill would prove nothing.
            victim = max(
                workers, key=lambda w: len({a["id"] for a in w.attempts() if a["deadline_kind"] == "escalate"})
            )
            victim.kill9()
            kill_s = time.time() - t0
            bar = Counter("escalation pages logged", n)
            await wait_until(
                lambda: (
                    (progress and bar.update(count("escalation", "escalate")))
                    or count("escalation", "escalate") >= n
                    or check()
                ),
                600,
                "every escalation page",
                0.5,
            )
            bar.close()

            async def fired_once(incident_id: str) -> bool:
                state = await Incidents(client).state(incident_id)
                return sum(1 for e in state.timeline if e.kind == "escalate") == 1

            ids = [f"{prefix}-{i:04d}" for i in range(n)]
            # Each incident's timeline has its escalate event once the phase saw the page's activity
            # complete: after that no retry of it can be pending, so the ledger below is final.
            deadline = time.monotonic() + 300
            while True:
                answers = await bounded(20, [lambda i=i: fired_once(i) for i in ids])
                not_fired = [i for i, ok in zip(ids, answers, strict=True) if not ok]
                if not not_fired or time.monotonic() > deadline:
                    break
                await asyncio.sleep(2)
        finally:
            for w in workers:
                CHILDREN.stop(w.proc)

    pages: dict[str, list[dict[str, Any]]] = {}
    for e in ledger(data_dir):
        if e["template"] == "escalation" and e["deadline_kind"] == "escalate":
            pages.setdefault(e["id"], []).append(e)
    attempts = [a for w in workers for a in w.attempts() if a["deadline_kind"] == "escalate"]
    retried = {a["id"] for a in attempts if a["attempt"] > 1}
    late = {
        i: (es[0]["t"] - datetime.fromisoformat(es[0]["deadline_due_at"]).timestamp()) * 1000 for i, es in pages.items()
    }
    in_command_at = t0 + in_command_s
    backlog = {
        i: max(0.0, in_command_at - datetime.fromisoformat(es[0]["deadline_due_at"]).timestamp()) * 1000
        for i, es in pages.items()
    }
    first_due = min(datetime.fromisoformat(es[0]["deadline_due_at"]).timestamp() for es in pages.values()) - t0
    used: dict[int, int] = {}
    for w in workers:
        used[w.index] = len({a["id"] for a in w.attempts() if a["deadline_kind"] == "escalate"})
    return Outcome(
        n=n,
        started_s=started_s,
        in_command_s=in_command_s,
        first_due_s=first_due,
        kill_s=kill_s,
        lost=[i for i in ids if i not in pages],
        duplicated=[i for i, es in pages.items() if len(es) > 1],
        not_fired_once=not_fired,
        late_ms=late,
        backlog_ms=backlog,
        retried=retried,
        killed=victim.index,
        attempts_on_killed=used[victim.index],
        workers_used=used,
    )


def bound_ms(retried: bool) -> float:
    """The lateness bound the defaults imply (module docstring), without the load margin."""
    workflow_tasks = STICKY_TIMEOUT_S + TASK_TIMEOUT_S
    return (workflow_tasks + (NOTIFY_START_TO_CLOSE_S + NOTIFY_FIRST_RETRY_S if retried else 0.0)) * 1000


def report(o: Outcome) -> bool:
    print(
        f"  {o.n} started in {o.started_s:.1f} s; all in Command at {o.in_command_s:.1f} s; first escalation due at "
        f"{o.first_due_s:.1f} s; worker {o.killed} killed at {o.kill_s:.1f} s (it had attempted {o.attempts_on_killed} "
        f"escalation pages; per worker {o.workers_used})"
    )
    if o.in_command_s > o.first_due_s:
        print("  NOTE: start-up was still running when escalations fell due (use a longer --escalate-after)")
    print(
        f"  lost {len(o.lost)}   duplicated {len(o.duplicated)}   not fired exactly once {len(o.not_fired_once)}"
        f"   out of {o.n}"
    )
    ok = not (o.lost or o.duplicated or o.not_fired_once)
    for retried in (False, True):
        late = o.lateness(retried)
        if not late:
            continue
        what = "retried after the kill" if retried else "not retried"
        p50, p99, worst = statistics.median(late), percentile(late, 99), max(late)
        beyond = [ms - o.backlog_ms[i] for i, ms in o.late_ms.items() if (i in o.retried) == retried]
        fits = max(beyond) <= bound_ms(retried)
        print(
            f"  lateness, {len(late):4d} {what:<22}: p50 {p50 / 1000:6.2f} s   p99 {p99 / 1000:6.2f} s   "
            f"max {worst / 1000:6.2f} s"
        )
        if any(o.backlog_ms.values()):
            print(
                f"    beyond the start-up backlog          : p50 {statistics.median(beyond) / 1000:6.2f} s   "
                f"p99 {percentile(beyond, 99) / 1000:6.2f} s   max {max(beyond) / 1000:6.2f} s"
            )
        print(
            f"    bound {bound_ms(retried) / 1000:.0f} s (sticky + task timeouts{', notify start-to-close' if retried else ''}): "
            f"{'within' if fits else 'OVER'}"
        )
    return ok


# =============================================================================================
# Entry point
# =============================================================================================


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="120 incidents, escalate_after 90 s")
    parser.add_argument("--incidents", type=int, help="open incidents (default 600, quick 120)")
    parser.add_argument("--escalate-after", type=float, help="P2 escalate_after, s (default 240, quick 90)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir and print it")
    parser.add_argument("--serve-worker", action="store_true", help=argparse.SUPPRESS)
    for name in ("--address", "--task-queue", "--workdir", "--data-dir"):
        parser.add_argument(name, help=argparse.SUPPRESS)
    parser.add_argument("--parent-pid", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.incidents is None:
        args.incidents = 120 if args.quick else 600
    if args.escalate_after is None:
        args.escalate_after = 90.0 if args.quick else 240.0
    return args


def main() -> int:
    args = parse_args()
    if args.serve_worker:
        try:
            asyncio.run(serve_worker(args))
        except KeyboardInterrupt:
            pass
        return 0
    workdir = Path(tempfile.mkdtemp(prefix="workers-bench-"))
    quiet_sdk_logs(workdir / "bench.log")
    print(
        f"workers bench: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; {WORKERS} workers, "
        f"{args.incidents} incidents, P2 escalate_after {args.escalate_after:g} s{'; quick run' if args.quick else ''}"
    )
    try:
        outcome = asyncio.run(scenario(args.incidents, args.escalate_after, workdir))
        ok = report(outcome)
        print(f"  goal 0 lost and 0 duplicated out of {args.incidents}: {'PASS' if ok else 'MISS'}")
        print(f"  load average at the end {os.getloadavg()[0]:.2f}")
        return 0
    except KeyboardInterrupt:
        return 130
    finally:
        finish(workdir, args.keep)


if __name__ == "__main__":
    sys.exit(main())
