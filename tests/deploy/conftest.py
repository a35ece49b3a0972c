"""The suite-wide RBAC check: every request any Kubernetes activity sends to an emulator, in any
test of the run, must be granted by deploy/kubernetes's RBAC.

When tests/deploy is collected, every emulator of the run (in any pytest-xdist worker, and in any
subprocess, through the environment) appends its requests to a directory shared by the run
(sandbox/cluster/authz.py). The last worker to finish reads them all and reports the outcome as
one more test, `tests/deploy::kube_requests_of_the_whole_run`: a failure names each request the
Role would refuse and the activity that sent it. test_kube_rbac.py checks the other direction (no
permission beyond what the activities use) on its own, so that a partial run cannot make it fail.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from pathlib import Path

import pytest

from sandbox.cluster.authz import LOG_DIR_ENV, from_activities, read_logs
from tests.deploy.kube_manifests import granted, render, worker_grants

NODE_ID = "tests/deploy::kube_requests_of_the_whole_run"
_OWN: list[Path] = []  # the directory this process created (a pytest run inside a test keeps the outer one's)


def _log_dir() -> Path:
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID") or f"solo-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    return Path(tempfile.gettempdir()) / f"warroom-kube-requests-{run}"


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get(LOG_DIR_ENV):  # a test that runs pytest inside the suite: keep the outer run's
        return
    directory = _log_dir()
    (directory / "done").mkdir(parents=True, exist_ok=True)
    os.environ[LOG_DIR_ENV] = str(directory)
    _OWN.append(directory)


def _check(directory: Path) -> tuple[str, str]:
    requests = from_activities(read_logs(directory))
    grants = worker_grants(render())
    refused = sorted({r for r in requests if not granted(grants, r)})
    if refused:
        lines = [f"{r} (sent by {r.activity})" for r in refused]
        return "failed", "the worker's RBAC would refuse:\n  " + "\n  ".join(lines)
    activities = sorted({r.activity for r in requests})
    return "passed", f"{len(requests)} requests by {len(activities)} activities, all granted"


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    if not _OWN or session.config.option.collectonly:
        return
    directory = _OWN[0]
    worker = os.environ.get("PYTEST_XDIST_WORKER", "solo")
    (directory / "done" / worker).touch()
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if len(list((directory / "done").iterdir())) < workers:
        return  # another worker still runs tests; the last one checks
    try:
        outcome, text = _check(directory)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    report = pytest.TestReport(
        NODE_ID,
        (NODE_ID, None, "kube_requests_of_the_whole_run"),
        {},
        outcome,
        text if outcome == "failed" else None,
        "call",
    )
    if outcome == "passed":
        report.sections.append(("summary", text))
    session.config.hook.pytest_runtest_logreport(report=report)
    if outcome == "failed":
        session.testsfailed += 1
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
