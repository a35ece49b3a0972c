"""A step's PromQL verification inside a running incident, read from a real Prometheus: the entry's
query inside its bound passes and is reported in the channel; outside it, the step says it failed
its check (and a mitigating step would not mark mitigation)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from activities.metrics import PrometheusSource
from tests.helpers import Harness, running_worker, state_of
from tests.steps_support import approve, commanding, propose, step_where, with_entries
from warroom.models import Step
from warroom.runbook import load_runbook

pytestmark = pytest.mark.system("prometheus")

ERRORS = (
    'sum(rate(http_requests_total{service="order-api",code=~"5.."}[5s]))'
    ' / sum(rate(http_requests_total{service="order-api"}[5s]))'
)


def checked_page(name: str, **bound: float) -> dict[str, Any]:
    return {
        "name": name,
        "kind": "page",
        "description": "page, then check the error ratio",
        "params": [{"name": "who", "type": "name"}],
        "verify": {"promql": ERRORS, **bound},
    }


@pytest.fixture
async def harness(skipping_env: WorkflowEnvironment, prometheus: Any, tmp_path: Path) -> AsyncIterator[Harness]:
    source = PrometheusSource(prometheus[0], load_runbook().metrics)
    async with running_worker(skipping_env.client, tmp_path, metrics=source) as harness:
        yield harness


async def run_step(handle: WorkflowHandle, name: str) -> Step:
    step_id = await propose(handle, name, who="dba-oncall")
    step = await step_where(handle, step_id, lambda s: s.preview_digest is not None)
    await approve(handle, step_id, step.preview_digest, "go")

    return await step_where(handle, step_id, lambda s: s.status == "done")


async def test_the_entrys_promql_check_is_read_after_the_step_and_reported(harness: Harness) -> None:
    entries = [checked_page("page-if-clean", below=0.10), checked_page("page-if-burning", above=0.5)]
    handle = await commanding(harness, with_entries(*entries))
    clean = await run_step(handle, "page-if-clean")  # order-api errs at most 5 %: below 10 %
    assert clean.verification and clean.verification.startswith("passed"), clean.verification
    burning = await run_step(handle, "page-if-burning")  # and never above 50 %
    assert burning.verification and burning.verification.startswith("failed"), burning.verification
    posted = [text for _, template, _, text in harness.sink.sent if template == "step_result"]
    assert len(posted) == 2 and "Verification: passed" in posted[0] and "Verification: failed" in posted[1]
    verified = [e for e in (await state_of(handle)).timeline if e.kind == "step_verified"]
    assert len(verified) == 2
