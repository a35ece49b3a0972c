"""`adopt_runbook` under time skipping: the adopting incident and its phases follow the new runbook
(deadlines fire at the new time, not the old, checked on both sides), a non-IC is refused with no
event in history, and an incident that does not adopt keeps its runbook."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from tests.helpers import (
    MINUTE,
    SECOND,
    assert_eventually,
    failed_workflow_tasks,
    incident_input,
    running_worker,
    state_of,
)
from warroom.config import RunbookConfig
from warroom.enums import Phase, Role, Severity, Update
from warroom.models import Acknowledge, AdoptRunbook, Alert, AssignRole, Declare, ImpactSignals, UpdateResult
from warroom.runbook import load_runbook

Start = Callable[..., Awaitable[WorkflowHandle[Any, Any]]]


def p2_escalating_after(after: timedelta) -> RunbookConfig:
    base = load_runbook()
    p2 = base.severity_matrix[Severity.P2].model_copy(update={"escalate_after": after})
    return base.model_copy(update={"severity_matrix": {**base.severity_matrix, Severity.P2: p2}})


@pytest.fixture
async def harness(skipping_env: WorkflowEnvironment, tmp_path: Path) -> AsyncIterator[Any]:
    async with running_worker(skipping_env.client, tmp_path) as running:
        yield running


async def declared_p2(harness: Any) -> WorkflowHandle[Any, Any]:
    handle = await harness.start(incident_input(declared=True, declared_by="alice", severity=Severity.P2))
    await handle.execute_update(Update.ACKNOWLEDGE, Acknowledge(by="alice", take_command=True))

    async def in_command() -> None:
        assert (await state_of(handle)).phase == Phase.COMMAND

    await assert_eventually(in_command)
    return handle


async def count(handle: WorkflowHandle[Any, Any], kind: str, expected: int) -> None:
    async def check() -> None:
        kinds = [e.kind for e in (await state_of(handle)).timeline]
        assert kinds.count(kind) == expected, kinds

    await assert_eventually(check)


async def test_a_shorter_p2_escalation_fires_at_the_new_time_and_a_neighbour_keeps_its_own(
    skipping_env: WorkflowEnvironment, harness: Any
) -> None:
    adopting, keeping = await declared_p2(harness), await declared_p2(harness)
    await skipping_env.sleep(10 * MINUTE)
    result = await adopting.execute_update(
        Update.ADOPT_RUNBOOK,
        AdoptRunbook(by="alice", runbook=p2_escalating_after(30 * MINUTE), reason="P2 escalates at 30 minutes now"),
        result_type=UpdateResult,
    )
    assert result.message == "runbook adopted by alice: P2 escalates at 30 minutes now; 1 deadline moved"
    state = await state_of(adopting)
    adopted = [e for e in state.timeline if e.kind == "runbook_adopted"]
    assert [(e.actor, e.data["moved"], e.data["deadlines"]) for e in adopted] == [
        ("alice", "1", "escalate:engineering-team-lead")
    ]
    escalation = next(d for d in state.deadlines if d.kind == "escalate")
    assert escalation.at == state.opened_at + 30 * MINUTE

    # Both sides of each boundary, 30 s apart: the test server's clock also moves with real time
    # while workflow tasks run, so on a loaded machine a 2-second margin was crossed early.
    await skipping_env.sleep(20 * MINUTE - 30 * SECOND)  # 30 min - 30 s: not yet
    await count(adopting, "escalate", 0)
    await skipping_env.sleep(60 * SECOND)  # 30 min + 30 s: the team lead is paged, by the running phase
    await count(adopting, "escalate", 1)
    await count(keeping, "escalate", 0)
    await skipping_env.sleep(30 * MINUTE - 60 * SECOND)  # 60 min - 30 s
    await count(keeping, "escalate", 0)
    await skipping_env.sleep(60 * SECOND)  # 60 min + 30 s: the old time, only for the one that kept its runbook
    await count(keeping, "escalate", 1)
    await count(adopting, "escalate", 1)
    assert "runbook_adopted" not in [e.kind for e in (await state_of(keeping)).timeline]
    assert await failed_workflow_tasks(harness.client, adopting.id) == []


async def test_only_the_ic_adopts_and_a_refusal_leaves_no_event(
    skipping_env: WorkflowEnvironment, harness: Any
) -> None:
    handle = await declared_p2(harness)
    shorter = p2_escalating_after(30 * MINUTE)
    refusals = [
        (
            AdoptRunbook(by="bob", runbook=shorter, reason="faster"),
            "NotIncidentCommander",
            "only the Incident Commander (alice) may move the incident to another runbook; bob is not",
        ),
        (
            AdoptRunbook(by="alice", runbook=load_runbook(), reason="same file"),
            "NoChange",
            "the incident already follows this runbook",
        ),
    ]
    for request, kind, message in refusals:
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(Update.ADOPT_RUNBOOK, request)
        cause = refused.value.cause
        assert isinstance(cause, ApplicationError) and cause.type == kind and cause.message == message, cause
    history = await handle.fetch_history()
    assert not [
        e
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
        and e.workflow_execution_update_accepted_event_attributes.accepted_request.input.name == Update.ADOPT_RUNBOOK
    ]
    assert "runbook_adopted" not in [e.kind for e in (await state_of(handle)).timeline]
    await skipping_env.sleep(30 * MINUTE + 2 * SECOND)  # the refused runbook moved nothing
    await count(handle, "escalate", 0)


async def test_the_running_phase_follows_and_the_next_phase_starts_with_the_adopted_runbook(
    skipping_env: WorkflowEnvironment, harness: Any
) -> None:
    quiet = Alert(fingerprint="fp-adopt", summary="error ratio 0.5%", signals=ImpactSignals(user_error_ratio=0.005))
    handle = await harness.start(incident_input(alert=quiet, on_call="oncall-bob"))
    await assert_eventually(lambda: _phase_is(handle, Phase.DETECTION))
    # Nobody acknowledged: bob names alice IC (the on-call page stays unacknowledged), and she adopts.
    await handle.execute_update(
        Update.ASSIGN_ROLE, AssignRole(role=Role.INCIDENT_COMMANDER, person="alice", by="oncall-bob")
    )
    base = p2_escalating_after(30 * MINUTE)
    faster = base.model_copy(
        update={"acknowledgement": base.acknowledgement.model_copy(update={"repage_after": timedelta(minutes=2)})}
    )
    result = await handle.execute_update(
        Update.ADOPT_RUNBOOK,
        AdoptRunbook(by="alice", runbook=faster, reason="re-page sooner"),
        result_type=UpdateResult,
    )
    assert result.message.endswith("; 1 deadline moved"), result.message  # the re-page; not declared: no escalation

    await skipping_env.sleep(2 * MINUTE - 15 * SECOND)  # margins of 15 s: the clock also moves with real time
    await count(handle, "ack_repage", 0)
    await skipping_env.sleep(30 * SECOND)  # 2 min + 15 s: the Detection phase re-pages under the adopted runbook
    await count(handle, "ack_repage", 1)
    await skipping_env.sleep(4 * MINUTE)  # past the old 5 minutes: no second re-page
    await count(handle, "ack_repage", 1)

    await handle.execute_update(Update.DECLARE, Declare(by="alice", severity=Severity.P2, reason="checkout errors"))
    await assert_eventually(lambda: _phase_is(handle, Phase.COMMAND))
    opened = (await state_of(handle)).opened_at
    now = await skipping_env.get_current_time()
    await skipping_env.sleep(opened + 30 * MINUTE - now - 15 * SECOND)
    await count(handle, "escalate", 0)
    await skipping_env.sleep(30 * SECOND)  # 30 min from the opening: the Command phase started with it
    await count(handle, "escalate", 1)
    assert await failed_workflow_tasks(harness.client, handle.id) == []


async def _phase_is(handle: WorkflowHandle[Any, Any], phase: Phase) -> None:
    assert (await state_of(handle)).phase == phase
