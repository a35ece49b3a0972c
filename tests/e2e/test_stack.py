"""`make run`'s stack end to end: dev server + UI + worker come up, incidents survive a restart,
and Ctrl-C leaves no child behind."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from pathlib import Path

import httpx
import pytest

from tests.helpers import free_port

pytestmark = pytest.mark.e2e


class Stack:
    def __init__(self, data_dir: Path) -> None:
        self.port, self.ui_port, self.intake_port = free_port(), free_port(), free_port()
        self.env = {
            **os.environ,
            "WARROOM_TEMPORAL_ADDRESS": f"127.0.0.1:{self.port}",
            "WARROOM_UI_PORT": str(self.ui_port),
            "WARROOM_INTAKE_PORT": str(self.intake_port),
            "WARROOM_DATA_DIR": str(data_dir),
            "WARROOM_USER": "alice",
            "PYTHONUNBUFFERED": "1",
        }
        self.proc: asyncio.subprocess.Process | None = None
        self.output = ""

    async def start(self) -> None:
        self.output = ""
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "warroom.cli",
            "run",
            env=self.env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        assert self.proc.stdout is not None
        while "Ctrl-C stops everything" not in self.output:
            line = await asyncio.wait_for(self.proc.stdout.readline(), 60)
            if not line:
                raise AssertionError(f"warroom run exited early:\n{self.output}")
            self.output += line.decode()

    async def cli(self, *args: str) -> tuple[int, str]:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "warroom.cli",
            *args,
            env=self.env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await asyncio.wait_for(proc.communicate(), 60)
        return proc.returncode or 0, out.decode()

    async def interrupt(self) -> int:
        assert self.proc is not None and self.proc.stdout is not None
        self.proc.send_signal(signal.SIGINT)
        rest = await asyncio.wait_for(self.proc.stdout.read(), 60)
        self.output += rest.decode()
        return await asyncio.wait_for(self.proc.wait(), 30)


def processes_listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.3)
        return sock.connect_ex(("127.0.0.1", port)) == 0


async def test_stack_declares_shows_survives_a_restart_and_stops_cleanly(tmp_path: Path) -> None:
    stack = Stack(tmp_path / "data")
    await stack.start()
    try:
        assert f"http://127.0.0.1:{stack.ui_port}" in stack.output
        async with httpx.AsyncClient() as http:
            assert (await http.get(f"http://127.0.0.1:{stack.ui_port}/")).status_code == 200
            assert (await http.get(f"http://127.0.0.1:{stack.intake_port}/healthz")).status_code == 200
            token = stack.output.split("dev bearer token for this run (Alertmanager, generic): ")[1].split()[0]
            alert = await http.post(
                f"http://127.0.0.1:{stack.intake_port}/alerts/generic",
                headers={"Authorization": f"Bearer {token}"},
                json={"group_key": "stack-test", "service": "payments", "summary": "payments 503s"},
            )
            assert alert.status_code == 200, alert.text

        code, out = await stack.cli(
            "declare", "--service", "order-api", "--severity", "P2", "--summary", "Order API 503s", "--json"
        )
        assert code == 0, out
        incident = json.loads(out)["incident_id"]
        code, out = await stack.cli("ack", incident, "--take-command")
        assert code == 0, out

        async def commanding() -> dict:
            for _ in range(50):
                code, out = await stack.cli("status", incident, "--json")
                if code == 0 and json.loads(out)["phase"] == "command":
                    return json.loads(out)
                await asyncio.sleep(0.2)
            raise AssertionError(out)

        state = await commanding()
        assert state["roles"]["incident_commander"] == "alice"
        assert (tmp_path / "data" / "channels" / f"{incident}.log").exists()
    finally:
        assert await stack.interrupt() == 0, stack.output
    assert not any(processes_listening(p) for p in (stack.port, stack.ui_port, stack.intake_port))

    await stack.start()  # same data dir: the incident is still there, still running
    try:
        code, out = await stack.cli("status", incident, "--json")
        assert code == 0, out
        assert json.loads(out)["severity"] == "P2"
    finally:
        assert await stack.interrupt() == 0
    assert not processes_listening(stack.port)
