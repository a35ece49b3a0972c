"""Fixtures of the batched intake's tests: the real app over loopback HTTP on the session's dev
server, with a real worker per module (the same pieces as tests/intake, from tests/intake/support.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from tests.helpers import Harness, running_worker
from tests.intake.support import Intake, open_intake


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def worker(dev_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Harness]:
    async with running_worker(dev_env.client, tmp_path_factory.mktemp("scale-intake-worker")) as harness:
        yield harness


@pytest_asyncio.fixture(loop_scope="session")
async def intake(dev_env: WorkflowEnvironment, worker: Harness) -> AsyncIterator[Intake]:
    async with open_intake(dev_env.client, worker.queue) as running_intake:
        yield running_intake
