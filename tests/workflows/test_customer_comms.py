"""P1 customer e-mail: drafted at resolution, sent only after the Comms lead approves, escalated at 24 h."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from tests.helpers import (
    MINUTE,
    SECOND,
    Harness,
    assert_eventually,
    incident_input,
    mitigate,
    not_yet,
    resolve_when_ready,
    running_worker,
    state_of,
)
from warroom.enums import Phase, Role, Severity, Update
from warroom.ids import phase_workflow_id
from warroom.models import AssignRole, Resolve, StatusUpdate, StepDecision


@pytest.fixture
async def resolved_p1(
    skipping_env: WorkflowEnvironment, tmp_path: Path
) -> AsyncIterator[tuple[Harness, WorkflowHandle]]:
    async with running_worker(skipping_env.client, tmp_path) as harness:
        handle = await harness.start(
            incident_input(declared=True, declared_by="alice", severity=Severity.P1, commander="alice")
        )
        await handle.execute_update(
            Update.ASSIGN_ROLE, AssignRole(role=Role.COMMUNICATIONS_LEAD, person="carol", by="alice")
        )
        await mitigate(skipping_env, handle, action="rolled back")
        await resolve_when_ready(skipping_env, handle, Resolve(by="alice", summary="rolled back"))

        async def retrospective() -> None:
            assert (await state_of(handle)).phase == Phase.RETROSPECTIVE

        await assert_eventually(retrospective)
        await assert_eventually(lambda: harness.sink.count("customer_email_draft") == 1 or not_yet())
        yield harness, handle


async def test_the_comms_lead_approves_and_only_then_the_email_goes_out(resolved_p1) -> None:
    harness, handle = resolved_p1
    step = [s for s in (await state_of(handle)).steps if s.action == "customer_email"][0]
    assert step.status == "pending" and step.approver_role == Role.COMMUNICATIONS_LEAD
    assert harness.sink.count("customer_email") == 0
    with pytest.raises(WorkflowUpdateFailedError) as rejected:
        await handle.execute_update(Update.APPROVE, StepDecision(step_id=step.step_id, by="alice", reason="ship it"))
    assert rejected.value.cause.type == "NotApprover"  # type: ignore[union-attr]
    await handle.execute_update(
        Update.APPROVE, StepDecision(step_id=step.step_id, by="carol", reason="wording checked")
    )
    await assert_eventually(lambda: harness.sink.count("customer_email") == 1 or not_yet())
    channel, _, audience, text = [m for m in harness.sink.sent if m[1] == "customer_email"][0]
    assert channel == "email" and audience == ["customers"]
    assert "Service Disruption Resolved" in text and "alice" not in text and "carol" not in text

    async def done() -> None:
        assert [s.status for s in (await state_of(handle)).steps if s.action == "customer_email"] == ["done"]

    await assert_eventually(done)


async def test_an_unapproved_email_is_escalated_at_24_hours(resolved_p1, skipping_env: WorkflowEnvironment) -> None:
    """Until 24 h after resolution only the 12 h reminder goes out; at 24 h, the escalation."""
    harness, handle = resolved_p1
    resolved_at = (await state_of(handle)).resolved_at
    drafted = len(harness.sink.sent)
    await skipping_env.sleep(timedelta(hours=24, minutes=1))
    await assert_eventually(lambda: "escalation" in harness.sink.templates()[drafted:] or not_yet())
    assert [(channel, template, audience) for channel, template, audience, _ in harness.sink.sent[drafted:]] == [
        ("incident", "customer_email_reminder", ["carol"]),
        ("page", "escalation", ["carol", "alice", "engineering-manager"]),
    ]
    # When each was sent, on the server's clock: the history, not the moment the test looked.
    sent = await notifications_sent(skipping_env, phase_workflow_id(handle.id, Phase.RETROSPECTIVE))
    assert [what for what, _ in sent] == [
        "incident: customer_email_draft",
        "incident: customer_email_reminder",
        "page: escalation",
    ]
    (_, drafted_at), (_, reminded_at), (_, escalated_at) = sent
    assert timedelta(0) <= drafted_at - resolved_at < timedelta(seconds=5)
    assert timedelta(hours=12) <= reminded_at - resolved_at < timedelta(hours=12, seconds=5)
    assert timedelta(hours=24) <= escalated_at - resolved_at < timedelta(hours=24, seconds=5)
    assert harness.sink.count("customer_email") == 0


async def notifications_sent(env: WorkflowEnvironment, workflow_id: str) -> list[tuple[str, datetime]]:
    """(channel: template, when) of each notification a workflow scheduled, from its history (each
    message of a fired deadline's `notify_batch`, whose summary joins theirs with " + ")."""
    history = await env.client.get_workflow_handle(workflow_id).fetch_history()
    return [
        (what, e.event_time.ToDatetime(tzinfo=UTC))
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and e.activity_task_scheduled_event_attributes.activity_type.name in ("notify", "notify_batch")
        for what in json.loads(e.user_metadata.summary.data).split(" + ")
    ]


async def test_the_escalation_posts_the_ic_script_stuck_line(skipping_env: WorkflowEnvironment, tmp_path: Path) -> None:
    async with running_worker(skipping_env.client, tmp_path) as harness:
        handle = await harness.start(
            incident_input(declared=True, declared_by="alice", severity=Severity.P1, commander="alice")
        )
        await skipping_env.sleep(10 * MINUTE)
        # Progress at minute 10: at 30 the team is not stuck (that line comes at 40), not mitigated either.
        await handle.execute_update(Update.POST_UPDATE, StatusUpdate(by="alice", hypothesis="pool leak"))
        await skipping_env.sleep(20 * MINUTE + SECOND)
        await assert_eventually(lambda: harness.sink.count("ic_stuck") == 1 or not_yet())
        assert harness.sink.count("no_progress") == 0
        text = [m[3] for m in harness.sink.sent if m[1] == "ic_stuck"][0]
        assert "without mitigation" in text and "different approach" in text
