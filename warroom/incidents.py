"""warroom's incidents over a Temporal client, typed: start, act, state, list.

The CLI, the drill, the benches and the test helpers talk to incidents through this, so update
and query names are written once (`warroom.enums.Update`, `Query`), each update takes its own
request model, and Temporal's errors arrive as warroom's (`warroom.errors`): an unknown incident
is IncidentNotFound, a validator's "no" is Refused with its type and reason, silence is
NotAnswering, an unreachable server ConnectionFailed.

    incidents = await Incidents.connect(settings, identity="warroom-cli:alice")
    result = await incidents.act("order-api-20250101-140700", Update.APPROVE, StepDecision(...))
"""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import TYPE_CHECKING

from pydantic import BaseModel
from temporalio.client import (
    Client,
    WorkflowQueryFailedError,
    WorkflowQueryRejectedError,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from warroom import search
from warroom.enums import Phase, Query, Severity, Update
from warroom.errors import (
    IncidentClosed,
    IncidentExists,
    IncidentNotFound,
    NotAnswering,
    TemporalRefused,
)
from warroom.failures import validator_refusal
from warroom.ids import incident_id_of, incident_workflow_id, workflow_id_for
from warroom.models import (
    Acknowledge,
    AdoptRunbook,
    AssignRole,
    CancelStep,
    CompleteActionItem,
    CompletePir,
    Declare,
    IncidentInput,
    IncidentState,
    MarkMitigated,
    ProposeStep,
    Resolve,
    SetFlags,
    SetSeverity,
    StatusUpdate,
    StepDecision,
    UpdateResult,
)

if TYPE_CHECKING:
    from warroom.settings import Settings

TIMEOUT_SECONDS = 30.0
"""How long to wait for an incident to answer: long enough for a busy worker, short enough for a human."""

REQUESTS: dict[Update, type[BaseModel]] = {
    Update.ACKNOWLEDGE: Acknowledge,
    Update.DECLARE: Declare,
    Update.ASSIGN_ROLE: AssignRole,
    Update.SET_SEVERITY: SetSeverity,
    Update.SET_FLAGS: SetFlags,
    Update.POST_UPDATE: StatusUpdate,
    Update.PROPOSE_STEP: ProposeStep,
    Update.APPROVE: StepDecision,
    Update.DENY: StepDecision,
    Update.CANCEL_STEP: CancelStep,
    Update.MARK_MITIGATED: MarkMitigated,
    Update.RESOLVE: Resolve,
    Update.COMPLETE_PIR: CompletePir,
    Update.COMPLETE_ACTION_ITEM: CompleteActionItem,
    Update.ADOPT_RUNBOOK: AdoptRunbook,
}
"""The request model of every update people send (the intake's `ingest_alert` and `ingest_alerts` are not)."""


class IncidentRow(BaseModel):
    """One incident as the visibility store lists it (its search attributes)."""

    incident_id: str
    workflow_id: str
    severity: str | None
    service: str | None
    phase: str | None
    commander: str | None
    started: datetime
    status: str | None


CLOSED_STATUS = "ExecutionStatus != 'Running' AND ExecutionStatus != 'ContinuedAsNew'"
"""A closed incident's latest run: a run that continued as new is not the end of its incident
(workflows/_continuation.py), whose next run may still be running."""


def list_query(
    severity: Severity | None = None,
    service: str | None = None,
    phase: Phase | None = None,
    open_: bool | None = None,
) -> str:
    """Visibility query text; every value is an enum or a checked service name, so quoting is safe.

    Raises ValueError for a service name that could not be one."""
    clauses = ["WorkflowType = 'Incident'"]
    if severity:
        clauses.append(f"{search.SEVERITY.name} = '{severity.value}'")
    if service:
        name = service.strip().lower()
        if not name or "'" in name or "\\" in name:
            raise ValueError(f"{service!r} is not a service name")
        clauses.append(f"{search.SERVICE.name} = '{name}'")
    if phase:
        clauses.append(f"{search.PHASE.name} = '{phase.value}'")
    if open_ is not None:
        clauses.append("ExecutionStatus = 'Running'" if open_ else CLOSED_STATUS)
    return " AND ".join(clauses)


class Incidents:
    """The incidents reachable through one Temporal client.

    `incident` arguments are what people type: an incident id or its workflow id
    (`incident-<id>`); errors name the incident as it was given."""

    def __init__(self, client: Client, timeout: float = TIMEOUT_SECONDS) -> None:
        self.client = client
        self.timeout = timeout

    @classmethod
    async def connect(cls, settings: Settings, identity: str, wait: float = 0.0) -> Incidents:
        """Connect with warroom's data converter; raises ConnectionFailed."""
        from warroom.client import connect

        return cls(await connect(settings, identity=identity, wait=wait))

    async def start(self, inp: IncidentInput, task_queue: str) -> str:
        """Open an incident (an IncidentWorkflow under `incident-<id>`); returns its workflow id.

        Its search attributes are set from the start when the incident publishes them, so
        `warroom list` finds it at once. Raises IncidentExists if the id is taken."""
        from workflows.incident import IncidentWorkflow  # the workflow's module is heavy: load it when starting

        workflow_id = incident_workflow_id(inp.incident_id)
        attributes = None
        if inp.publish_search_attributes:
            attributes = search.initial(inp.service, Phase.DECLARE, inp.severity, inp.commander)
        try:
            await self.client.start_workflow(
                IncidentWorkflow.run,
                inp,
                id=workflow_id,
                task_queue=task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                search_attributes=attributes,
                static_summary=f"{inp.severity} {inp.service}: {inp.summary}"[:200],
            )
        except WorkflowAlreadyStartedError:
            raise IncidentExists(
                f"incident {inp.incident_id} already exists: wait a second and declare again, or use it"
            ) from None
        except RPCError as exc:
            if exc.status == RPCStatusCode.INVALID_ARGUMENT and "search attribute" in exc.message.lower():
                raise TemporalRefused(
                    f"{exc.message}: register warroom's search attributes first (`warroom search-attributes`)"
                ) from None
            raise _refused(exc) from None
        return workflow_id

    async def act(
        self, incident: str, update: Update, request: BaseModel, *, update_id: str | None = None
    ) -> UpdateResult:
        """Send one update and wait for its result; raises Refused when its validator says no.

        `update_id` makes the update idempotent: the server runs an update of that id once per
        run and answers a repeat with the first one's result (chat's double clicks and retries)."""
        expected = REQUESTS.get(update)
        if expected is None or not isinstance(request, expected):
            wanted = expected.__name__ if expected else "no request: it is not an update people send"
            raise TypeError(f"update {update.value} takes {wanted}, not {type(request).__name__}")
        async with self.about(incident) as workflow_id:
            handle = self.client.get_workflow_handle(workflow_id)
            result: UpdateResult = await handle.execute_update(
                update.value, request, id=update_id, result_type=UpdateResult
            )
            return result

    async def state(self, incident: str) -> IncidentState:
        """The incident's state, timeline and next deadlines (its `state` query)."""
        async with self.about(incident) as workflow_id:
            handle = self.client.get_workflow_handle(workflow_id)
            state: IncidentState = await handle.query(Query.STATE.value, result_type=IncidentState)
            return state

    @asynccontextmanager
    async def about(self, incident: str) -> AsyncIterator[str]:
        """Within the timeout, a call about one incident (given its workflow id), with Temporal's
        errors mapped to warroom's: unknown, closed, refused or not answering."""
        silent = (
            f"incident {incident} did not answer within {self.timeout:g}s: is a warroom worker running on its "
            "task queue (`warroom worker` or `make run`)? An update may still apply when one starts; "
            f"check `warroom status {incident}`."
        )
        try:
            async with asyncio.timeout(self.timeout):
                yield workflow_id_for(incident)
        except WorkflowUpdateFailedError as exc:
            raise validator_refusal(exc.cause) from None
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                if "completed" in exc.message.lower():
                    raise IncidentClosed(
                        f"incident {incident} is closed; `warroom status {incident}` still shows its timeline"
                    ) from None
                raise IncidentNotFound(
                    f"no incident {incident} in namespace {self.client.namespace} (see `warroom list`)"
                ) from None
            if exc.status == RPCStatusCode.DEADLINE_EXCEEDED:
                raise NotAnswering(silent) from None
            raise _refused(exc) from None
        except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
            raise NotAnswering(silent) from None
        except WorkflowQueryRejectedError as exc:
            raise NotAnswering(f"incident {incident} cannot answer now ({exc.status})") from None
        except WorkflowQueryFailedError as exc:
            raise NotAnswering(f"incident {incident} could not answer: {exc.message}") from None

    async def list(self, query: str, limit: int = 50) -> builtins.list[IncidentRow]:
        """Incidents matching a visibility query (see `list_query`), newest first."""
        rows = []
        try:
            async for wf in self.client.list_workflows(query, limit=limit):
                attrs = wf.typed_search_attributes
                rows.append(
                    IncidentRow(
                        incident_id=incident_id_of(wf.id),
                        workflow_id=wf.id,
                        severity=attrs.get(search.SEVERITY),
                        service=attrs.get(search.SERVICE),
                        phase=attrs.get(search.PHASE),
                        commander=attrs.get(search.COMMANDER),
                        started=wf.start_time,
                        status=wf.status.name.lower() if wf.status else None,
                    )
                )
        except RPCError as exc:
            raise _refused(exc) from None
        return rows


def _refused(exc: RPCError) -> TemporalRefused:
    return TemporalRefused(f"Temporal refused: {exc.message} ({exc.status.name})")
