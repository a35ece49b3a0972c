"""Propose → preview ready for a playbook step, against a bare `ansible-playbook --check`, in the same run.

    python bench/steps_ansible_bench.py [--iterations 20] [--no-postgres]

For each playbook (`noop`, and `pg_cancel_long_queries` against a PostgreSQL 15 this script starts and
stops), alternating within each iteration so machine drift hits both sides alike:

- ours: the `ansible_step_preview` activity (temporalio's ActivityEnvironment): validation of the
  extravars, a fresh private directory, ansible-runner with `--check --diff`, heartbeats, the
  StepPreview (summary, changes, bounded diff, command line);
- bare: `ansible-playbook --check --diff` of the same playbook with the same inventory, extravars and
  PGPASSWORD, as a plain subprocess;
- runner: a bare `ansible_runner.run(cmdline="--check --diff")` of the same, which says how much of
  ours/bare is ansible-runner's own (its pty, its event callback, pexpect's 0.1 s sleep on close)
  and how much is the activity's layer on top of it.

Prints p50 and p99 of each, the ratio ours/bare (goal <= 1.2x) and ours/runner.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

import ansible_runner  # noqa: E402
from temporalio.testing import ActivityEnvironment  # noqa: E402

from activities.ansible import AnsibleSettings, PlaybookRunner, default_playbook_dir  # noqa: E402
from tests.ansible.support import as_postgres, free_port, pg_bin_dir  # noqa: E402
from warroom.contracts.ansible import PlaybookRequest  # noqa: E402
from warroom.contracts.steps import PlaybookStepRequest  # noqa: E402

PASSWORD = "bench-" + os.urandom(6).hex()
CREDENTIAL = "bench-db"


@contextmanager
def postgres() -> Iterator[int]:
    """A throwaway PostgreSQL: trust on its socket (setup), a password on TCP (what the playbook uses)."""
    bin_dir = pg_bin_dir()
    assert bin_dir is not None, "PostgreSQL is not installed (apt-get install postgresql), or pass --no-postgres"
    base = Path(tempfile.mkdtemp(prefix="warroom-bench-pg-"))
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")
    port, data = free_port(), base / "data"
    superuser = "postgres" if os.geteuid() == 0 else os.environ.get("USER", "postgres")

    def run(*cmd: str) -> None:
        subprocess.run(as_postgres(list(cmd)), check=True, capture_output=True, text=True, timeout=120)

    run(str(bin_dir / "initdb"), "-D", str(data), "-U", superuser, "--auth-local=trust", "--auth-host=scram-sha-256")
    run(
        str(bin_dir / "pg_ctl"),
        *("-D", str(data), "-l", str(base / "log"), "-w", "-t", "60"),
        *("-o", f"-p {port} -k {base} -c listen_addresses=127.0.0.1", "start"),
    )
    try:
        run(
            str(bin_dir / "psql"),
            *("-X", "-q", "-h", str(base), "-p", str(port), "-U", superuser, "-d", "postgres"),
            *("-c", f"CREATE ROLE warroom LOGIN PASSWORD '{PASSWORD}' IN ROLE pg_monitor, pg_signal_backend"),
        )
        yield port
    finally:
        subprocess.run(
            as_postgres([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]),
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(base, ignore_errors=True)


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[98] if len(values) > 1 else values[0]


def bench(
    runner: PlaybookRunner, step: PlaybookStepRequest, iterations: int
) -> tuple[list[float], list[float], list[float]]:
    env = ActivityEnvironment()
    env.on_heartbeat = lambda *details: None
    prepared = runner.prepare(PlaybookRequest(playbook=step.playbook, extravars=step.extravars))
    work = Path(tempfile.mkdtemp(prefix="warroom-bench-bare-"))
    inventory = work / "inventory.json"
    inventory.write_text(
        json.dumps(
            {
                "all": {
                    "hosts": {
                        "localhost": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
                    }
                }
            }
        )
    )
    extravars = work / "extravars.json"
    extravars.write_text(json.dumps(prepared.extravars))
    bin_dir = Path(sys.executable).parent
    bare_env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "ANSIBLE_NOCOLOR": "1",
        **prepared.secrets,
    }
    argv = [str(bin_dir / "ansible-playbook"), "--check", "--diff", "-i", str(inventory), "-e", f"@{extravars}"]
    argv.append(str(default_playbook_dir() / f"{step.playbook}.yml"))

    def bare() -> None:
        done = subprocess.run(argv, env=bare_env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]

    def bare_runner() -> None:
        with tempfile.TemporaryDirectory() as private:
            done = ansible_runner.run(
                private_data_dir=private,
                project_dir=str(default_playbook_dir()),
                playbook=f"{step.playbook}.yml",
                inventory=json.loads(inventory.read_text()),
                extravars=prepared.extravars,
                envvars={"PATH": bare_env["PATH"], **prepared.secrets},
                cmdline="--check --diff",
                quiet=True,
            )
            assert done.rc == 0, done.status

    def ours() -> None:
        preview = env.run(runner.step_preview, step)
        assert preview.summary, preview

    bare(), bare_runner(), ours()  # warm-up: imports, page cache
    bare_times: list[float] = []
    runner_times: list[float] = []
    our_times: list[float] = []
    for i in range(iterations):
        trio = [(bare_times, bare), (runner_times, bare_runner), (our_times, ours)]
        for sink, fn in trio if i % 2 == 0 else reversed(trio):
            sink.append(timed(fn))
    shutil.rmtree(work, ignore_errors=True)
    return bare_times, runner_times, our_times


def report(name: str, bare: list[float], runner: list[float], ours: list[float]) -> None:
    def line(label: str, values: list[float]) -> None:
        print(f"   {label:<40}: p50 {statistics.median(values):.3f}s  p99 {p99(values):.3f}s  min {min(values):.3f}s")

    r50 = statistics.median(ours) / statistics.median(bare)
    r99 = p99(ours) / p99(bare)
    print(f"\n{name} x{len(bare)}")
    line("bare ansible-playbook --check --diff", bare)
    line("bare ansible_runner.run(--check --diff)", runner)
    line("ansible_step_preview (ours)", ours)
    verdict = "met" if max(r50, r99) <= 1.2 else "MISSED"
    print(f"   ours / bare ansible-playbook : p50 {r50:.3f}  p99 {r99:.3f}  (goal <= 1.2: {verdict})")
    s50, s99 = statistics.median(ours) / statistics.median(runner), p99(ours) / p99(runner)
    print(f"   ours / bare ansible-runner   : p50 {s50:.3f}  p99 {s99:.3f}  (the activity's own layer)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--no-postgres", action="store_true", help="only the noop playbook")
    args = parser.parse_args()
    version = importlib.metadata.version
    print(
        f"ansible-runner {version('ansible-runner')}  ansible-core {version('ansible-core')}  "
        f"python {sys.version.split()[0]}  cpus {os.cpu_count()}"
    )
    runner = PlaybookRunner(AnsibleSettings(credentials={CREDENTIAL: PASSWORD}))
    report("noop.yml", *bench(runner, PlaybookStepRequest(playbook="noop"), args.iterations))
    if args.no_postgres:
        return
    with postgres() as port:
        extravars = {"pg_port": port, "pg_user": "warroom", "credential": CREDENTIAL, "older_than_minutes": 5}
        step = PlaybookStepRequest(playbook="pg_cancel_long_queries", extravars=extravars)
        report("pg_cancel_long_queries.yml (PostgreSQL 15, nothing to cancel)", *bench(runner, step, args.iterations))


if __name__ == "__main__":
    main()
