"""The lean escalation path (#18 item 1): one activity per fired deadline, the report signalled by
that activity, no echo of it back to the phase; at most 3 workflow tasks, counted from the histories."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError, WorkflowHistory
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from activities.channels._http import ChannelRejected, ChannelUnavailable
from tests.helpers import (
    MINUTE,
    SECOND,
    Harness,
    RecordingSink,
    assert_eventually,
    incident_input,
    not_yet,
    payload_json,
    running_worker,
    state_of,
)
from warroom.client import DATA_CONVERTER
from warroom.config import RunbookConfig
from warroom.enums import Phase, Severity
from warroom.ids import phase_workflow_id
from warroom.models import PhaseEvent
from warroom.runbook import load_runbook
from warroom.worker import workflow_runner
from workflows.registry import WORKFLOWS

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench.escalation_cost import escalation_cost, escalation_start  # noqa: E402

P2_ESCALATION = 3 * MINUTE
"""Before any other deadline but the 2-minute role prompt: the escalation alone, with the stuck line."""


def runbook() -> RunbookConfig:
    base = load_runbook()
    matrix = dict(base.severity_matrix)
    matrix[Severity.P2] = matrix[Severity.P2].model_copy(update={"escalate_after": P2_ESCALATION})
    return base.model_copy(update={"severity_matrix": matrix})


class FailingSink(RecordingSink):
    """The local sink, refusing `template` the first `times` times (`error`: retryable or not)."""

    def __init__(self, root: Path, template: str, error: type[Exception], times: int = 1) -> None:
        super().__init__(root)
        self.template, self.error, self.left = template, error, times

    async def deliver(self, notification: Any, text: str) -> str:
        if notification.template == self.template and self.left > 0:
            self.left -= 1
            raise self.error("chat", "refused by the test")
        return await super().deliver(notification, text)


@pytest.fixture
async def harness(skipping_env: WorkflowEnvironment, tmp_path: Path) -> AsyncIterator[Harness]:
    async with running_worker(skipping_env.client, tmp_path) as h:
        yield h


async def escalated(env: WorkflowEnvironment, harness: Harness) -> Any:
    """A declared P2 commanded by alice, one second past its escalation."""
    handle = await harness.start(
        incident_input(runbook=runbook(), declared=True, declared_by="alice", severity=Severity.P2, commander="alice")
    )
    await env.sleep(P2_ESCALATION + SECOND)
    await assert_eventually(lambda: harness.sink.count("escalation") == 1 or not_yet())

    async def reported() -> None:
        assert [e for e in (await state_of(handle)).timeline if e.kind == "escalate"]

    await assert_eventually(reported)
    return handle


async def histories(env: WorkflowEnvironment, handle: Any) -> tuple[WorkflowHistory, WorkflowHistory]:
    client = env.client
    phase = await client.get_workflow_handle(phase_workflow_id(handle.id, Phase.COMMAND)).fetch_history()
    return phase, await handle.fetch_history()


def scheduled(history: WorkflowHistory) -> list[tuple[str, Any]]:
    return [
        (
            e.activity_task_scheduled_event_attributes.activity_type.name,
            payload_json(e.activity_task_scheduled_event_attributes.input.payloads[0]),
        )
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]


async def test_an_escalation_is_one_activity_and_at_most_three_workflow_tasks(
    skipping_env: WorkflowEnvironment, harness: Harness
) -> None:
    handle = await escalated(skipping_env, harness)
    assert harness.sink.count("ic_stuck") == 1  # the stuck line went with the page
    phase, incident = await histories(skipping_env, handle)
    batches = [body for name, body in scheduled(phase) if name == "notify_batch"]
    templates = [[n["template"] for n in b["notifications"]] for b in batches]
    assert templates == [["role_prompt"], ["escalation", "ic_stuck"]]  # every deadline: one activity
    assert not [body for name, body in scheduled(phase) if name == "notify" and body["template"] == "escalation"]
    cost = escalation_cost(phase.events, incident.events, within=MINUTE)
    assert cost is not None
    tasks, activities = cost
    assert (tasks, activities) == (3, 1), cost
    # The timeline as before: who was paged, delivered yes; escalated to the team lead, once.
    state = await state_of(handle)
    [entry] = [e for e in state.timeline if e.kind == "escalate"]
    assert entry.data == {"audience": "engineering-team-lead", "due_at": entry.data["due_at"], "delivered": "yes"}
    assert state.escalated_to == ["engineering-manager", "engineering-team-lead"]  # told at declaration, then
    assert not [e for e in state.timeline if e.kind == "notification_failed"]
    # The phase took the report without an echo: no incident_changed after the escalation.
    fired_at = escalation_start(phase.events)
    assert fired_at is not None
    forwarded = [
        e
        for e in incident.events
        if e.event_type == EventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED
        and e.event_time.ToDatetime() >= fired_at
    ]
    assert not forwarded
    # Both histories replay under the current code.
    replayer = Replayer(workflows=WORKFLOWS, data_converter=DATA_CONVERTER, workflow_runner=workflow_runner(True))
    for history in (phase, incident):
        await replayer.replay_workflow(history)


async def test_a_report_sent_again_by_a_retried_activity_is_taken_once(
    skipping_env: WorkflowEnvironment, harness: Harness
) -> None:
    handle = await escalated(skipping_env, harness)
    state = await state_of(handle)
    [entry] = [e for e in state.timeline if e.kind == "escalate"]
    key = next(k for k in state.fired if k.startswith("escalate"))
    again = PhaseEvent(kind="escalate", deadline_key=key, message=entry.message, data=dict(entry.data))
    await handle.signal("phase_events", [again])
    await skipping_env.sleep(SECOND)
    after = await state_of(handle)
    assert [e.kind for e in after.timeline] == [e.kind for e in state.timeline]


@pytest.mark.parametrize(
    ("error", "failed"), [(ChannelRejected, True), (ChannelUnavailable, False)], ids=["refused", "retried"]
)
async def test_a_message_that_fails_is_reported_never_fatal(
    skipping_env: WorkflowEnvironment, tmp_path: Path, error: type[Exception], failed: bool
) -> None:
    """Refused for good: a notification_failed event from the activity's own report. Down for a
    moment: the workflow sends it again with `notify` (its retries) and reports itself."""
    sink = FailingSink(tmp_path, "ic_stuck", error)
    async with running_worker(skipping_env.client, tmp_path, sink) as harness:
        handle = await escalated(skipping_env, harness)
        await assert_eventually(lambda: harness.sink.count("ic_stuck") == (0 if failed else 1) or not_yet())
        state = await state_of(handle)
        [entry] = [e for e in state.timeline if e.kind == "escalate"]
        assert entry.data["delivered"] == "yes"
        failures = [e.message for e in state.timeline if e.kind == "notification_failed"]
        assert failures == (
            ["incident message 'ic_stuck' could not be delivered: chat: refused by the test"] if failed else []
        )
        phase, _ = await histories(skipping_env, handle)
        names = [name for name, _ in scheduled(phase)]
        assert names.count("notify_batch") == 2 and names.count("notify") == (0 if failed else 1)
        assert state.phase == Phase.COMMAND


PRE_LEAN = Path(__file__).with_name("histories")
"""Recorded by tests/scale_lean/record_pre_lean.py with the code before "lean-deadlines" (main 641f61f)."""


@pytest.mark.parametrize("sandboxed", [True, False], ids=["sandboxed", "unsandboxed"])
async def test_an_escalation_recorded_before_the_patch_replays_the_old_way(sandboxed: bool) -> None:
    """The same scenario under the old code: two `notify` activities, the report signalled by the
    phase and echoed back; the current code replays it command for command."""
    incident, phase = (
        WorkflowHistory.from_json(p.stem, p.read_text())
        for p in (PRE_LEAN / "incident-order-api-pre-lean.json", PRE_LEAN / "incident-order-api-pre-lean--command.json")
    )
    names = [name for name, _ in scheduled(phase)]
    assert "notify_batch" not in names
    assert [b["template"] for n, b in scheduled(phase) if n == "notify"][-2:] == ["escalation", "ic_stuck"]
    cost = escalation_cost(phase.events, incident.events, within=MINUTE)
    assert cost is not None and cost[0] > 3 and cost[1] == 2, cost
    replayer = Replayer(workflows=WORKFLOWS, data_converter=DATA_CONVERTER, workflow_runner=workflow_runner(sandboxed))
    for history in (phase, incident):
        await replayer.replay_workflow(history)


async def test_a_phase_whose_incident_was_terminated_by_hand_pages_nobody_and_ends(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """Phases outlive their incident (parent close policy ABANDON, for continue-as-new): one left
    behind by a terminated incident sends nothing when its escalation falls due, and ends saying why.
    On the dev server, with a 20-s escalation: the time-skipping server strands on the abandoned phase."""
    base = runbook()
    matrix = dict(base.severity_matrix)
    matrix[Severity.P2] = matrix[Severity.P2].model_copy(update={"escalate_after": 20 * SECOND})
    quick = base.model_copy(update={"severity_matrix": matrix})
    async with running_worker(dev_env.client, tmp_path) as harness:
        handle = await harness.start(
            incident_input(runbook=quick, declared=True, declared_by="alice", severity=Severity.P2, commander="alice")
        )

        phase = dev_env.client.get_workflow_handle(phase_workflow_id(handle.id, Phase.COMMAND))

        async def in_command() -> None:
            try:
                assert (await phase.describe()).status == WorkflowExecutionStatus.RUNNING
            except RPCError as err:
                raise AssertionError(f"the Command phase has not started: {err}") from None

        await assert_eventually(in_command)
        await handle.terminate(reason="a bogus incident, ended by hand")
        assert (await phase.describe()).status == WorkflowExecutionStatus.RUNNING, "the phase outlived its incident"

        async def ended() -> None:
            assert (await phase.describe()).status == WorkflowExecutionStatus.FAILED

        await assert_eventually(ended, timeout=90)
        with pytest.raises(WorkflowFailureError) as failed:
            await phase.result()
        assert isinstance(failed.value.cause, ApplicationError) and failed.value.cause.type == "IncidentGone"
        assert harness.sink.count("escalation") == 0 and harness.sink.count("ic_stuck") == 0
