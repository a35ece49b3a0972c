"""The day's incident channel numbers: `#incident-YYYY-MM-DD-NNN`, unique across incidents.

`ChannelSequence` (id `channel-sequence-<day>-<task queue>`) hands out 1, 2, 3, ... through its
`next_number` update. Updates run one at a time in workflow order, so numbers are unique under any
race, and an incident asking again (a retried activity) gets the number it already has. It closes
`OPEN_FOR` after its day began; a long day continues as new with the numbers it gave.

`name_channel` is the incident's side: after declaration, before the Declare phase opens the
channel, it asks for the number through the `next_channel_number` activity, which records the
answer in the incident's history (replay never asks again).
"""

from __future__ import annotations

from datetime import UTC, datetime, time

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from warroom.contracts.sequence import (
        NEXT_CHANNEL_NUMBER,
        NEXT_NUMBER_UPDATE,
        OPEN_FOR,
        SEQUENCE_WORKFLOW,
        ChannelNumber,
        ChannelNumberRequest,
        SequenceInput,
    )
    from warroom.models import IncidentState
    from workflows import _ledger as ledger
    from workflows._activities import call


@workflow.defn(name=SEQUENCE_WORKFLOW)
class ChannelSequenceWorkflow:
    @workflow.init
    def __init__(self, inp: SequenceInput) -> None:
        self.day = inp.day
        self.numbers = dict(inp.numbers)

    @workflow.run
    async def run(self, inp: SequenceInput) -> SequenceInput:
        closes = datetime.combine(self.day, time(), tzinfo=UTC) + OPEN_FOR
        while (left := closes - workflow.now()).total_seconds() > 0:
            try:
                await workflow.wait_condition(lambda: workflow.info().is_continue_as_new_suggested(), timeout=left)
            except TimeoutError:
                break
            await workflow.wait_condition(workflow.all_handlers_finished)
            workflow.continue_as_new(self._numbers())
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._numbers()

    @workflow.update(
        name=NEXT_NUMBER_UPDATE,
        description="The day's next channel number for an incident (its own again if it has one).",
    )
    def next_number(self, req: ChannelNumberRequest) -> ChannelNumber:
        number = self.numbers.setdefault(req.incident_id, len(self.numbers) + 1)
        return ChannelNumber(day=self.day, number=number)

    @next_number.validator
    def _validate_next_number(self, req: ChannelNumberRequest) -> None:
        if req.day != self.day:
            raise ValueError(f"this sequence numbers {self.day}, not {req.day}")

    def _numbers(self) -> SequenceInput:
        return SequenceInput(day=self.day, numbers=self.numbers)


async def name_channel(state: IncidentState) -> None:
    """Name a declared incident's channel from its day's sequence; without one, the older
    `#incident-<date>-<service>-<HHMM>` name, and the timeline says why."""
    assert state.declared_at is not None, "a channel is named at declaration"
    request = ChannelNumberRequest(day=state.declared_at.date(), incident_id=state.incident_id)
    try:
        assigned = await call(NEXT_CHANNEL_NUMBER, request, summary=f"channel number for {request.day}")
    except ActivityError as err:
        ledger.name_channel(state, workflow.now(), None, f"{err.cause or err}")
    else:
        ledger.name_channel(state, workflow.now(), assigned.number)
