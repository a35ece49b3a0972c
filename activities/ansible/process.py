"""Stopping a run and everything it started, from /proc (no psutil).

Since ansible-core 2.19 each worker process calls `setsid()`, so ansible-runner's own kill
(SIGKILL to the child's process group) would orphan the workers and their commands. Instead the
ansible-playbook child gets SIGTERM (its handler kills the worker process groups), up to a grace
period to exit, then SIGKILL for anything of its process tree still alive.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from pathlib import Path

log = logging.getLogger("warroom.ansible")


def _stat(pid: int) -> tuple[int, int, str] | None:
    """(ppid, start time, state) of a process, or None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            raw = handle.read().decode(errors="replace")
    except OSError:
        return None
    fields = raw[raw.rfind(")") + 2 :].split()  # the command name may contain spaces and parentheses
    return int(fields[1]), int(fields[19]), fields[0]


def _pids() -> list[int]:
    return [int(n) for n in os.listdir("/proc") if n.isdigit()]


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _tree(roots: dict[int, int]) -> dict[int, int]:
    """`roots` (pid → start time) and all their living descendants; workers that called setsid() included."""
    children: dict[int, list[tuple[int, int]]] = {}
    for pid in _pids():
        info = _stat(pid)
        if info is not None:
            children.setdefault(info[0], []).append((pid, info[1]))
    found = dict(roots)
    queue = list(roots)
    while queue:
        for pid, start in children.get(queue.pop(), []):
            if pid not in found:
                found[pid] = start
                queue.append(pid)
    return found


def _alive(pid: int, start: int) -> bool:
    info = _stat(pid)
    return info is not None and info[1] == start and info[2] != "Z"


def terminate(run_dir: Path, grace: float) -> None:
    """SIGTERM our ansible-playbook child (its handler stops the detached workers), wait up to
    `grace` seconds, then SIGKILL whatever of its process tree is still alive."""
    marker, me = str(run_dir), os.getpid()
    roots: dict[int, int] = {}
    for pid in _pids():
        info = _stat(pid)
        if info is not None and info[0] == me and info[2] != "Z" and marker in _cmdline(pid):
            roots[pid] = info[1]
    if not roots:
        return
    tree = _tree(roots)
    for pid in roots:
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        time.sleep(0.1)
        tree.update(_tree({p: s for p, s in tree.items() if _alive(p, s)}))
        if not any(_alive(p, s) for p, s in tree.items()):
            return
    for pid, start in tree.items():
        if _alive(pid, start):
            log.warning("process %s of playbook run %s survived SIGTERM; killing it", pid, run_dir.name)
            _signal(pid, signal.SIGKILL)


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass
