"""The idle worker loads only what every worker uses (#18, memory): the Kubernetes client, ansible-runner,
FastAPI, httpx and iCalendar load when an integration that needs them is configured or first used.

Each check runs in a fresh interpreter: this test process has imported all of them already."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("kubernetes", "ansible_runner", "fastapi", "starlette", "uvicorn", "httpx", "icalendar")


def loaded_after(code: str) -> set[str]:
    """The HEAVY top-level packages in sys.modules after running `code` in a new interpreter."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}})))"
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    return set(json.loads(out.stdout.splitlines()[-1])) & set(HEAVY)


def test_importing_the_worker_loads_no_integration_library() -> None:
    assert loaded_after("import warroom.worker, worker") == set()


def test_building_the_default_activities_loads_none_either(tmp_path: Path) -> None:
    """Every activity registered as an idle worker has them (local sink, no integration configured)."""
    code = f"""
from pathlib import Path
from typing import Any
from activities.notify import LocalSink
from activities.channels import ChannelSettings, build_router
from activities.registry import build_activities
import warroom.worker

router = build_router(ChannelSettings(data_dir={str(tmp_path)!r}), sink=LocalSink(Path({str(tmp_path)!r})))
assert len(build_activities(router)) > 20
"""
    assert loaded_after(code) == set()


@pytest.mark.parametrize(
    ("code", "package"),
    [
        ("from activities.channels._http import HttpClient; HttpClient().client", "httpx"),
        ("from activities.http_steps import HttpStepActivities; HttpStepActivities().client", "httpx"),
        ("from activities.kubernetes import KubeActivities", "kubernetes"),
        ("from warroom.intake.app import create_app", "fastapi"),
    ],
)
def test_a_library_loads_when_it_is_used(code: str, package: str) -> None:
    """The control: the probe sees a library that is loaded (else the tests above could not fail)."""
    assert package in loaded_after(code)


async def test_the_sticky_cache_is_sized_from_settings(dev_env: Any, tmp_path: Path, monkeypatch: Any) -> None:
    """WARROOM_MAX_CACHED_WORKFLOWS reaches the SDK worker (README, Scale: memory against replays)."""
    from activities.notify import LocalSink
    from warroom.settings import Settings
    from warroom.worker import build_worker

    monkeypatch.setenv("WARROOM_MAX_CACHED_WORKFLOWS", "64")
    settings = Settings()
    worker = build_worker(
        dev_env.client, "sticky-cache", LocalSink(tmp_path), max_cached_workflows=settings.max_cached_workflows
    )
    assert worker.config()["max_cached_workflows"] == 64
    default = build_worker(dev_env.client, "sticky-cache-default", LocalSink(tmp_path))
    assert default.config()["max_cached_workflows"] == 1000
