"""Test helpers in the style of sdk-python's: a worker on a fresh task queue, eventual assertions."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle, WorkflowHistory
from temporalio.service import RPCError

from activities.notify import LocalSink
from warroom.compression import decode_one
from warroom.config import RunbookConfig
from warroom.devserver import free_port as free_port  # the one definition, re-exported for the tests
from warroom.ids import phase_workflow_id
from warroom.incidents import Incidents
from warroom.models import IncidentInput, IncidentState
from warroom.runbook import load_runbook
from warroom.worker import build_worker
from workflows.incident import IncidentWorkflow

T = TypeVar("T")


def payload_json(payload: Payload) -> Any:
    """A history payload's JSON, decompressed first when warroom's codec compressed it (warroom/compression.py)."""
    return json.loads(decode_one(payload).data)


class RecordingSink(LocalSink):
    """The real local sink, also keeping what it delivered in memory for assertions."""

    def __init__(self, root: Path) -> None:
        super().__init__(root, echo=False)
        self.sent: list[tuple[str, str, list[str], str]] = []

    async def deliver(self, notification: Any, text: str) -> str:
        self.sent.append((notification.channel, notification.template, list(notification.audience), text))
        return await super().deliver(notification, text)

    def templates(self) -> list[str]:
        return [template for _, template, _, _ in self.sent]

    def count(self, template: str) -> int:
        return self.templates().count(template)


class Harness:
    """A worker on a fresh task queue; incidents started through it are terminated at the end."""

    def __init__(self, client: Client, root: Path, sink: RecordingSink | None = None, **integrations: Any) -> None:
        self.client = client
        self.queue = f"test-{uuid.uuid4().hex[:8]}"
        self.sink = sink or RecordingSink(root)
        self.worker = build_worker(client, self.queue, self.sink, **integrations)
        self.handles: list[WorkflowHandle[Any, Any]] = []

    async def start(self, inp: IncidentInput) -> WorkflowHandle[IncidentWorkflow, IncidentState]:
        handle = await start_incident(self.client, self.queue, inp)
        self.handles.append(handle)
        return handle

    def __iter__(self):  # type: ignore[no-untyped-def]
        """Unpack as (worker, sink, queue)."""
        return iter((self.worker, self.sink, self.queue))


@asynccontextmanager
async def running_worker(
    client: Client, root: Path, sink: RecordingSink | None = None, **integrations: Any
) -> AsyncIterator[Harness]:
    """A worker for tests; `integrations` (metrics=, kube_activities=) are build_worker's."""
    harness = Harness(client, root, sink, **integrations)
    async with harness.worker:
        try:
            yield harness
        finally:
            from tests.history_scan import LEDGER
            from warroom.enums import Phase

            await LEDGER.scan(
                client, [i for h in harness.handles for i in (h.id, *(f"{h.id}--{p.value}" for p in Phase))]
            )
            await terminate_all(harness.handles)


def incident_input(
    incident_id: str | None = None, runbook: RunbookConfig | None = None, **fields: Any
) -> IncidentInput:
    base: dict[str, Any] = dict(
        incident_id=incident_id or f"order-api-{uuid.uuid4().hex[:8]}",
        service="order-api",
        summary="Order API returning 503s",
        runbook=runbook or load_runbook(),
        publish_search_attributes=False,
    )
    base.update(fields)
    return IncidentInput(**base)


async def start_incident(
    client: Client, queue: str, inp: IncidentInput
) -> WorkflowHandle[IncidentWorkflow, IncidentState]:
    """Open an incident the way the CLI does (warroom.incidents), as a typed handle for assertions."""
    workflow_id = await Incidents(client).start(inp, queue)
    return client.get_workflow_handle_for(IncidentWorkflow.run, workflow_id)


async def assert_eventually(check: Callable[[], Any], timeout: float = 10.0, interval: float = 0.1) -> Any:
    """Retry an async or sync assertion until it passes or `timeout` seconds pass (real time)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            result = check()
            if asyncio.iscoroutine(result):
                result = await result
            return result
        except AssertionError:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(interval)


async def state_of(handle: WorkflowHandle[Any, Any]) -> IncidentState:
    return await handle.query(IncidentWorkflow.current_state)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


MINUTE = timedelta(minutes=1)
SECOND = timedelta(seconds=1)


async def terminate_all(handles: list[WorkflowHandle[Any, Any]]) -> None:
    """Stop incidents a test left running: on the time-skipping server an orphan with no worker
    holds a pending task, which stops the clock for every later test."""
    from temporalio.service import RPCError

    from warroom.enums import Phase

    for handle in handles:
        # Let in-flight work settle: the test server keeps a terminated parent's child start pending
        # forever if the termination lands mid-start, and that too stops its clock.
        await _settled(handle)
        # The Java test server does not apply the parent-close policy, so phase children go explicitly.
        ids = [phase_workflow_id(handle.id, phase) for phase in Phase] + [handle.id]
        for workflow_id in ids:
            try:
                await handle._client.get_workflow_handle(workflow_id).terminate(reason="test finished")
            except RPCError:
                pass  # already closed, or never started


async def _settled(handle: WorkflowHandle[Any, Any], timeout: float = 5.0) -> None:
    """Until the incident has no workflow task in flight and no child start initiated but not yet
    started (or failed): the moments a termination would leave the test server stuck. Gives up
    quietly after `timeout` (a closed or busy incident is terminated all the same)."""
    from temporalio.client import WorkflowExecutionStatus

    from warroom.backtest.replay import child_start_pending

    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        try:
            described = await handle.describe()
            history = await handle.fetch_history()
        except RPCError:
            return  # never started
        if described.status is not None and described.status != WorkflowExecutionStatus.RUNNING:
            return
        if not child_start_pending(history.events) and not described.raw_description.HasField("pending_workflow_task"):
            return
        await asyncio.sleep(0.02)


async def mitigated_soon(env: Any, handle: WorkflowHandle[Any, Any], tries: int = 30) -> IncidentState:
    """After a clean window has surely passed: wait for `mitigated`, nudging the test server's clock a
    second at a time (under CPU load its time skipping can stall just short of the timer)."""
    for _ in range(tries):
        state = await state_of(handle)
        if state.mitigated_at is not None:
            return state
        await asyncio.sleep(0.2)
        await env.sleep(timedelta(seconds=1))
    kinds = " ".join(f"{e.at:%H:%M:%S}:{e.kind}" for e in state.timeline)
    raise AssertionError(f"not mitigated: {kinds}")


def not_yet() -> bool:
    """For `assert_eventually(lambda: <condition> or not_yet())`: the condition is not met yet."""
    raise AssertionError("not yet")


async def failed_workflow_tasks(client: Client, incident_workflow_id: str) -> list[str]:
    """WorkflowTaskFailed events in an incident's and its phases' histories that mean a bug: a
    determinism error or an exception in workflow code. (UNHANDLED_COMMAND — a signal arriving while
    a task completes — is Temporal's normal retry and is left out.)"""
    from temporalio.api.enums.v1 import EventType, WorkflowTaskFailedCause

    from warroom.enums import Phase

    harmful = {
        WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_NON_DETERMINISTIC_ERROR,
        WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_WORKFLOW_WORKER_UNHANDLED_FAILURE,
    }
    failures: list[str] = []
    for workflow_id in [incident_workflow_id, *(phase_workflow_id(incident_workflow_id, phase) for phase in Phase)]:
        try:
            history = await client.get_workflow_handle(workflow_id).fetch_history()
        except RPCError:
            continue  # a phase that never ran
        failures += [
            f"{workflow_id}: {WorkflowTaskFailedCause.Name(e.workflow_task_failed_event_attributes.cause)}"
            for e in history.events
            if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED
            and e.workflow_task_failed_event_attributes.cause in harmful
        ]
    return failures


async def mitigate(
    env: Any, handle: WorkflowHandle[Any, Any], ic: str = "alice", action: str = "restart"
) -> IncidentState:
    """The IC applies a mitigation and the clean-metrics window verifies it (runbook durations, skipped).

    An incident with no alert source (and, on a test worker, no metrics source) cannot verify itself:
    it asks the IC, who confirms errors are at baseline, as the runbook wants.

    The mitigation comes 7 s after the call, off the minute marks the opening's deadlines fall on
    (re-page at 5 min, updates every 15): the Java time-skipping test server hangs a workflow whose
    task cancels a timer that fired during that task (temporalio/sdk-java#2606, #3088), which is
    what the clean window's timer meets when a deadline fires at the same instant. The real server
    accepts the cancel; only the test server needs the offset."""
    from warroom.enums import Update
    from warroom.models import MarkMitigated, StatusUpdate

    await env.sleep(timedelta(seconds=7))
    await handle.execute_update(Update.MARK_MITIGATED, MarkMitigated(by=ic, action=action))
    if (await state_of(handle)).alerts_received == 0:

        async def asked() -> None:
            assert (await state_of(handle)).checks.cannot_verify

        await assert_eventually(asked)
        await handle.execute_update(Update.POST_UPDATE, StatusUpdate(by=ic, confirm=["errors_at_baseline"]))
    await env.sleep(timedelta(minutes=5, seconds=1))
    return await mitigated_soon(env, handle)


async def resolve_when_ready(env: Any, handle: WorkflowHandle[Any, Any], request: Any) -> Any:
    """After verified mitigation: let the monitoring period run out, confirm the checklist's human
    items (no new customer reports; synthetic monitors green, none reporting here), then resolve."""
    from warroom.enums import Update
    from warroom.models import StatusUpdate, UpdateResult

    await env.sleep(timedelta(minutes=10))
    for _ in range(30):  # the monitoring period's end is what `resolve` waits for
        state = await state_of(handle)
        if any(key.startswith("monitoring_done") for key in state.fired):
            break
        await asyncio.sleep(0.2)
        await env.sleep(timedelta(seconds=1))
    confirm = [i for i in ("synthetic_monitors_green", "no_customer_reports") if i not in state.checks.confirmed]
    if confirm:
        await handle.execute_update(Update.POST_UPDATE, StatusUpdate(by=request.by, confirm=confirm))
    return await handle.execute_update(Update.RESOLVE, request, result_type=UpdateResult)


class Scene:
    """One incident under a fresh worker, with the clock under the test's control (timer tests)."""

    def __init__(self, env: Any, sink: RecordingSink, handle: WorkflowHandle[Any, Any]) -> None:
        self.env, self.sink, self.handle = env, sink, handle

    async def advance(self, delta: timedelta) -> None:
        await self.env.sleep(delta)

    async def expect_count(self, template: str, count: int) -> None:
        async def check() -> None:
            assert self.sink.count(template) == count, (template, self.sink.templates())

        await assert_eventually(check)

    async def phase_is(self, phase: Any) -> None:
        async def check() -> None:
            assert (await state_of(self.handle)).phase == phase

        await assert_eventually(check)


def patch_markers(history: WorkflowHistory) -> list[str]:
    """The patch ids of a history's markers, in order (`warroom.patches.taken` expands the bundle)."""
    return [
        payload_json(e.marker_recorded_event_attributes.details["patch-data"].payloads[0])["id"]
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
        and "patch-data" in e.marker_recorded_event_attributes.details
    ]
