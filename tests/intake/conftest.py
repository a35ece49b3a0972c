"""Intake fixtures: the real app on a loopback port, the session's dev server, a real worker.

Temporal is never mocked. The plain code behind these fixtures (the app runner, payloads,
signatures, `TemporalCalls`, a real Alertmanager) is in tests/intake/support.py, shared with
tests/reliability.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from tests.helpers import Harness, running_worker
from tests.intake.support import Intake, grafana_headers, open_intake, pagerduty_signature, payload

MakeIntake = Callable[..., Any]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def worker(dev_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Harness]:
    """One real worker per test module, on its own task queue."""
    async with running_worker(dev_env.client, tmp_path_factory.mktemp("intake-worker")) as harness:
        yield harness


@pytest.fixture
def make_intake(dev_env: WorkflowEnvironment, worker: Harness) -> MakeIntake:
    """`async with make_intake(**settings) as intake:` an app with these settings, on the module's worker."""
    return lambda **settings: open_intake(dev_env.client, worker.queue, **settings)


@pytest_asyncio.fixture(loop_scope="session")
async def intake(make_intake: MakeIntake) -> AsyncIterator[Intake]:
    """The app with every source's credentials configured, served over real HTTP on loopback."""
    async with make_intake() as running_intake:
        yield running_intake


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def module_intake(dev_env: WorkflowEnvironment, worker: Harness) -> AsyncIterator[Intake]:
    """One app for a whole module, called in-process (ASGI): for property tests' many examples."""
    async with open_intake(dev_env.client, worker.queue, http=False) as running_intake:
        yield running_intake


@pytest.fixture(name="payload")
def payload_fixture() -> Callable[..., dict[str, Any]]:
    """`payload("alertmanager")`: a documented example with a fresh group key."""
    return payload


@pytest.fixture(name="pagerduty_signature")
def pagerduty_signature_fixture() -> Callable[..., str]:
    """`pagerduty_signature(body, *secrets)`: an X-PagerDuty-Signature value."""
    return pagerduty_signature


@pytest.fixture(name="grafana_headers")
def grafana_headers_fixture() -> Callable[..., dict[str, str]]:
    """`grafana_headers(body, secret=, at=)`: Grafana's signature and timestamp headers."""
    return grafana_headers
