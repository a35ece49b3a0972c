"""The channel number's contract: the day's next number for `#incident-YYYY-MM-DD-NNN`.

The numbers come from one `ChannelSequence` workflow per day (and task queue), reached by
update-with-start: Temporal runs its updates one at a time, so two incidents declared in the
same second still get different numbers, and the incident records its number in its own history,
so replay never asks again. A retried activity gets the number it got before (the sequence
remembers each incident's). Failure type: `ChannelSequenceClosed` (the day's sequence has closed;
non-retryable).

The workflow type and update name are wire names, written here once so the activity (which may
not import workflows) and the workflow agree.
"""

from __future__ import annotations

from datetime import date, timedelta

from pydantic import BaseModel, ConfigDict, Field

from warroom.contracts.base import WRITE_RETRY, ActivityContract, AnyContract

SEQUENCE_WORKFLOW = "ChannelSequence"
NEXT_NUMBER_UPDATE = "next_number"

OPEN_FOR = timedelta(days=2)
"""A day's sequence closes this long after the day began (UTC): the day, then a day's grace for an
incident declared at 23:59 whose activity runs after midnight. Closed, it numbers nothing more."""


class ChannelNumberRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    day: date = Field(..., description="the UTC day the incident was declared")
    incident_id: str = Field(..., min_length=1, max_length=200)


class ChannelNumber(BaseModel):
    model_config = ConfigDict(extra="forbid")

    day: date
    number: int = Field(..., ge=1)


class SequenceInput(BaseModel):
    """The day a sequence numbers, and (after continue-as-new) the numbers it has handed out."""

    model_config = ConfigDict(extra="forbid")

    day: date
    numbers: dict[str, int] = Field(default_factory=dict, description="incident id → its number")


NEXT_CHANNEL_NUMBER = ActivityContract(
    "next_channel_number", ChannelNumberRequest, ChannelNumber, timedelta(seconds=30), WRITE_RETRY
)

ALL: tuple[AnyContract, ...] = (NEXT_CHANNEL_NUMBER,)
