"""Human input through updates: validators reject before history; accepted decisions record who and why."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from tests.helpers import (
    assert_eventually,
    incident_input,
    mitigate,
    not_yet,
    resolve_when_ready,
    running_worker,
    state_of,
)
from warroom.enums import Phase, Role, Severity, Update
from warroom.models import (
    Acknowledge,
    ActionItem,
    AssignRole,
    CompleteActionItem,
    CompletePir,
    Declare,
    ImpactSignals,
    MarkMitigated,
    ProposeStep,
    Resolve,
    SetFlags,
    StepDecision,
    UpdateResult,
)


@pytest.fixture
async def incident(skipping_env: WorkflowEnvironment, tmp_path: Path) -> AsyncIterator[WorkflowHandle]:
    async with running_worker(skipping_env.client, tmp_path) as harness:
        handle = await harness.start(
            incident_input(declared=True, declared_by="alice", severity=Severity.P2, commander="alice")
        )
        await handle.execute_update(Update.ASSIGN_ROLE, AssignRole(role=Role.OPERATIONS_LEAD, person="bob", by="alice"))

        async def commanding() -> None:
            assert (await state_of(handle)).phase == Phase.COMMAND

        await assert_eventually(commanding)
        yield handle


async def rejection(handle: WorkflowHandle, name: str, arg: object) -> tuple[str, str]:
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await handle.execute_update(name, arg, result_type=UpdateResult)
    cause = caught.value.cause
    return cause.type, cause.message  # type: ignore[union-attr]


async def accepted_updates(handle: WorkflowHandle) -> list[str]:
    history = await handle.fetch_history()
    return [
        e.workflow_execution_update_accepted_event_attributes.accepted_request.input.name
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
    ]


async def test_a_non_ic_approval_is_rejected_and_leaves_no_trace_in_history(incident: WorkflowHandle) -> None:
    proposed = await incident.execute_update(
        Update.PROPOSE_STEP,
        ProposeStep(by="bob", action="custom", target="deployment/order-api"),
        result_type=UpdateResult,
    )
    before = await accepted_updates(incident)
    kind, message = await rejection(
        incident, "approve", StepDecision(step_id=proposed.step_id, by="bob", reason="looks bad")
    )
    assert kind == "NotIncidentCommander"
    assert "only the Incident Commander (alice)" in message
    assert await accepted_updates(incident) == before
    state = await state_of(incident)
    assert state.steps[0].status == "pending"


async def test_the_ic_approval_is_recorded_with_identity_and_reason(incident: WorkflowHandle) -> None:
    step = (
        await incident.execute_update(
            Update.PROPOSE_STEP,
            ProposeStep(by="bob", action="custom", target="deployment/order-api"),
            result_type=UpdateResult,
        )
    ).step_id
    await incident.execute_update(Update.APPROVE, StepDecision(step_id=step, by="alice", reason="deploy 20 min ago"))
    state = await state_of(incident)
    assert (state.steps[0].status, state.steps[0].decided_by, state.steps[0].reason) == (
        "approved",
        "alice",
        "deploy 20 min ago",
    )
    entry = [e for e in state.timeline if e.kind == "step_approved"][-1]
    assert entry.actor == "alice" and entry.data["reason"] == "deploy 20 min ago"
    kind, _ = await rejection(incident, "deny", StepDecision(step_id=step, by="alice", reason="changed my mind"))
    assert kind == "StepDecided"


async def test_a_denial_is_an_accepted_update_recorded_in_the_timeline(incident: WorkflowHandle) -> None:
    step = (
        await incident.execute_update(
            Update.PROPOSE_STEP,
            ProposeStep(by="bob", action="escalate", target="dba-on-call"),
            result_type=UpdateResult,
        )
    ).step_id
    await incident.execute_update(Update.DENY, StepDecision(step_id=step, by="alice", reason="not a database problem"))
    assert "deny" in await accepted_updates(incident)
    state = await state_of(incident)
    assert state.steps[0].status == "denied"
    assert any(e.kind == "step_denied" and e.actor == "alice" for e in state.timeline)


async def test_people_without_a_role_cannot_act(incident: WorkflowHandle) -> None:
    kind, message = await rejection(incident, "propose_step", ProposeStep(by="mallory", action="rollback", target="x"))
    assert kind == "NotAResponder" and "mallory" in message
    kind, _ = await rejection(
        incident, "assign_role", AssignRole(role=Role.INCIDENT_COMMANDER, person="mallory", by="mallory")
    )
    assert kind == "NotIncidentCommander"
    kind, _ = await rejection(incident, "declare", Declare(by="alice"))
    assert kind == "AlreadyDeclared"


async def test_resolution_needs_verified_mitigation(incident: WorkflowHandle) -> None:
    kind, message = await rejection(incident, "resolve", Resolve(by="alice", summary="fixed"))
    assert kind == "NotMitigated" and "mitigated" in message
    await incident.execute_update(Update.MARK_MITIGATED, MarkMitigated(by="alice", action="rolled back"))
    kind, message = await rejection(incident, "resolve", Resolve(by="alice", summary="fixed"))
    assert kind == "NotMitigated" and "clean-metrics window" in message


async def test_a_vendor_incident_cannot_resolve_without_the_ticket_reference(
    skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    async with running_worker(skipping_env.client, tmp_path) as harness:
        handle = await harness.start(
            incident_input(
                declared=True,
                declared_by="alice",
                severity=Severity.P3,
                commander="alice",
                signals=ImpactSignals(third_party_vendor=True),
            )
        )
        await assert_eventually(lambda: harness.sink.count("vendor_ticket") == 1 or not_yet())
        await mitigate(skipping_env, handle, action="vendor failover")
        kind, _ = await rejection(handle, "resolve", Resolve(by="alice", summary="vendor fixed it"))
        assert kind == "VendorTicketMissing"
        await handle.execute_update(Update.SET_FLAGS, SetFlags(by="alice", vendor_ticket="ZD-4711"))
        await resolve_when_ready(skipping_env, handle, Resolve(by="alice", summary="vendor fixed it"))
        assert (await state_of(handle)).phase in (Phase.RESOLVE, Phase.RETROSPECTIVE)


async def test_a_pir_without_action_items_is_refused(skipping_env: WorkflowEnvironment, tmp_path: Path) -> None:
    async with running_worker(skipping_env.client, tmp_path) as harness:
        handle = await harness.start(
            incident_input(declared=True, declared_by="alice", severity=Severity.P3, commander="alice")
        )
        await mitigate(skipping_env, handle, action="restart")
        await resolve_when_ready(skipping_env, handle, Resolve(by="alice", summary="restarted", pir_owner="bob"))
        kind, message = await rejection(handle, "complete_pir", CompletePir(by="bob", action_items=[]))
        assert kind == "NoActionItems" and "changes nothing" in message
        state = await state_of(handle)
        item = ActionItem(title="alert on pool exhaustion", owner="bob", due=state.pir.due + timedelta(days=7))
        await handle.execute_update(Update.COMPLETE_PIR, CompletePir(by="bob", action_items=[item]))
        kind, _ = await rejection(handle, "complete_action_item", CompleteActionItem(by="mallory", item=1))
        assert kind == "NotItemOwner"
        kind, _ = await rejection(handle, "complete_action_item", CompleteActionItem(by="bob", item=2))
        assert kind == "UnknownItem"
        await handle.execute_update(Update.COMPLETE_ACTION_ITEM, CompleteActionItem(by="bob", item=1))
        assert (await handle.result()).phase == Phase.CLOSED


async def test_pir_reminder_then_escalation_to_the_engineering_manager(
    skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    async with running_worker(skipping_env.client, tmp_path) as harness:
        handle = await harness.start(
            incident_input(declared=True, declared_by="alice", severity=Severity.P2, commander="alice")
        )
        await handle.execute_update(Update.ACKNOWLEDGE, Acknowledge(by="alice"))
        await mitigate(skipping_env, handle, action="restart")
        await resolve_when_ready(skipping_env, handle, Resolve(by="alice", summary="restarted"))

        async def retrospective() -> None:
            assert (await state_of(handle)).phase == Phase.RETROSPECTIVE

        await assert_eventually(retrospective)
        state = await state_of(handle)
        assert state.pir.due is not None and state.resolved_at is not None
        assert state.pir.due.weekday() < 5
        until_reminder = state.pir.due - timedelta(days=1) - state.resolved_at
        await skipping_env.sleep(until_reminder - timedelta(seconds=2))
        assert harness.sink.count("pir_reminder") == 0
        await skipping_env.sleep(timedelta(seconds=3))
        await assert_eventually(lambda: harness.sink.count("pir_reminder") == 1 or not_yet())
        await skipping_env.sleep(timedelta(days=1))
        await assert_eventually(lambda: harness.sink.count("pir_overdue") == 1 or not_yet())
        assert "engineering-manager" in (await state_of(handle)).escalated_to


async def test_two_concurrent_ic_approvals_decide_the_step_once(incident: WorkflowHandle) -> None:
    step = (
        await incident.execute_update(
            Update.PROPOSE_STEP,
            ProposeStep(by="bob", action="custom", target="deployment/order-api"),
            result_type=UpdateResult,
        )
    ).step_id
    import asyncio

    outcomes = await asyncio.gather(
        *(
            incident.execute_update(
                Update.APPROVE, StepDecision(step_id=step, by="alice", reason=f"go {i}"), result_type=UpdateResult
            )
            for i in range(2)
        ),
        return_exceptions=True,
    )
    accepted = [o for o in outcomes if isinstance(o, UpdateResult)]
    rejected = [o for o in outcomes if isinstance(o, WorkflowUpdateFailedError)]
    assert len(accepted) == 1 and len(rejected) == 1, outcomes
    assert rejected[0].cause.type == "StepDecided"  # type: ignore[union-attr]
    assert (await accepted_updates(incident)).count("approve") == 1


async def test_only_the_ic_declares_mitigation_and_resolution_and_a_refusal_leaves_no_event(
    skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    async with running_worker(skipping_env.client, tmp_path) as harness:
        handle = await harness.start(
            incident_input(declared=True, declared_by="alice", severity=Severity.P3, commander="alice")
        )
        await handle.execute_update(Update.ASSIGN_ROLE, AssignRole(role=Role.OPERATIONS_LEAD, person="bob", by="alice"))
        before = await accepted_updates(handle)
        assert await rejection(handle, "mark_mitigated", MarkMitigated(by="bob", action="restart")) == (
            "NotIncidentCommander",
            "only the Incident Commander (alice) may declare mitigation; bob is not",
        )
        assert await accepted_updates(handle) == before
        await mitigate(skipping_env, handle, ic="alice")

        before = await accepted_updates(handle)
        assert await rejection(handle, "resolve", Resolve(by="bob", summary="restarted")) == (
            "NotIncidentCommander",
            "only the Incident Commander (alice) may declare resolution; bob is not",
        )
        assert await accepted_updates(handle) == before
        assert (await state_of(handle)).resolved_at is None
