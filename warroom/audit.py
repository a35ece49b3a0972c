"""The audit trail of an incident, read from Temporal history: no worker needed, nothing trusted
but what the server recorded.

Every event of the incident's history and of its phases' histories becomes one row (workflow
task bookkeeping aside): alerts, updates with the caller's identity and the payload's `by`,
decisions, activities with a result summary, timers, messages posted. `verify` replays the same
histories against the current workflow code and reports any non-determinism.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowHistory, WorkflowHistoryEventFilterType
from temporalio.converter import DataConverter

from warroom.chat.desk import chat_origin

SKIPPED = {
    EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT,
}
"""Workflow-task bookkeeping: how the worker progressed, not what happened to the incident."""

SUMMARY_LIMIT = 240


class AuditRow(BaseModel):
    at: datetime
    workflow: str
    event_id: int
    event: str
    actor: str = ""
    summary: str = ""


class Verification(BaseModel):
    workflow_id: str
    events: int
    ok: bool
    problem: str = ""


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= SUMMARY_LIMIT else text[: SUMMARY_LIMIT - 1] + "…"


def _event_name(event: HistoryEvent) -> str:
    return EventType.Name(event.event_type).removeprefix("EVENT_TYPE_").lower()


_SHORT = [
    ("workflow_execution_update_", "update "),
    ("workflow_execution_", "workflow "),
    ("activity_task_", "activity "),
    ("start_child_workflow_execution_", "phase "),
    ("child_workflow_execution_", "phase "),
    ("signal_external_workflow_execution_", "signal out "),
    ("external_workflow_execution_", "signal out "),
    ("upsert_workflow_search_attributes", "search attrs"),
    ("timer_", "timer "),
]


def short_event(name: str) -> str:
    """A column-friendly label: workflow_execution_update_accepted → update accepted."""
    for prefix, label in _SHORT:
        if name.startswith(prefix):
            return (label + name.removeprefix(prefix)).strip()
    return name


async def _decode(converter: DataConverter, payloads: Any) -> list[Any]:
    items = list(getattr(payloads, "payloads", []) or [])
    if not items:
        return []
    try:
        return await converter.decode(items)
    except Exception as exc:  # an encrypted or foreign payload is still an event worth listing
        return [f"<undecodable payload: {exc}>"]


def _fields(value: Any, *names: str) -> str:
    if not isinstance(value, dict):
        return str(value) if value is not None else ""
    parts = [f"{name}={value[name]}" for name in names if value.get(name) not in (None, "", [], {})]
    return ", ".join(parts)


REQUEST_FIELDS = (
    "step_id",
    "step",
    "params",
    "preview",
    "role",
    "person",
    "severity",
    "action",
    "target",
    "reason",
    "summary",
    "error_rate",
    "hypothesis",
    "next_action",
    "public_status",
    "vendor_ticket",
    "data_loss",
    "security",
    "pir_owner",
)


async def run_histories(client: Client, workflow_id: str) -> list[WorkflowHistory]:
    """Every run of the incident, first to latest: a long incident continues as new
    (workflows/_continuation.py), and each run's history holds only its own part. The chain is
    followed by close events (one small read per run), then the runs are read at once."""
    handle = client.get_workflow_handle(workflow_id)
    latest = (await handle.describe()).run_id
    started = (await client.get_workflow_handle(workflow_id, run_id=latest).fetch_history()).events
    origin = started[0].workflow_execution_started_event_attributes if started else None
    if origin is None or not origin.continued_execution_run_id:
        return [WorkflowHistory(workflow_id, started)]
    run_ids = [origin.first_execution_run_id]
    while run_ids[-1] != latest:
        closing = await client.get_workflow_handle(workflow_id, run_id=run_ids[-1]).fetch_history(
            event_filter_type=WorkflowHistoryEventFilterType.CLOSE_EVENT
        )
        last = closing.events[-1] if closing.events else None
        if last is None or last.event_type != EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
            break  # a chain broken by hand (a run reset or terminated): what there is
        run_ids.append(last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id)
    earlier = run_ids[:-1] if run_ids[-1] == latest else run_ids
    reads = [client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history() for run_id in earlier]
    return [*await asyncio.gather(*reads), WorkflowHistory(workflow_id, started)]


async def incident_histories(client: Client, workflow_id: str) -> list[WorkflowHistory]:
    """Each run of the incident's history, then each phase child's, in the order they started
    (a phase an earlier run started is read once, whichever run re-attached to it)."""
    runs = await run_histories(client, workflow_id)
    children: list[str] = []
    for run in runs:
        for event in run.events:
            if event.event_type == EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED:
                child_id = event.child_workflow_execution_started_event_attributes.workflow_execution.workflow_id
                if child_id not in children:
                    children.append(child_id)
    phases = await asyncio.gather(*(client.get_workflow_handle(c).fetch_history() for c in children))
    return [*runs, *phases]


async def audit_rows(histories: list[WorkflowHistory], converter: DataConverter) -> list[AuditRow]:
    rows: list[AuditRow] = []
    for history in histories:
        label = history.workflow_id.rsplit("--", 1)[1] if "--" in history.workflow_id else "incident"
        scheduled: dict[int, str] = {}
        for event in history.events:
            if event.event_type in SKIPPED:
                continue
            actor, summary = await _describe(event, converter, scheduled)
            rows.append(
                AuditRow(
                    at=event.event_time.ToDatetime(tzinfo=UTC),
                    workflow=label,
                    event_id=event.event_id,
                    event=_event_name(event),
                    actor=actor,
                    summary=_short(summary),
                )
            )
    rows.sort(key=lambda r: (r.at, r.workflow != "incident", r.event_id))
    return rows


async def _describe(event: HistoryEvent, converter: DataConverter, scheduled: dict[int, str]) -> tuple[str, str]:
    """(actor, summary) for one event; the actor is the person in the payload, else the caller's identity."""
    t = EventType
    kind = event.event_type
    if kind == t.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
        started = event.workflow_execution_started_event_attributes
        args = await _decode(converter, started.input)
        first = args[0] if args else {}
        detail = (
            _fields(first, "incident_id", "service", "severity", "declared_by", "summary")
            if isinstance(first, dict) and "service" in first
            else ""
        )
        if isinstance(first, dict) and isinstance(first.get("continued"), dict):
            detail = f"run {first['continued'].get('run')} of the incident, continued with its state: {detail}"
        return started.identity, f"{started.workflow_type.name} started" + (f": {detail}" if detail else "")
    if kind == t.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
        accepted = event.workflow_execution_update_accepted_event_attributes
        request = accepted.accepted_request
        args = await _decode(converter, request.input.args)
        body = args[0] if args else {}
        by = body.get("by", "") if isinstance(body, dict) else ""
        identity = request.meta.identity
        actor = by or identity
        origin = chat_origin(request.meta.update_id)
        callers = [c for c in (identity if identity != by else "", origin) if c]
        via = f" (via {', '.join(callers)})" if callers else ""
        return actor, f"{request.input.name}: {_fields(body, *REQUEST_FIELDS)}{via}"
    if kind == t.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED:
        outcome = event.workflow_execution_update_completed_event_attributes.outcome
        if outcome.HasField("failure"):
            return "", f"update failed: {outcome.failure.message}"
        result = await _decode(converter, outcome.success)
        value = result[0] if result else None
        if isinstance(value, dict) and "alerts_received" in value:  # ingest_alert's receipt: storms make many
            return "", f"alert recorded: {value['alerts_received']} received" + (
                " (a repeat)" if value.get("repeated") else ""
            )
        if isinstance(value, dict):
            return "", value["message"] if "message" in value else json.dumps(value)
        return "", str(value)
    if kind == t.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
        signaled = event.workflow_execution_signaled_event_attributes
        args = await _decode(converter, signaled.input)
        body = args[0] if args else {}
        if signaled.signal_name == "alert" and isinstance(body, dict):
            state = "firing" if body.get("firing", True) else "resolved"
            return (
                signaled.identity,
                f"alert {state}: {body.get('summary', '')} ({body.get('source', '')}, {body.get('fingerprint', '')})",
            )
        if signaled.signal_name == "phase_event" and isinstance(body, dict):
            return "warroom", f"{body.get('kind')}: {body.get('message', '')}"
        if signaled.signal_name == "phase_finished" and isinstance(body, dict):
            ended = _fields(body.get("result") or {}, "outcome", "message") or f"failed: {body.get('failure')}"
            return "warroom", f"phase finished: {body.get('workflow_id')}: {ended}"
        if signaled.signal_name == "phase_events" and isinstance(body, list):
            return "warroom", "; ".join(f"{e.get('kind')}: {e.get('message', '')}" for e in body if isinstance(e, dict))
        if signaled.signal_name == "incident_changed" and isinstance(body, dict):
            return "warroom", f"state forwarded to the phase (version {body.get('version')})"
        return signaled.identity, f"signal {signaled.signal_name}"
    if kind == t.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
        scheduling = event.activity_task_scheduled_event_attributes
        scheduled[event.event_id] = scheduling.activity_type.name
        args = await _decode(converter, scheduling.input)
        body = args[0] if args else {}
        messages = body.get("notifications") if isinstance(body, dict) else None  # notify_batch
        each = messages if isinstance(messages, list) else [body]
        detail = "; ".join(_fields(m, "channel", "template", "audience") for m in each if isinstance(m, dict))
        return "warroom", f"{scheduling.activity_type.name} scheduled: {detail}"
    if kind == t.EVENT_TYPE_ACTIVITY_TASK_STARTED:
        attempt = event.activity_task_started_event_attributes
        return attempt.identity, f"attempt {attempt.attempt}"
    if kind == t.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
        done = event.activity_task_completed_event_attributes
        result = await _decode(converter, done.result)
        value = result[0] if result else None
        name = scheduled.get(done.scheduled_event_id, "activity")
        if isinstance(value, dict) and "text" in value:
            first_line = str(value["text"]).splitlines()[0] if value["text"] else ""
            return done.identity, f"{name} done → {value.get('destination', '')}: {first_line}"
        if isinstance(value, dict) and isinstance(value.get("outcomes"), list):  # notify_batch
            sent = sum(1 for o in value["outcomes"] if isinstance(o, dict) and o.get("delivery"))
            how = "; reported to the incident" if value.get("reported") else ""
            return done.identity, f"{name} done: {sent} of {len(value['outcomes'])} delivered{how}"
        if isinstance(value, dict) and {"outcome", "summary"} <= value.keys():  # a step applied
            output = str(value.get("output") or "").replace("\n", " ")[:120]
            return done.identity, f"{name} done: {value['outcome']}: {value['summary']}" + (
                f" ({output})" if output else ""
            )
        if isinstance(value, dict) and {"summary", "would_change"} <= value.keys():  # a step previewed
            return done.identity, f"{name} done: preview: {value['summary']}"
        return done.identity, f"{name} done: {json.dumps(value)[:200] if value is not None else ''}"
    if kind in (t.EVENT_TYPE_ACTIVITY_TASK_FAILED, t.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT):
        failed = (
            event.activity_task_failed_event_attributes
            if kind == t.EVENT_TYPE_ACTIVITY_TASK_FAILED
            else event.activity_task_timed_out_event_attributes
        )
        return "", f"{scheduled.get(failed.scheduled_event_id, 'activity')} failed: {failed.failure.message}"
    if kind == t.EVENT_TYPE_TIMER_STARTED:
        timer = event.timer_started_event_attributes
        seconds = timer.start_to_fire_timeout.ToTimedelta().total_seconds()
        note = await _decode(converter, event.user_metadata.summary and _wrap(event.user_metadata.summary))
        label = f" ({note[0]})" if note else ""
        return "warroom", f"timer {timer.timer_id} set for {seconds:.0f}s{label}"
    if kind == t.EVENT_TYPE_TIMER_FIRED:
        return "warroom", f"timer {event.timer_fired_event_attributes.timer_id} fired"
    if kind == t.EVENT_TYPE_TIMER_CANCELED:
        return "warroom", f"timer {event.timer_canceled_event_attributes.timer_id} cancelled (state changed first)"
    if kind == t.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED:
        child = event.start_child_workflow_execution_initiated_event_attributes
        return "warroom", f"phase {child.workflow_type.name} starting as {child.workflow_id}"
    if kind == t.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED:
        return (
            "warroom",
            f"phase started: {event.child_workflow_execution_started_event_attributes.workflow_execution.workflow_id}",
        )
    if kind == t.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_COMPLETED:
        child_done = event.child_workflow_execution_completed_event_attributes
        result = await _decode(converter, child_done.result)
        value = result[0] if result else {}
        return (
            "warroom",
            f"phase completed: {child_done.workflow_execution.workflow_id}: {_fields(value, 'outcome', 'message')}",
        )
    if kind == t.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED:
        signal_out = event.signal_external_workflow_execution_initiated_event_attributes
        args = await _decode(converter, signal_out.input)
        body = args[0] if args else {}
        return (
            "warroom",
            f"{signal_out.signal_name} → {signal_out.workflow_execution.workflow_id}: {_fields(body, 'kind', 'message')}",
        )
    if kind == t.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
        fields = event.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields
        values = []
        for name, payload in sorted(fields.items()):
            decoded = await _decode(converter, _wrap(payload))
            values.append(f"{name}={decoded[0] if decoded else '?'}")
        return "warroom", "search attributes: " + ", ".join(values)
    if kind == t.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
        return "warroom", "workflow completed"
    if kind == t.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
        return "warroom", "continued as new: the history grew long; the next run carries the state"
    if kind == t.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED:
        terminated = event.workflow_execution_terminated_event_attributes
        return terminated.identity, f"terminated: {terminated.reason}"
    if kind == t.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED:
        return "", f"failed: {event.workflow_execution_failed_event_attributes.failure.message}"
    return "", ""


class _Payloads:
    def __init__(self, payload: Any) -> None:
        self.payloads = [payload]


def _wrap(payload: Any) -> Any:
    return _Payloads(payload) if payload is not None else None


async def verify(
    histories: list[WorkflowHistory], workflows: list[type] | None = None, converter: DataConverter | None = None
) -> list[Verification]:
    """Replay each history under the current code (or `workflows`); non-determinism is reported, not raised."""
    from temporalio.worker import Replayer

    from warroom.client import DATA_CONVERTER

    if workflows is None:
        from workflows.registry import WORKFLOWS

        workflows = list(WORKFLOWS)
    replayer = Replayer(workflows=workflows, data_converter=converter or DATA_CONVERTER)
    results = []
    for history in histories:
        outcome = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        problem = str(outcome.replay_failure) if outcome.replay_failure else ""
        results.append(
            Verification(workflow_id=history.workflow_id, events=len(history.events), ok=not problem, problem=problem)
        )
    return results


def to_markdown(workflow_id: str, rows: list[AuditRow]) -> str:
    lines = [
        f"# Audit trail: {workflow_id}",
        "",
        "| time (UTC) | workflow | event | actor | what |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        what = row.summary.replace("|", "\\|")
        lines.append(f"| {row.at:%Y-%m-%d %H:%M:%S} | {row.workflow} | {row.event} | {row.actor} | {what} |")
    return "\n".join(lines) + "\n"


Format = Literal["table", "json", "md"]
