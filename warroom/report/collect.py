"""One record per incident, read from Temporal: the visibility store chooses the incidents, each
incident's own history says what happened to it.

A completed incident's record comes from its result (the workflow returns its final state): only
its close event is read, not its history, and nothing is replayed. An open one, or one that ended
without a result (terminated), is rebuilt by replaying its history through the current code, as
`warroom audit --at` does: no worker needed. Phase histories are never read: the incident's state
already holds what the report counts. A long incident's runs (continue-as-new) count once: its
latest run holds the state carried through the chain.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime

from pydantic import BaseModel, Field
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHistory, WorkflowHistoryEventFilterType
from temporalio.converter import DataConverter
from temporalio.service import RPCError

from warroom.enums import Severity
from warroom.errors import TemporalRefused
from warroom.ids import incident_id_of
from warroom.incidents import list_query
from warroom.models import IncidentState
from warroom.replayed import ReplayFailed, replayed_instance

CONCURRENCY = 16
"""Histories read at once: enough to hide the round trips, few enough to spare a busy frontend."""

Progress = Callable[[int, int], None]


class IncidentRecord(BaseModel):
    """What the report needs of one incident: its times, what happened, what is still owed."""

    incident_id: str
    service: str
    severity: Severity | None = None
    open: bool = Field(description="the incident's workflow is still running")
    impact_started_at: datetime | None = Field(None, description="the symptom began (first alert's start)")
    detected_at: datetime = Field(description="the incident opened: detection ends here")
    acknowledged_at: datetime | None = None
    declared_at: datetime | None = Field(None, description="declared with a severity: triage ends here")
    mitigated_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    dismissed: bool = False
    escalations: int = 0
    rolled_back: bool = False
    approvals_denied: int = 0
    pir_due: datetime | None = None
    pir_done_at: datetime | None = None
    action_items_open: int = 0


class Unread(BaseModel):
    """An incident the report could not read (a history that no longer replays), and why."""

    incident_id: str
    problem: str


class Collected(BaseModel):
    """The records and where the time went: visibility (listing) against histories (read and decode)."""

    query: str
    records: list[IncidentRecord] = []
    unread: list[Unread] = []
    visibility_seconds: float = 0.0
    history_seconds: float = 0.0


def record_of(state: IncidentState, open_: bool) -> IncidentRecord:
    """The record of one incident's state (pure)."""
    rolled_back = any(e.kind == "rolled_back" for e in state.timeline) or any(
        (s.entry or s.action) == "rollback" and s.status == "done" for s in state.steps
    )
    return IncidentRecord(
        incident_id=state.incident_id,
        service=state.service,
        severity=state.severity,
        open=open_,
        impact_started_at=state.impact_started_at,
        detected_at=state.opened_at,
        acknowledged_at=state.acknowledged_at,
        declared_at=state.declared_at,
        mitigated_at=state.mitigated_at,
        resolved_at=state.resolved_at,
        closed_at=state.closed_at,
        dismissed=state.dismissed,
        escalations=len(state.escalated_to),
        rolled_back=rolled_back,
        approvals_denied=sum(1 for s in state.steps if s.status == "denied"),
        pir_due=state.pir.due,
        pir_done_at=state.pir.completed_at,
        action_items_open=sum(1 for item in state.pir.action_items if item.done_at is None),
    )


def report_query(
    since: datetime, severity: Severity | None = None, service: str | None = None, until: datetime | None = None
) -> str:
    """Incidents (open and closed) started after `since`; raises ValueError for a bad service name."""
    text = list_query(severity=severity, service=service)
    text += f" AND StartTime > '{since.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}'"
    if until is not None:
        text += f" AND StartTime <= '{until.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}'"
    return text


async def read_state(client: Client, workflow_id: str, completed: bool) -> IncidentState:
    """A completed incident's final state from its close event alone (its result: one event read,
    not the history); any other incident's rebuilt by replaying its whole history."""
    handle = client.get_workflow_handle(workflow_id)
    if completed:
        closing = await handle.fetch_history(event_filter_type=WorkflowHistoryEventFilterType.CLOSE_EVENT)
        last = closing.events[-1] if closing.events else None
        if last is not None and last.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
            payloads = list(last.workflow_execution_completed_event_attributes.result.payloads)
            [state] = await client.data_converter.decode(payloads, [IncidentState])
            if isinstance(state, IncidentState):
                return state
    return await replayed_state(await handle.fetch_history(), client.data_converter)


async def replayed_state(history: WorkflowHistory, converter: DataConverter) -> IncidentState:
    """Replay the history through the current workflow code (no worker) and ask the instance it
    leaves behind for its state. Raises RuntimeError when the history no longer replays."""
    try:
        instance = await replayed_instance(history, converter)
    except ReplayFailed as failed:
        raise RuntimeError(f"does not replay under the current code: {failed}") from None
    state: IncidentState = instance.current_state()
    return state


async def _latest_runs(
    client: Client, listed: list[tuple[str, WorkflowExecutionStatus | None]]
) -> list[tuple[str, WorkflowExecutionStatus | None]]:
    """One entry per incident: a long incident continues as new (workflows/_continuation.py), each
    run is listed, and its latest run carries the whole state. An incident whose latest run the
    query did not match (it started later) is described for that run's status."""
    latest: dict[str, WorkflowExecutionStatus | None] = {}
    for workflow_id, status in listed:
        if status != WorkflowExecutionStatus.CONTINUED_AS_NEW or workflow_id not in latest:
            latest[workflow_id] = status
    for workflow_id, status in latest.items():
        if status == WorkflowExecutionStatus.CONTINUED_AS_NEW:
            latest[workflow_id] = (await client.get_workflow_handle(workflow_id).describe()).status
    return list(latest.items())


async def collect(client: Client, query: str, progress: Progress | None = None) -> Collected:
    """Every incident matching `query` as a record, oldest first, and the time each source took."""
    collected = Collected(query=query)
    begun = time.perf_counter()
    listed: list[tuple[str, WorkflowExecutionStatus | None]] = []
    try:
        async for wf in client.list_workflows(query):
            listed.append((wf.id, wf.status))
        listed = await _latest_runs(client, listed)
    except RPCError as exc:
        raise TemporalRefused(f"Temporal refused the report's query: {exc.message} ({exc.status.name})") from None
    collected.visibility_seconds = time.perf_counter() - begun

    begun = time.perf_counter()
    gate = asyncio.Semaphore(CONCURRENCY)
    done = 0

    async def read(workflow_id: str, status: WorkflowExecutionStatus | None) -> IncidentRecord | Unread:
        nonlocal done
        async with gate:
            try:
                state = await read_state(client, workflow_id, status == WorkflowExecutionStatus.COMPLETED)
                return record_of(state, open_=status == WorkflowExecutionStatus.RUNNING)
            except Exception as exc:  # one unreadable incident is reported, not fatal to the report
                return Unread(incident_id=incident_id_of(workflow_id), problem=str(exc) or type(exc).__name__)
            finally:
                done += 1
                if progress is not None:
                    progress(done, len(listed))

    results = await asyncio.gather(*(read(workflow_id, status) for workflow_id, status in listed))
    collected.history_seconds = time.perf_counter() - begun
    collected.records = sorted((r for r in results if isinstance(r, IncidentRecord)), key=lambda r: r.detected_at)
    collected.unread = [r for r in results if isinstance(r, Unread)]
    return collected


__all__ = ["Collected", "IncidentRecord", "Unread", "collect", "record_of", "report_query"]
