"""Helpers for the Ansible tests: heartbeat recording, background activities, a /proc scanner and
a PostgreSQL started for the session. (Kept out of conftest.py so that tests and fixtures share one
copy of this module.)"""

from __future__ import annotations

import os
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from temporalio.testing import ActivityEnvironment

from warroom.devserver import free_port as free_port  # the one definition, re-exported for the tests

EXTRA_PLAYBOOKS = Path(__file__).with_name("playbooks")
PG_PASSWORD = "s3cret-" + uuid.uuid4().hex[:12]


def processes_mentioning(*needles: str) -> list[tuple[int, str]]:
    """Live processes whose command line contains any needle (zombies have none, so they don't count)."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as handle:
                cmdline = handle.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if any(n in cmdline for n in needles):
            found.append((int(name), cmdline[:160]))
    return found


@dataclass
class Recorder:
    """An ActivityEnvironment whose heartbeats are kept, with their arrival time."""

    env: ActivityEnvironment = field(default_factory=ActivityEnvironment)
    beats: list[tuple[float, tuple[Any, ...]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.env.on_heartbeat = lambda *details: self.beats.append((time.monotonic(), details))

    def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        return self.env.run(fn, *args)

    def details(self) -> list[dict[str, Any]]:
        return [d[0] for _, d in self.beats]

    def start(self, fn: Callable[..., Any], *args: Any) -> Background:
        return Background(self, fn, args)

    def wait_for_task(self, task: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not any(d.get("task") == task and d.get("event") == "runner_on_start" for d in self.details()):
            assert time.monotonic() < deadline, f"task {task!r} never started; heartbeats: {self.details()}"
            time.sleep(0.05)


class Background:
    """An activity running in its own thread, as on the worker's ThreadPoolExecutor."""

    def __init__(self, recorder: Recorder, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self.result: Any = None
        self.error: BaseException | None = None

        def target() -> None:
            try:
                self.result = recorder.run(fn, *args)
            except BaseException as exc:  # noqa: BLE001 - the test inspects it
                self.error = exc

        self.thread = threading.Thread(target=target, daemon=True)
        self.thread.start()

    def join(self, timeout: float = 60) -> None:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the activity did not return"


# --- a real PostgreSQL ------------------------------------------------------------------------


@dataclass
class Postgres:
    port: int
    superuser: str
    role: str
    password: str
    bin_dir: Path
    socket_dir: Path

    def psql(self, sql: str, *, background: bool = False) -> subprocess.Popen[str] | str:
        """As the superuser over the Unix socket (trust), like the seed's `psql -c`."""
        cmd = as_postgres(
            [
                str(self.bin_dir / "psql"),
                "-X",
                "-q",
                "-A",
                "-t",
                "-h",
                str(self.socket_dir),
                "-p",
                str(self.port),
                "-U",
                self.superuser,
                "-d",
                "postgres",
                "-c",
                sql,
            ]
        )
        if background:
            return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)
        return subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=30).stdout


def pg_bin_dir() -> Path | None:
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), reverse=True)
    return candidates[0].parent if candidates else None


def as_postgres(cmd: list[str]) -> list[str]:
    # initdb refuses to run as root; as root we become the Debian `postgres` user for the server side.
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd
