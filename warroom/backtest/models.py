"""What a backtest reads, runs and reports. Offsets are seconds since the incident's workflow started,
so a run on the time-skipping server (whose clock starts elsewhere) compares instant for instant."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

WorkflowLabel = str
"""`incident`, or the phase (`detection`, `declare`, `command`, `resolve`, `retrospective`)."""


class RecordedInput(BaseModel):
    """Something from outside the workflows: an alert (`ingest_alert`), a person's update, a signal."""

    offset: float
    workflow: WorkflowLabel = "incident"
    kind: Literal["update", "signal"]
    name: str
    args: list[Any] = Field(default_factory=list, description="the decoded arguments, as JSON")
    identity: str = ""
    update_id: str = ""


class RecordedFailure(BaseModel):
    type: str = ""
    message: str = ""
    non_retryable: bool = False


class RecordedActivity(BaseModel):
    """One activity as it ran: its input, and its result or its final failure."""

    offset: float = Field(..., description="when it was scheduled")
    workflow: WorkflowLabel
    activity_type: str
    key: str = Field(..., description="what the backtest matches a new call against (see recording.match_key)")
    input: Any = None
    result: Any = None
    failure: RecordedFailure | None = None
    activity_id: str | None = Field(
        None,
        description="the original's activity id: of calls with the same key at the same instant (the rollback "
        "rule's and the diagnosis's deploy read), the one scheduled as this id gets this answer, whichever reaches "
        "the backtest's worker first",
    )
    duration: float = Field(
        0.0,
        description="seconds from scheduled to its result: the time-skipping server cannot replay it (it "
        "skips no time while an activity runs), so decisions after slow activities may come that much earlier",
    )


class Recording(BaseModel):
    """Everything the runbook saw in one incident, read from its histories."""

    workflow_id: str
    incident_id: str
    started_at: datetime
    input: dict[str, Any] = Field(..., description="the IncidentInput it started with, as JSON (its runbook included)")
    inputs: list[RecordedInput] = Field(default_factory=list)
    activities: list[RecordedActivity] = Field(default_factory=list)
    ended_offset: float | None = Field(None, description="when the incident's workflow closed; None while open")
    patches: list[str] = Field(default_factory=list, description="workflow.patched ids the original took")


class Decision(BaseModel):
    """One thing the runbook did: a message sent (page, status page post, escalation...), a step run,
    a phase started, an update's outcome."""

    offset: float
    workflow: WorkflowLabel
    kind: str = Field(
        ...,
        description="page, escalation, status_page, channel, stakeholders, email, ticket, "
        "step, phase, update, metrics, kubernetes, ansible, ...",
    )
    key: str = Field(..., description="what makes it this decision, e.g. 'page:ic_page:incident-commander'")
    detail: str = ""


class Difference(BaseModel):
    incident_id: str
    change: Literal["added", "removed", "moved"]
    decision: Decision
    original_offset: float | None = None
    backtest_offset: float | None = None

    @property
    def shift(self) -> float | None:
        """Seconds later (positive) or earlier (negative), for a decision that moved."""
        if self.original_offset is None or self.backtest_offset is None:
            return None
        return self.backtest_offset - self.original_offset


class Divergence(BaseModel):
    """Where the new runbook left the recording: an input never recorded, a recorded update refused."""

    incident_id: str
    offset: float
    kind: Literal["not_recorded", "refused_update", "failed"]
    detail: str


class IncidentBacktest(BaseModel):
    incident_id: str
    severity: str | None = None
    original: list[Decision] = Field(default_factory=list)
    backtest: list[Decision] = Field(default_factory=list)
    differences: list[Difference] = Field(default_factory=list)
    divergences: list[Divergence] = Field(default_factory=list)


class BacktestReport(BaseModel):
    runbook: str = Field(..., description="the runbook file the incidents were re-run under")
    incidents: list[IncidentBacktest] = Field(default_factory=list)
    summary: list[str] = Field(default_factory=list, description="aggregate lines, e.g. '3 of 40 incidents: ...'")
