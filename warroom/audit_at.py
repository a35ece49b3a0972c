"""What did we know at 14:32? The incident's state as it stood at one moment, rebuilt from history.

The state is not reconstructed by re-reading events: the incident's history is cut after the last
workflow task completed at or before the moment and replayed through the current workflow code
(`Replayer`, unsandboxed), with an interceptor that keeps the workflow instance, whose `state`
query is then asked. So the state is exactly what the workflow held, deadlines included, under
the same code that `audit --verify` checks. No worker and no running incident are needed.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowHistory
from temporalio.converter import DataConverter

from warroom.client import DATA_CONVERTER
from warroom.config import RunbookConfig
from warroom.contracts import kubernetes, metrics, steps
from warroom.enums import parse_duration
from warroom.errors import BadInput, WarroomError
from warroom.models import IncidentState
from warroom.replayed import ReplayFailed, replayed_instance

READINGS = frozenset(
    contract.name
    for contract in (
        *metrics.ALL,
        steps.PROMQL_CHECK,
        kubernetes.POD_HEALTH,
        kubernetes.ROLLOUT_STATUS,
        kubernetes.RECENT_DEPLOY,
        kubernetes.MIGRATION_CHECK,
        kubernetes.RESOURCE_USAGE,
    )
)
"""Activities that read the world (metrics, Kubernetes): their last results are what was known."""

_CLOSED = {
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW,
}


_T = EventType
_COMMANDS = {
    _T.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED,
    _T.EVENT_TYPE_ACTIVITY_TASK_CANCEL_REQUESTED,
    _T.EVENT_TYPE_TIMER_STARTED,
    _T.EVENT_TYPE_TIMER_CANCELED,
    _T.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED,
    _T.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED,
    _T.EVENT_TYPE_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED,
    _T.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES,
    _T.EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED,
    _T.EVENT_TYPE_MARKER_RECORDED,
    _T.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED,
    _T.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED,
    _T.EVENT_TYPE_NEXUS_OPERATION_SCHEDULED,
    _T.EVENT_TYPE_NEXUS_OPERATION_CANCEL_REQUESTED,
    *_CLOSED,
}
"""What a completed workflow task writes right after it, in one batch: its commands, and the updates
it accepted (an update is replayed from its accepted event, so a cut must keep them)."""


class NotRebuilt(WarroomError):
    """The history does not replay under the current code (as `audit --verify` would report)."""


class Reading(BaseModel):
    """One activity's result that read the world, as recorded."""

    at: datetime
    workflow: str
    activity: str
    value: Any = None


class Snapshot(BaseModel):
    """The incident as it stood at `at`: its state (deadlines as they were pending then), the
    runbook it ran under, and the last reading of each kind taken by then."""

    at: datetime
    state: IncidentState
    runbook: RunbookConfig
    readings: list[Reading] = []


def _time(event: HistoryEvent) -> datetime:
    return event.event_time.ToDatetime(tzinfo=UTC)


def started_at(histories: list[WorkflowHistory]) -> datetime:
    """When the incident's workflow started (its first event)."""
    if not histories or not histories[0].events:
        raise BadInput("no history to rebuild the incident from")
    return _time(histories[0].events[0])


def _run_at(histories: list[WorkflowHistory], at: datetime) -> WorkflowHistory:
    """The run of the incident that was current at `at`: a long incident continues as new, and
    `incident_histories` lists its runs first, in order (phases' ids carry `--`)."""
    runs = [h for h in histories if "--" not in h.workflow_id and h.events]
    return next((run for run in reversed(runs) if _time(run.events[0]) <= at), histories[0])


def _cut(history: WorkflowHistory, at: datetime) -> WorkflowHistory:
    """The history as the workflow had processed it at `at`: up to the last completed workflow task
    at or before it (the first one if `at` falls in the milliseconds before it) and what that task
    wrote, whole once closed."""
    events = list(history.events)
    if any(e.event_type in _CLOSED for e in events) and _time(events[-1]) <= at:
        return history
    done = [i for i, e in enumerate(events) if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED]
    if not done:
        raise BadInput(f"{history.workflow_id} never completed a workflow task: there is no state to rebuild")
    end = max([done[0], *(i for i in done if _time(events[i]) <= at)]) + 1
    while end < len(events) and events[end].event_type in _COMMANDS:
        end += 1
    return WorkflowHistory(history.workflow_id, events[:end])


async def _replay(history: WorkflowHistory, converter: DataConverter) -> Any:
    """Replay `history` and return the workflow instance it left behind."""
    try:
        return await replayed_instance(history, converter)
    except ReplayFailed as failed:
        raise NotRebuilt(
            f"{history.workflow_id} does not replay under the current code, so its past state cannot be "
            f"rebuilt (see `warroom audit ID --verify`): {failed}"
        ) from None


async def snapshot_at(
    histories: list[WorkflowHistory], at: datetime, converter: DataConverter | None = None
) -> Snapshot:
    """The incident (histories as `warroom.audit.incident_histories` returns them: each run, then
    the phases) as it stood at `at`; before its start is an error, after its close is its final state."""
    at = at if at.tzinfo else at.replace(tzinfo=UTC)
    start = started_at(histories)
    if at < start:
        raise BadInput(f"{at:%Y-%m-%d %H:%M:%S} UTC is before the incident started ({start:%Y-%m-%d %H:%M:%S} UTC)")
    converter = converter or DATA_CONVERTER
    instance = await _replay(_cut(_run_at(histories, at), at), converter)
    state: IncidentState = instance.current_state()
    readings = await _readings(histories, at, converter)
    return Snapshot(at=at, state=state, runbook=instance.runbook, readings=readings)


async def state_at(
    histories: list[WorkflowHistory], at: datetime, converter: DataConverter | None = None
) -> IncidentState:
    """The incident's state as it stood at `at`, rebuilt by replaying its history up to then."""
    return (await snapshot_at(histories, at, converter)).state


async def _readings(histories: list[WorkflowHistory], at: datetime, converter: DataConverter) -> list[Reading]:
    """The last result of each reading activity completed by `at`, across the incident and its phases."""
    last: dict[str, Reading] = {}
    for history in histories:
        label = history.workflow_id.rsplit("--", 1)[1] if "--" in history.workflow_id else "incident"
        scheduled: dict[int, str] = {}
        for event in history.events:
            if _time(event) > at:
                break
            if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
                scheduled[event.event_id] = event.activity_task_scheduled_event_attributes.activity_type.name
            elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
                done = event.activity_task_completed_event_attributes
                name = scheduled.get(done.scheduled_event_id, "")
                if name not in READINGS:
                    continue
                payloads = list(done.result.payloads)
                try:
                    values = await converter.decode(payloads) if payloads else [None]
                except Exception as exc:  # an encrypted or foreign payload is still a reading taken
                    values = [f"<undecodable payload: {exc}>"]
                reading = Reading(at=_time(event), workflow=label, activity=name, value=values[0])
                if name not in last or last[name].at <= reading.at:
                    last[name] = reading
    return sorted(last.values(), key=lambda r: r.at)


_CLOCK = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?")


def moment(text: str, start: datetime) -> datetime:
    """`--at` as people say it: `14:32` or `14:32:10` (UTC, on the day the incident started),
    `20m` or `1h30m` (after the start), or an ISO time (`2026-12-06T14:32:00Z`; UTC without an offset)."""
    value = text.strip()
    clock = _CLOCK.fullmatch(value)
    if clock:
        hours, minutes, seconds = (int(g or 0) for g in clock.groups())
        if hours > 23 or minutes > 59 or seconds > 59:
            raise BadInput(f"--at {text!r}: not a time of day (HH:MM or HH:MM:SS, UTC)")
        return start.astimezone(UTC).replace(hour=hours, minute=minutes, second=seconds, microsecond=0)
    try:
        after = parse_duration(value)
    except ValueError:
        after = None
    if isinstance(after, timedelta):
        return start + after
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadInput(
            f"--at {text!r}: write a UTC time of day on the incident's start day (14:32), a time after "
            "the start (20m, 1h30m) or an ISO time (2026-12-06T14:32:00Z)"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
