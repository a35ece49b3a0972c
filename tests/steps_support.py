"""What the step tests share: an incident in Command with an Ops Lead to propose, a runbook with
the test's own catalog entries, and waiting for a step to reach a state."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from temporalio.client import WorkflowHandle

from tests.helpers import Harness, assert_eventually, incident_input, state_of
from warroom.catalog import StepCatalog
from warroom.config import RunbookConfig
from warroom.enums import Phase, Role, Severity, Update
from warroom.models import AssignRole, ProposeStep, Step, StepDecision, UpdateResult
from warroom.runbook import load_runbook


def with_entries(*entries: dict[str, Any]) -> RunbookConfig:
    """The default runbook whose catalog also has these entries (or, by name, replaces a built-in)."""
    return load_runbook().model_copy(update={"steps": StepCatalog.model_validate({"entries": list(entries)})})


async def commanding(harness: Harness, runbook: RunbookConfig | None = None, **fields: Any) -> WorkflowHandle:
    """A declared P2 incident in Command: alice commands, bob is the Ops Lead (who proposes)."""
    inp = incident_input(
        declared=True, declared_by="alice", severity=Severity.P2, commander="alice", runbook=runbook, **fields
    )
    handle = await harness.start(inp)
    await handle.execute_update(Update.ASSIGN_ROLE, AssignRole(role=Role.OPERATIONS_LEAD, person="bob", by="alice"))

    async def in_command() -> None:
        assert (await state_of(handle)).phase == Phase.COMMAND

    await assert_eventually(in_command, timeout=30)
    return handle


async def propose(handle: WorkflowHandle, step: str, by: str = "bob", **params: Any) -> str:
    result = await handle.execute_update(
        Update.PROPOSE_STEP, ProposeStep(by=by, step=step, params=params), result_type=UpdateResult
    )
    assert result.step_id
    return result.step_id


async def step_where(handle: WorkflowHandle, step_id: str, check: Callable[[Step], bool], timeout: float = 30) -> Step:
    """The step once `check` holds for it."""

    async def found() -> Step:
        step = next(s for s in (await state_of(handle)).steps if s.step_id == step_id)
        assert check(step), step
        return step

    result: Step = await assert_eventually(found, timeout=timeout, interval=0.2)
    return result


async def approve(handle: WorkflowHandle, step_id: str, preview: str | None, reason: str, by: str = "alice") -> None:
    """Approve the step on the preview named by its digest (the IC, unless `by` says otherwise)."""
    decision = StepDecision(step_id=step_id, by=by, reason=reason, preview=preview)
    await handle.execute_update(Update.APPROVE, decision, result_type=UpdateResult)


async def finished(handle: WorkflowHandle, step_id: str, timeout: float = 60) -> Step:
    """The step once it has run its course, done or failed."""
    return await step_where(handle, step_id, lambda s: s.status in ("done", "failed"), timeout=timeout)
