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
from tests.helpers import Harness, assert_eventually, incident_input, running_worker, state_of
from warroom.catalog import StepCatalog
from warroom.enums import Phase, Role, Severity, Update
from warroom.models import AssignRole, ProposeStep, Step, StepDecision, UpdateResult
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


async def commanding(harness: Harness) -> WorkflowHandle:
    entries = [checked_page("page-if-clean", below=0.10), checked_page("page-if-burning", above=0.5)]
    runbook = load_runbook().model_copy(update={"steps": StepCatalog.model_validate({"entries": entries})})
    inp = incident_input(declared=True, declared_by="alice", severity=Severity.P2, commander="alice", runbook=runbook)
    handle = await harness.start(inp)
    await handle.execute_update(Update.ASSIGN_ROLE, AssignRole(role=Role.OPERATIONS_LEAD, person="bob", by="alice"))

    async def in_command() -> None:
        assert (await state_of(handle)).phase == Phase.COMMAND

    await assert_eventually(in_command)
    return handle


async def run_step(handle: WorkflowHandle, name: str) -> Step:
    result = await handle.execute_update(
        Update.PROPOSE_STEP, ProposeStep(by="bob", step=name, params={"who": "dba-oncall"}), result_type=UpdateResult
    )
    step_id = result.step_id or ""

    async def previewed() -> Step:
        step = next(s for s in (await state_of(handle)).steps if s.step_id == step_id)
        assert step.preview_digest
        return step

    step = await assert_eventually(previewed)
    await handle.execute_update(
        Update.APPROVE,
        StepDecision(step_id=step_id, by="alice", reason="go", preview=step.preview_digest),
        result_type=UpdateResult,
    )

    async def finished() -> Step:
        done = next(s for s in (await state_of(handle)).steps if s.step_id == step_id)
        assert done.status == "done", done
        return done

    return await assert_eventually(finished, timeout=30)


async def test_the_entrys_promql_check_is_read_after_the_step_and_reported(harness: Harness) -> None:
    handle = await commanding(harness)
    clean = await run_step(handle, "page-if-clean")  # order-api errs at most 5 %: below 10 %
    assert clean.verification and clean.verification.startswith("passed"), clean.verification
    burning = await run_step(handle, "page-if-burning")  # and never above 50 %
    assert burning.verification and burning.verification.startswith("failed"), burning.verification
    posted = [text for _, template, _, text in harness.sink.sent if template == "step_result"]
    assert len(posted) == 2 and "Verification: passed" in posted[0] and "Verification: failed" in posted[1]
    verified = [e for e in (await state_of(handle)).timeline if e.kind == "step_verified"]
    assert len(verified) == 2
