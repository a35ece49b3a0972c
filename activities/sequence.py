"""`next_channel_number`: the day's next incident channel number, from the day's ChannelSequence.

Update-with-start on `channel-sequence-<day>-<task queue>`: the first incident of the day starts
the sequence, every other one joins it (USE_EXISTING). A closed day is never started again
(REJECT_DUPLICATE), so no number is handed out twice; asking it is `ChannelSequenceClosed`.
The client is the worker's own (`activity.client()`), so this needs no setting of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from typing import Any

from temporalio import activity
from temporalio.client import WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from warroom.contracts.errors import ActivityFailure, boundary
from warroom.contracts.sequence import (
    NEXT_CHANNEL_NUMBER,
    NEXT_NUMBER_UPDATE,
    SEQUENCE_WORKFLOW,
    ChannelNumber,
    ChannelNumberRequest,
    SequenceInput,
)
from warroom.ids import channel_sequence_workflow_id


class ChannelSequenceClosed(ActivityFailure):
    """The day's sequence has closed (`OPEN_FOR` after its day began): it numbers nothing more."""

    type = "ChannelSequenceClosed"


BUSY = (RPCStatusCode.RESOURCE_EXHAUSTED, RPCStatusCode.UNAVAILABLE)
"""What a busy sequence answers: its in-flight update limit is reached (the server's
`history.maxInFlightUpdates`, 10 by default) or an update was aborted while its task moved."""
BUSY_RETRY_FOR = 20.0
"""Seconds this activity keeps asking a busy sequence itself, inside its 30-s start-to-close."""


@activity.defn(name=NEXT_CHANNEL_NUMBER.name)
async def next_channel_number(req: ChannelNumberRequest) -> ChannelNumber:
    """Ask the day's sequence; a busy one is asked again after a jittered pause, here rather than by
    Temporal's retry: a storm of incidents declared at once would otherwise retry in lockstep (2, 4,
    8, 16 s) against the same 10 in-flight slots, and most would fall back to the old channel name."""
    with boundary():
        give_up = time.monotonic() + BUSY_RETRY_FOR
        pause = 0.1
        while True:
            try:
                return await _ask(req)
            except RPCError as err:
                if err.status not in BUSY or time.monotonic() + pause > give_up:
                    raise
            activity.heartbeat("sequence busy: asking again")
            await asyncio.sleep(pause * (0.5 + random.random()))  # noqa: S311 (jitter, not a secret)
            pause = min(pause * 2, 2.0)


async def _ask(req: ChannelNumberRequest) -> ChannelNumber:
    queue = activity.info().task_queue
    start: WithStartWorkflowOperation[Any, SequenceInput] = WithStartWorkflowOperation(
        SEQUENCE_WORKFLOW,
        SequenceInput(day=req.day),
        id=channel_sequence_workflow_id(req.day, queue),
        task_queue=queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        static_summary=f"incident channel numbers of {req.day}",
        result_type=SequenceInput,
    )
    try:
        number: ChannelNumber = await activity.client().execute_update_with_start_workflow(
            NEXT_NUMBER_UPDATE, req, start_workflow_operation=start, result_type=ChannelNumber
        )
    except (WorkflowAlreadyStartedError, RPCError) as err:
        with contextlib.suppress(Exception):
            await start.workflow_handle()  # its future holds the same failure: taken, not logged
        if isinstance(err, WorkflowAlreadyStartedError) or err.status == RPCStatusCode.ALREADY_EXISTS:
            raise ChannelSequenceClosed(f"the channel sequence of {req.day} has closed") from None
        raise
    return number
