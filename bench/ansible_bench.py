"""What the Ansible activity costs, and what batching saves, measured in the same run.

    python bench/ansible_bench.py [--iterations 10] [--batch-rounds 3] [--sample-seconds 1]

1. Overhead: `noop.yml` through the `ansible_run_playbook` activity (temporalio's ActivityEnvironment:
   validation, fresh private dir, heartbeats, result model) vs a bare `ansible_runner.run()` of the
   same playbook with the same inventory and extravars. Goal: activity/bare <= 1.15.
2. Batching: the six infrastructure checks in one `host_diagnostics` run vs six runs of one check
   each, all through the activity. Goal: six runs / one run >= 4.
3. Stopping a silent task (tests/ansible/playbooks/sleep.yml, 60 s): the heartbeat gap while it is
   silent, the time from a cancel to the activity's return (its processes reaped), and how far past
   `timeout_seconds` a run ends. The tests assert that these happen; this measures how fast.

Each pair alternates within an iteration so machine drift hits both sides alike.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

import ansible_runner  # noqa: E402
from temporalio.testing import ActivityEnvironment  # noqa: E402

from activities.ansible import AnsibleSettings, PlaybookRunner, default_playbook_dir  # noqa: E402
from warroom.contracts.ansible import ALL_CHECKS, HostDiagnosticsRequest, PlaybookRequest  # noqa: E402

INVENTORY = {
    "all": {
        "hosts": {
            "localhost": {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}"}
        }
    }
}


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def bare_noop() -> None:
    with tempfile.TemporaryDirectory() as private:
        run = ansible_runner.run(
            private_data_dir=private,
            project_dir=str(default_playbook_dir()),
            playbook="noop.yml",
            inventory=INVENTORY,
            extravars={"warroom_target": "localhost"},
            quiet=True,
            envvars={"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"},
        )
        assert run.rc == 0, run.status


def summary(values: list[float]) -> str:
    return f"median {statistics.median(values):.3f}s  mean {statistics.mean(values):.3f}s  min {min(values):.3f}s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--batch-rounds", type=int, default=3)
    parser.add_argument("--sample-seconds", type=float, default=1.0)
    parser.add_argument("--stop-rounds", type=int, default=3)
    args = parser.parse_args()

    runner = PlaybookRunner(AnsibleSettings())
    env = ActivityEnvironment()
    beats: list[object] = []
    env.on_heartbeat = lambda *details: beats.append(details)

    def activity_noop() -> None:
        assert env.run(runner.run_playbook, PlaybookRequest(playbook="noop")).successful

    version = importlib.metadata.version
    print(
        f"ansible-runner {version('ansible-runner')}  ansible-core {version('ansible-core')}  "
        f"python {sys.version.split()[0]}  cpus {os.cpu_count()}"
    )
    bare_noop(), activity_noop()  # warm-up: imports, page cache
    bare: list[float] = []
    through: list[float] = []
    for i in range(args.iterations):
        pair = [(bare, bare_noop), (through, activity_noop)]
        for sink, fn in pair if i % 2 == 0 else reversed(pair):
            sink.append(timed(fn))
    ratio = statistics.median(through) / statistics.median(bare)
    print(f"\n1. noop.yml x{args.iterations}")
    print(f"   bare ansible_runner.run() : {summary(bare)}")
    print(f"   ansible_run_playbook      : {summary(through)}   ({len(beats) // (args.iterations + 1)} heartbeats/run)")
    print(f"   activity / bare = {ratio:.3f}  (goal <= 1.15: {'met' if ratio <= 1.15 else 'MISSED'})")

    def batched() -> None:
        report = env.run(runner.host_diagnostics, HostDiagnosticsRequest(sample_seconds=args.sample_seconds))
        assert set(report.checks) == set(ALL_CHECKS)

    def separate() -> None:
        for check in ALL_CHECKS:
            report = env.run(
                runner.host_diagnostics, HostDiagnosticsRequest(checks=[check], sample_seconds=args.sample_seconds)
            )
            assert set(report.checks) == {check}

    one: list[float] = []
    six: list[float] = []
    for i in range(args.batch_rounds):
        pair = [(one, batched), (six, separate)]
        for sink, fn in pair if i % 2 == 0 else reversed(pair):
            sink.append(timed(fn))
    speedup = statistics.median(six) / statistics.median(one)
    print(
        f"\n2. six checks (cpu, memory, swap, oom, disk, network; {args.sample_seconds:g}s sampling window)"
        f" x{args.batch_rounds}"
    )
    print(f"   one host_diagnostics run : {summary(one)}")
    print(f"   six single-check runs    : {summary(six)}")
    print(f"   speed-up = {speedup:.2f}x  (goal >= 4x: {'met' if speedup >= 4 else 'MISSED'})")
    stopping(args.stop_rounds)


def stopping(rounds: int) -> None:
    """Section 3: a cancel and a timeout against a long silent task, through the activity."""
    import threading
    import uuid

    from temporalio.exceptions import ApplicationError, CancelledError

    extra = Path(__file__).resolve().parent.parent / "tests" / "ansible" / "playbooks"
    runner = PlaybookRunner(AnsibleSettings(extra_playbook_dir=extra, inventory=INVENTORY))
    gaps: list[float] = []
    cancels: list[float] = []
    overruns: list[float] = []

    def sleep_request(**fields: object) -> PlaybookRequest:
        marker = f"warroom-bench-{uuid.uuid4().hex}"
        return PlaybookRequest(playbook="sleep", extravars={"seconds": 60, "marker": marker}, **fields)

    for _ in range(rounds):
        env = ActivityEnvironment()
        beats: list[tuple[float, dict[str, object]]] = []
        env.on_heartbeat = lambda *details: beats.append((time.perf_counter(), details[0]))
        ended = threading.Event()

        def run(env: ActivityEnvironment = env, ended: threading.Event = ended) -> None:
            try:
                env.run(runner.run_playbook, sleep_request())
            except CancelledError:
                pass
            finally:
                ended.set()

        threading.Thread(target=run, daemon=True).start()
        while sum(1 for _, d in beats if d.get("task") == "Long step") < 4:  # the start, then three polls
            time.sleep(0.02)
        silent = [t for t, d in beats if d.get("task") == "Long step"]
        gaps += [b - a for a, b in zip(silent[1:], silent[2:])]  # between polls (the first is the task's start)
        cancelled = time.perf_counter()
        env.cancel()
        ended.wait(60)
        cancels.append(time.perf_counter() - cancelled)

        started = time.perf_counter()
        try:
            ActivityEnvironment().run(runner.run_playbook, sleep_request(timeout_seconds=1.5))
        except ApplicationError as exc:
            assert exc.type == "Timeout", exc
        overruns.append(time.perf_counter() - started - 1.5)
    print(f"\n3. stopping a silent 60 s task x{rounds}")
    print(f"   heartbeat gap while silent : {summary(gaps)}  max {max(gaps):.3f}s")
    print(f"   cancel → activity returns  : {summary(cancels)}  max {max(cancels):.3f}s")
    print(f"   past a 1.5 s timeout       : {summary(overruns)}")


if __name__ == "__main__":
    main()
