"""The MTTx breakdown of an incident against the runbook's targets (detection < 5 min, triage
< 10 min, mitigation < 30 min and resolution < 4 h for P1)."""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict

from warroom.config import RunbookConfig
from warroom.models import IncidentState


class MttxRow(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stage: str
    since: str
    until: str
    measured: timedelta | None
    target: timedelta | None
    met: bool | None
    running: bool = False
    """The stage has not ended: `measured` is its time so far (only when asked `now`)."""


def _row(
    stage: str,
    since: str,
    start: datetime | None,
    until: str,
    end: datetime | None,
    target: timedelta | None,
    now: datetime | None,
) -> MttxRow:
    running = start is not None and end is None and now is not None
    finish = end if end is not None else (now if running else None)
    measured = finish - start if start is not None and finish is not None else None
    met = None if measured is None or target is None else measured <= target
    if running and met:
        met = None  # still under its target, but not over yet
    return MttxRow(stage=stage, since=since, until=until, measured=measured, target=target, met=met, running=running)


def mttx(state: IncidentState, runbook: RunbookConfig, now: datetime | None = None) -> list[MttxRow]:
    """Each stage measured from the first sign of trouble the incident knows of.

    With `now`, a stage that has begun but not ended is measured so far (`running`): a live incident
    shows where it stands against each target, and a stage already past its target is `met=False`."""
    targets = runbook.mttr_targets
    severity = state.severity
    return [
        _row(
            "detection",
            "impact began",
            state.impact_started_at,
            "incident opened",
            state.opened_at,
            targets.detection,
            now,
        ),
        _row(
            "triage",
            "incident opened",
            state.opened_at,
            "declared with severity",
            state.declared_at,
            targets.triage,
            now,
        ),
        _row(
            "mitigation",
            "incident opened",
            state.opened_at,
            "mitigation verified",
            state.mitigated_at,
            targets.mitigation.get(severity) if severity else None,
            now,
        ),
        _row(
            "resolution",
            "incident opened",
            state.opened_at,
            "resolved",
            state.resolved_at,
            targets.resolution.get(severity) if severity else None,
            now,
        ),
    ]
