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


def _row(
    stage: str, since: str, start: datetime | None, until: str, end: datetime | None, target: timedelta | None
) -> MttxRow:
    measured = end - start if start and end else None
    met = None if measured is None or target is None else measured <= target
    return MttxRow(stage=stage, since=since, until=until, measured=measured, target=target, met=met)


def mttx(state: IncidentState, runbook: RunbookConfig) -> list[MttxRow]:
    """Each stage measured from the first sign of trouble the incident knows of."""
    targets = runbook.mttr_targets
    severity = state.severity
    return [
        _row(
            "detection", "impact began", state.impact_started_at, "incident opened", state.opened_at, targets.detection
        ),
        _row("triage", "incident opened", state.opened_at, "declared with severity", state.declared_at, targets.triage),
        _row(
            "mitigation",
            "incident opened",
            state.opened_at,
            "mitigation verified",
            state.mitigated_at,
            targets.mitigation.get(severity) if severity else None,
        ),
        _row(
            "resolution",
            "incident opened",
            state.opened_at,
            "resolved",
            state.resolved_at,
            targets.resolution.get(severity) if severity else None,
        ),
    ]
