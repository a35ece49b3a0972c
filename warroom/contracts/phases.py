"""The phase probe's contract: is a phase an earlier run of the incident started still running?

A run that continued as new cannot await the phase its predecessor started; it waits for the phase's
`phase_finished` signal instead (`workflows._continuation`). A phase that ends without sending it
(terminated or cancelled by hand, timed out) would leave that run waiting for ever, its deadlines gone
with the phase. So the run asks every `IncidentInput.phase_probe_every` and, told the phase has
closed, fails as an incident whose phase child was terminated always has: loudly, not silently.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field

from warroom.contracts.base import READ_RETRY, ActivityContract, AnyContract


class PhaseStatusRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    workflow_id: str = Field(
        ..., min_length=1, max_length=1000, description="the phase's, `incident-<id>--<phase>` (warroom.ids)"
    )


class PhaseStatus(BaseModel):
    model_config = ConfigDict(extra="forbid")

    running: bool
    status: str = Field(..., max_length=40, description="Temporal's execution status, or NOT_FOUND")


PHASE_STATUS = ActivityContract("phase_status", PhaseStatusRequest, PhaseStatus, timedelta(seconds=30), READ_RETRY)

ALL: tuple[AnyContract, ...] = (PHASE_STATUS,)
