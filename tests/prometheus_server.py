"""A real Prometheus (Debian's `prometheus`) on a loopback port, for the tests that scrape and query one."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import yaml

from warroom.devserver import free_port

PROMETHEUS = shutil.which("prometheus")


async def start_prometheus(root: Path, config: dict[str, Any] | str) -> tuple[subprocess.Popen[bytes], str]:
    """Prometheus with `config` (a mapping or YAML text) and its data under `root`, once it answers
    /-/ready: (the process, to terminate; its base URL)."""
    assert PROMETHEUS, "needs Debian's `prometheus` (.ci/run installs it)"
    port = free_port()
    text = config if isinstance(config, str) else yaml.safe_dump(config)
    (root / "prometheus.yml").write_text(text)
    proc = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={root / 'prometheus.yml'}",
            f"--storage.tsdb.path={root / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient() as http:
        for _ in range(200):
            try:
                if (await http.get(f"{base}/-/ready")).status_code == 200:
                    return proc, base
            except httpx.HTTPError:
                pass
            if proc.poll() is not None:
                break
            await asyncio.sleep(0.1)
    proc.terminate()
    raise AssertionError(f"Prometheus did not get ready (exit code {proc.poll()})")
