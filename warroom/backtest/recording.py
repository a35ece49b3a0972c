"""Histories → what the runbook saw (`record`) and what it did, when (`decisions`).

The histories are the incident's runs, first to latest (a long incident continues as new), followed
by each phase child's, as `warroom.audit.incident_histories` returns them. Offsets are seconds since the incident's WorkflowExecutionStarted, so an original and
its backtest (whose clock starts elsewhere) compare instant for instant.

What counts as a decision, kept deliberately simple:

    notify            kind `escalation` when the template is `escalation`, else the channel
                      (`incident` → `channel`); key `kind:template:audience` (each message of a
                      `notify_batch` too: it is recorded and decided as the `notify` calls it stands for)
    step activities   kube_step_apply, ansible_step_apply, http_step_apply, kube_rollback: kind `step`,
                      key the activity's match key (its type and target, never a timestamp)
    phase children   kind `phase`, key the phase
    accepted updates  kind `update`, key `name:by`
    the close         kind `severity`, key the final severity (when the incident's workflow completed)
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp
from temporalio.api.enums.v1 import EventType
from temporalio.api.failure.v1 import Failure
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowHistory
from temporalio.converter import DataConverter

from warroom.backtest.models import Decision, RecordedActivity, RecordedFailure, RecordedInput, Recording
from warroom.patches import taken

INTERNAL_SIGNALS = frozenset({"phase_event", "phase_events", "incident_changed", "parent_continues", "phase_finished"})
"""Signals the workflows send each other (a run continuing as new tells its phase, which reports its
end to the next run): the backtest's own workflows send them again."""

STEP_ACTIVITIES = frozenset({"kube_step_apply", "ansible_step_apply", "http_step_apply", "kube_rollback"})
"""Activities that change the world: running one is a decision."""

PATCH_MARKER = "core_patch"
NOTIFY_BATCH = "notify_batch"
"""Several messages in one activity (a fired deadline's): each one recorded and decided as a `notify`."""

_T = EventType
CLOSING_EVENTS = frozenset(
    {
        _T.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
        _T.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED,
        _T.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED,
        _T.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED,
        _T.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT,
    }
)
"""How a run ends the incident. Not CONTINUED_AS_NEW: the incident goes on in its next run."""
_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}")
_UNMATCHED_FIELDS = frozenset({"idempotency_key", "expected", "restarted_at", "incident_id"})
"""Request fields that say when or which attempt, not what is asked."""
_NOTIFY_CHANNEL_KIND = {"incident": "channel"}


def label(workflow_id: str) -> str:
    """`incident`, or the phase of a phase child's id (`incident-x--declare` → `declare`)."""
    return workflow_id.rsplit("--", 1)[1] if "--" in workflow_id else "incident"


def _time(stamp: Timestamp) -> datetime:
    return stamp.ToDatetime(tzinfo=UTC)


async def _decoded(converter: DataConverter, payloads: Any) -> list[Any]:
    items = list(getattr(payloads, "payloads", []) or [])
    return list(await converter.decode(items)) if items else []


async def _first(converter: DataConverter, payloads: Any) -> Any:
    values = await _decoded(converter, payloads)
    return values[0] if values else None


def _scalar(value: Any) -> bool:
    return not (isinstance(value, str) and _TIMESTAMP.match(value))


def match_key(activity_type: str, request: Any) -> str:
    """What identifies a call regardless of timing: for `notify` its channel, template and audience;
    for any other activity its type and the fields that say what it reads or changes (service,
    namespace, deployment, query, action...), leaving out timestamps, idempotency keys and the
    preview fingerprint."""
    body = request if isinstance(request, dict) else {}
    if activity_type == "notify":
        audience = ",".join(str(a) for a in body.get("audience") or [])
        return f"notify:{body.get('channel', '')}:{body.get('template', '')}:{audience}"
    fields = [
        f"{name}={value if isinstance(value, str) else json.dumps(value, sort_keys=True)}"
        for name, value in sorted(body.items())
        if name not in _UNMATCHED_FIELDS and value not in (None, "", [], {}) and _scalar(value)
    ]
    return ":".join([activity_type, *fields]) if fields else activity_type


def _failure(failure: Failure) -> RecordedFailure:
    if failure.HasField("application_failure_info"):
        info = failure.application_failure_info
        return RecordedFailure(type=info.type, message=failure.message, non_retryable=info.non_retryable)
    if failure.HasField("timeout_failure_info"):
        return RecordedFailure(type="TimedOut", message=failure.message or "timed out", non_retryable=True)
    cause = failure.cause if failure.HasField("cause") else None
    return _failure(cause) if cause is not None and cause.message else RecordedFailure(message=failure.message)


def _started(histories: list[WorkflowHistory]) -> HistoryEvent:
    if not histories or not histories[0].events:
        raise ValueError("no incident history to read")
    first = histories[0].events[0]
    if first.event_type != _T.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
        raise ValueError(f"{histories[0].workflow_id}: the history does not begin with its start")
    return first


async def record(histories: list[WorkflowHistory], converter: DataConverter) -> Recording:
    """Everything the runbook saw: its input, every input from outside with its offset, caller and
    update id, every activity with its result or final failure, and the patches the original took."""
    start = _started(histories)
    started_at = _time(start.event_time)
    inp = await _first(converter, start.workflow_execution_started_event_attributes.input)
    if not isinstance(inp, dict) or "incident_id" not in inp:
        raise ValueError(f"{histories[0].workflow_id}: not an incident (its input has no incident_id)")
    recording = Recording(
        workflow_id=histories[0].workflow_id, incident_id=inp["incident_id"], started_at=started_at, input=inp
    )
    for history in histories:
        where = label(history.workflow_id)
        scheduled: dict[int, RecordedActivity] = {}
        batches: dict[int, list[RecordedActivity]] = {}
        for event in history.events:
            offset = (_time(event.event_time) - started_at).total_seconds()
            kind = event.event_type
            if kind == _T.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
                request = event.workflow_execution_update_accepted_event_attributes.accepted_request
                recording.inputs.append(
                    RecordedInput(
                        offset=offset,
                        workflow=where,
                        kind="update",
                        name=request.input.name,
                        args=await _decoded(converter, request.input.args),
                        identity=request.meta.identity,
                        update_id=request.meta.update_id,
                    )
                )
            elif kind == _T.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
                signaled = event.workflow_execution_signaled_event_attributes
                if signaled.signal_name not in INTERNAL_SIGNALS:
                    recording.inputs.append(
                        RecordedInput(
                            offset=offset,
                            workflow=where,
                            kind="signal",
                            name=signaled.signal_name,
                            args=await _decoded(converter, signaled.input),
                            identity=signaled.identity,
                        )
                    )
            elif kind == _T.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
                attrs = event.activity_task_scheduled_event_attributes
                request_body = await _first(converter, attrs.input)
                activity_type = attrs.activity_type.name
                if activity_type == NOTIFY_BATCH:
                    batches[event.event_id] = [
                        RecordedActivity(
                            offset=offset, workflow=where, activity_type="notify", key=match_key("notify", n), input=n
                        )
                        for n in _notifications(request_body)
                    ]
                    recording.activities += batches[event.event_id]
                    continue
                scheduled[event.event_id] = RecordedActivity(
                    offset=offset,
                    workflow=where,
                    activity_type=activity_type,
                    key=match_key(activity_type, request_body),
                    input=request_body,
                    activity_id=attrs.activity_id,
                )
                recording.activities.append(scheduled[event.event_id])
            elif kind == _T.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
                done = event.activity_task_completed_event_attributes
                if done.scheduled_event_id in batches:
                    _batch_done(batches[done.scheduled_event_id], await _first(converter, done.result), offset)
                if done.scheduled_event_id in scheduled:
                    scheduled[done.scheduled_event_id].result = await _first(converter, done.result)
                    _finish(scheduled[done.scheduled_event_id], offset)
            elif kind == _T.EVENT_TYPE_ACTIVITY_TASK_FAILED:
                failed = event.activity_task_failed_event_attributes
                for message in batches.get(failed.scheduled_event_id, []):
                    message.failure = _failure(failed.failure)
                    _finish(message, offset)
                if failed.scheduled_event_id in scheduled:
                    scheduled[failed.scheduled_event_id].failure = _failure(failed.failure)
                    _finish(scheduled[failed.scheduled_event_id], offset)
            elif kind == _T.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT:
                timed_out = event.activity_task_timed_out_event_attributes
                for message in batches.get(timed_out.scheduled_event_id, []):
                    message.failure = _failure(timed_out.failure)
                    _finish(message, offset)
                if timed_out.scheduled_event_id in scheduled:
                    scheduled[timed_out.scheduled_event_id].failure = _failure(timed_out.failure)
                    _finish(scheduled[timed_out.scheduled_event_id], offset)
            elif kind == _T.EVENT_TYPE_MARKER_RECORDED:
                marker = event.marker_recorded_event_attributes
                if marker.marker_name == PATCH_MARKER and "patch-data" in marker.details:
                    data = await _first(converter, marker.details["patch-data"])
                    patch = data.get("id") if isinstance(data, dict) else None
                    if patch:  # the bundle stands for every id it covers (warroom.patches)
                        recording.patches = taken([*recording.patches, patch])
            elif where == "incident" and kind in CLOSING_EVENTS:
                recording.ended_offset = offset
    recording.inputs.sort(key=lambda i: i.offset)
    return recording


def _finish(activity: RecordedActivity, offset: float) -> None:
    activity.duration = max(0.0, offset - activity.offset)


def _notifications(request: Any) -> list[Any]:
    """The messages of a `notify_batch` request, each a `notify` request."""
    found = request.get("notifications") if isinstance(request, dict) else None
    return list(found) if isinstance(found, list) else []


def _batch_done(messages: list[RecordedActivity], result: Any, offset: float) -> None:
    """Each message's own outcome: its Delivery, or its failure (final: the batch tried it)."""
    outcomes = result.get("outcomes") if isinstance(result, dict) else None
    for message, outcome in zip(messages, outcomes if isinstance(outcomes, list) else [], strict=False):
        if isinstance(outcome, dict) and outcome.get("delivery") is not None:
            message.result = outcome["delivery"]
        elif isinstance(outcome, dict):
            message.failure = RecordedFailure(
                type="NotDelivered", message=str(outcome.get("error")), non_retryable=True
            )
        _finish(message, offset)


def notify_decision(request: Any) -> tuple[str, str]:
    """(kind, key) of a message: `escalation` for the escalation template, else its channel."""
    body = request if isinstance(request, dict) else {}
    channel, template = str(body.get("channel", "")), str(body.get("template", ""))
    kind = "escalation" if template == "escalation" else _NOTIFY_CHANNEL_KIND.get(channel, channel)
    audience = ",".join(str(a) for a in body.get("audience") or [])
    return kind, f"{kind}:{template}:{audience}"


async def decisions(histories: list[WorkflowHistory], converter: DataConverter) -> list[Decision]:
    """What the runbook did and when: messages, steps run, phases started, updates accepted, and the
    final severity when the incident's workflow completed. Sorted by offset."""
    started_at = _time(_started(histories).event_time)
    found: list[Decision] = []
    for history in histories:
        where = label(history.workflow_id)
        for event in history.events:
            offset = (_time(event.event_time) - started_at).total_seconds()
            kind = event.event_type
            if kind == _T.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
                attrs = event.activity_task_scheduled_event_attributes
                name = attrs.activity_type.name
                if name in ("notify", NOTIFY_BATCH):
                    body = await _first(converter, attrs.input)
                    for message in _notifications(body) if name == NOTIFY_BATCH else [body]:
                        what, key = notify_decision(message)
                        found.append(Decision(offset=offset, workflow=where, kind=what, key=key))
                elif name in STEP_ACTIVITIES:
                    key = match_key(name, await _first(converter, attrs.input))
                    found.append(Decision(offset=offset, workflow=where, kind="step", key=key))
            elif kind == _T.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED:
                child = event.start_child_workflow_execution_initiated_event_attributes
                phase = label(child.workflow_id)
                found.append(Decision(offset=offset, workflow=where, kind="phase", key=f"phase:{phase}"))
            elif kind == _T.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
                request = event.workflow_execution_update_accepted_event_attributes.accepted_request
                body = await _first(converter, request.input.args)
                by = body.get("by", "") if isinstance(body, dict) else ""
                found.append(
                    Decision(offset=offset, workflow=where, kind="update", key=f"update:{request.input.name}:{by}")
                )
            elif kind == _T.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED and where == "incident":
                state = await _first(converter, event.workflow_execution_completed_event_attributes.result)
                severity = state.get("severity") if isinstance(state, dict) else None
                found.append(Decision(offset=offset, workflow=where, kind="severity", key=f"severity:{severity}"))
    found.sort(key=lambda d: (d.offset, d.workflow, d.kind, d.key))
    return found


def waited(activities: list[RecordedActivity]) -> Callable[[float], float]:
    """Seconds, up to an offset, during which the original waited on at least one activity. The
    time-skipping server skips no time while an activity runs, so the backtest's activities answer
    at once: a decision that followed slow activities may come up to that much earlier."""
    spans = sorted((a.offset, a.offset + a.duration) for a in activities if a.duration > 0)
    merged: list[tuple[float, float]] = []
    for begin, end in spans:
        if merged and begin <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((begin, end))

    def busy(offset: float) -> float:
        return sum(max(0.0, min(end, offset) - begin) for begin, end in merged if begin < offset)

    return busy
