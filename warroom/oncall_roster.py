"""The roster's client side: overrides through the `Roster` workflow, for the CLI and the worker.

Every write is update-with-start on `roster_id(task_queue)`, carrying the names from
`WARROOM_ONCALL` as the start input, so the first override ever made starts the roster and a
refusal (an unknown person, an end before its start) comes from the workflow's validator.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from pydantic import BaseModel
from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowQueryFailedError,
    WorkflowQueryRejectedError,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError, RPCStatusCode

from warroom.contracts.oncall import (
    ADD_OVERRIDE,
    OVERRIDES_QUERY,
    REMOVE_OVERRIDE,
    ROSTER_WORKFLOW,
    SYNC_ROSTER,
    AddOverride,
    OverridesQuery,
    RemoveOverride,
    RosterInput,
    RosterNames,
    SyncRoster,
    roster_id,
)
from warroom.errors import NotAnswering, TemporalRefused
from warroom.failures import validator_refusal
from warroom.oncall.models import OncallConfig, Override

TIMEOUT_SECONDS = 30.0
"""As for incidents: long enough for a busy worker, short enough for a human."""

R = TypeVar("R", bound=BaseModel)


def names_of(config: OncallConfig) -> RosterNames:
    """The people and each team's role names, as the roster validates against them."""
    return RosterNames(people=[p.name for p in config.people], teams={t.name: sorted(t.roles) for t in config.teams})


async def add_override(client: Client, task_queue: str, names: RosterNames, req: AddOverride) -> Override:
    """Raises warroom.errors.Refused with the validator's type (UnknownPerson, ...) and reason."""
    return await _write(client, task_queue, names, ADD_OVERRIDE, req, Override)


async def remove_override(client: Client, task_queue: str, names: RosterNames, req: RemoveOverride) -> Override:
    """Raises Refused (UnknownOverride) for an id that is not a live override."""
    return await _write(client, task_queue, names, REMOVE_OVERRIDE, req, Override)


async def list_overrides(client: Client, task_queue: str) -> OverridesQuery:
    """The overrides not yet ended; empty when the roster was never started."""
    async with _answers(task_queue):
        try:
            handle = client.get_workflow_handle(roster_id(task_queue))
            answer: OverridesQuery = await handle.query(OVERRIDES_QUERY, result_type=OverridesQuery)
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return OverridesQuery()
            raise
    return answer


async def sync_roster(client: Client, task_queue: str, names: RosterNames) -> None:
    """Start the roster if needed and give it the current names (the worker does this at start)."""
    await _write(client, task_queue, names, SYNC_ROSTER, SyncRoster(names=names), RosterNames)


async def _write(
    client: Client, task_queue: str, names: RosterNames, update: str, req: BaseModel, result: type[R]
) -> R:
    """Update-with-start: the first write ever starts the roster with `names`, later ones join it."""
    start: WithStartWorkflowOperation[Any, None] = WithStartWorkflowOperation(
        ROSTER_WORKFLOW,
        RosterInput(names=names),
        id=roster_id(task_queue),
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        static_summary="on-call overrides",
    )
    # The start half's outcome is consumed even when nobody asks for the handle (as the intake
    # does): an unretrieved failure would be reported by the garbage collector, at random.
    waiter = asyncio.ensure_future(start.workflow_handle())
    waiter.add_done_callback(lambda done: done.cancelled() or done.exception())
    async with _answers(task_queue):
        answer: R = await client.execute_update_with_start_workflow(
            update, req, start_workflow_operation=start, result_type=result
        )
    return answer


@asynccontextmanager
async def _answers(task_queue: str) -> AsyncIterator[None]:
    """Temporal's errors as warroom's, as `warroom.incidents` maps them: a validator's "no" is
    Refused with its type and reason, silence NotAnswering, anything else TemporalRefused."""
    silent = (
        f"the on-call roster ({roster_id(task_queue)}) did not answer within {TIMEOUT_SECONDS:g}s: is a warroom "
        "worker running on its task queue (`warroom worker`)?"
    )
    try:
        async with asyncio.timeout(TIMEOUT_SECONDS):
            yield
    except WorkflowUpdateFailedError as exc:
        raise validator_refusal(exc.cause) from None
    except RPCError as exc:
        if exc.status == RPCStatusCode.DEADLINE_EXCEEDED:
            raise NotAnswering(silent) from None
        raise TemporalRefused(f"Temporal refused: {exc.message} ({exc.status.name})") from None
    except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
        raise NotAnswering(silent) from None
    except WorkflowQueryRejectedError as exc:
        raise NotAnswering(f"the on-call roster cannot answer now ({exc.status})") from None
    except WorkflowQueryFailedError as exc:
        raise NotAnswering(f"the on-call roster could not answer: {exc.message}") from None
