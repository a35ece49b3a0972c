"""Putting alerts into incidents: update-with-start on the group's workflow id, a request's alerts in
one `ingest_alerts` update (one history event, one round trip; batches of MAX_ALERTS_PER_UPDATE).

The update returns only once the alert is in the incident's history, and only then does the
intake answer 2xx. Everything Temporal can throw at us becomes `TemporalUnavailable`, which the
app answers 503 with Retry-After: the sender (Alertmanager, PagerDuty, Grafana) retries and
nothing that was acknowledged can be lost. The price is at-least-once: a retry after a timeout
whose update did land counts that alert twice (the incident counts it as a repeat).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from temporalio.client import Client, WithStartWorkflowOperation, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from warroom import search
from warroom.enums import Phase
from warroom.models import Alert, AlertReceipt, IncidentInput, IncidentState
from warroom.policy.authority import MAX_ALERTS_PER_UPDATE
from workflows.incident import IncidentWorkflow

log = logging.getLogger("warroom.intake")
ClientFactory = Callable[[], Awaitable[Client]]
CLOSED = "IncidentClosed"
IN_FLIGHT_PER_INCIDENT = 8
"""Updates one intake keeps in flight on one incident. Temporal refuses more than 10 at once per
workflow (`history.maxInFlightUpdates`: ResourceExhausted, and the batch's other updates aborted),
so a storm of copies of one alert queues here instead of being answered 503."""


class TemporalUnavailable(Exception):
    """The alert was not recorded (or may not have been): answer 503 so the sender retries."""


@dataclass
class Prepared:
    """A validated delivery, ready for Temporal: nothing in it can fail validation any more."""

    source: str
    workflow_id: str
    incident: IncidentInput
    alerts: list[Alert]
    """Firing first: a group's first alert must not be a resolved one that closes a fresh incident."""

    @property
    def resolve_only(self) -> bool:
        return not any(a.firing for a in self.alerts)


class KeyedGate:
    """At most `limit` holders per key at a time; a key's semaphore lives only while it is held
    or awaited, so memory follows the work in flight, not the keys ever seen."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._gates: dict[str, tuple[asyncio.Semaphore, int]] = {}

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        gate, users = self._gates.get(key, (asyncio.Semaphore(self.limit), 0))
        self._gates[key] = (gate, users + 1)
        try:
            async with gate:
                yield
        finally:
            gate, users = self._gates[key]
            if users == 1:
                del self._gates[key]
            else:
                self._gates[key] = (gate, users - 1)

    def __len__(self) -> int:
        return len(self._gates)


@dataclass
class Recorded:
    receipts: list[AlertReceipt]
    ignored: str | None = None


class Recorder:
    def __init__(
        self,
        client_factory: ClientFactory,
        task_queue: str,
        *,
        timeout: float,
        closing_wait: float,
        publish_search_attributes: bool,
    ) -> None:
        self._factory = client_factory
        self._client: Client | None = None
        self._lock = asyncio.Lock()
        self.task_queue = task_queue
        self.timeout = timeout
        self.closing_wait = closing_wait
        self.publish = publish_search_attributes
        self.per_incident = KeyedGate(IN_FLIGHT_PER_INCIDENT)

    async def client(self) -> Client:
        """Connect on first use (and again after a failed attempt), never at import or start-up:
        the intake must come up, and answer 503, while Temporal is down."""
        if self._client is not None:
            return self._client
        async with self._lock:
            if self._client is None:
                try:
                    self._client = await asyncio.wait_for(self._factory(), self.timeout)
                except Exception as exc:
                    raise TemporalUnavailable(f"cannot connect to Temporal: {exc}") from None
        return self._client

    async def healthy(self) -> bool:
        try:
            client = await self.client()
            return await asyncio.wait_for(client.service_client.check_health(), 2.0)
        except Exception:
            return False

    async def record(self, prepared: Prepared) -> Recorded:
        try:
            # Not `asyncio.timeout`: the SDK turns the cancellation into WorkflowUpdateRPCTimeoutOrCancelledError,
            # which that context manager passes on with the request task's cancellation still pending.
            return await asyncio.wait_for(self._record(prepared), self.timeout)
        except TemporalUnavailable:
            raise
        except TimeoutError:
            raise TemporalUnavailable(f"Temporal did not record the alert within {self.timeout:g}s") from None
        except Exception as exc:  # RPC failures and anything unforeseen: never a 2xx
            log.warning("recording %s failed: %s: %s", prepared.workflow_id, type(exc).__name__, exc)
            raise TemporalUnavailable(f"Temporal refused or failed: {type(exc).__name__}: {exc}") from None

    async def _record(self, prepared: Prepared) -> Recorded:
        """A notification's alerts in one update (more than MAX_ALERTS_PER_UPDATE: one per batch, in order)."""
        client = await self.client()
        batches = [
            prepared.alerts[i : i + MAX_ALERTS_PER_UPDATE]
            for i in range(0, len(prepared.alerts), MAX_ALERTS_PER_UPDATE)
        ]
        receipts: list[AlertReceipt] = []
        if prepared.resolve_only:
            # A resolved alert with no open incident has nothing to resolve: do not open one just
            # to close it again.
            for batch in batches:
                recorded = await self._to_existing(client, prepared.workflow_id, batch)
                if recorded is None:
                    break
                receipts += recorded
            if not receipts:
                return Recorded([], ignored="no open incident for this group: nothing to resolve")
            return Recorded(receipts)
        for batch in batches:
            receipts += await self._with_start(client, prepared, batch)
        return Recorded(receipts)

    def _operation(self, prepared: Prepared) -> WithStartWorkflowOperation[IncidentWorkflow, IncidentState]:
        inp = prepared.incident
        attributes = search.initial(inp.service, Phase.DETECTION) if self.publish else None
        return WithStartWorkflowOperation(
            IncidentWorkflow.run,
            inp,
            id=prepared.workflow_id,
            task_queue=self.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            search_attributes=attributes,
            static_summary=f"{prepared.source} alert, {inp.service}: {inp.summary}"[:200],
        )

    async def _with_start(self, client: Client, prepared: Prepared, alerts: list[Alert]) -> list[AlertReceipt]:
        for attempt in (1, 2):
            operation = self._operation(prepared)
            _retrieve_outcome(operation)
            try:
                async with self.per_incident.hold(prepared.workflow_id):
                    return await client.execute_update_with_start_workflow(
                        IncidentWorkflow.ingest_alerts, alerts, start_workflow_operation=operation
                    )
            except WorkflowUpdateFailedError as err:
                if not _closed(err) or attempt == 2:
                    raise TemporalUnavailable(
                        f"incident {prepared.workflow_id} refused the alert: {err.cause or err}"
                    ) from None
                # Closed but not finished yet: wait for the run to end, then the same key opens a
                # new incident (the default id reuse policy allows a new run once the old one closed).
                await self._wait_finished(operation)
            except RPCError as err:
                if not _finished_race(err) or attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def _wait_finished(self, operation: WithStartWorkflowOperation[IncidentWorkflow, IncidentState]) -> None:
        handle = await operation.workflow_handle()
        try:
            await asyncio.wait_for(handle.result(), self.closing_wait)
        except TimeoutError:
            raise TemporalUnavailable(f"incident {handle.id} is closing; retry shortly") from None
        except Exception:
            pass  # finished one way or another (failed, terminated): a new run may start

    async def _to_existing(self, client: Client, workflow_id: str, alerts: list[Alert]) -> list[AlertReceipt] | None:
        try:
            async with self.per_incident.hold(workflow_id):
                return await client.get_workflow_handle(workflow_id).execute_update(
                    IncidentWorkflow.ingest_alerts, alerts
                )
        except WorkflowUpdateFailedError as err:
            if _closed(err):
                return None
            raise TemporalUnavailable(f"incident {workflow_id} refused the alert: {err.cause or err}") from None
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                return None
            raise


def _retrieve_outcome(operation: WithStartWorkflowOperation[IncidentWorkflow, IncidentState]) -> None:
    """Consume the start half's outcome even when nobody asks for the handle.

    When the call fails or is cancelled (our timeout), the SDK sets an exception on the
    operation's handle future that no one retrieves; its "exception was never retrieved" report,
    printed by the garbage collector, is not just noise: on CPython 3.11.7 it can land inside an
    unrelated `ast.parse` (traceback carets) and fail it with "AST constructor recursion depth
    mismatch".
    """
    waiter = asyncio.ensure_future(operation.workflow_handle())
    waiter.add_done_callback(lambda done: done.cancelled() or done.exception())


def _closed(err: WorkflowUpdateFailedError) -> bool:
    return isinstance(err.cause, ApplicationError) and err.cause.type == CLOSED


def _finished_race(err: RPCError) -> bool:
    """The run completed between the server's conflict check and the update's delivery."""
    return err.status == RPCStatusCode.NOT_FOUND or "already completed" in (err.message or "").lower()
