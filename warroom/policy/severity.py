"""Assign P1/P2/P3 from impact signals and the runbook's severity definitions.

P1 and P2 are checked in order, so the worst matching level wins; anything short of P2 is a
P3. Thresholds are strict: exactly 10% of requests failing is a P2, not a P1.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from warroom.config import SeverityDefinition
from warroom.enums import Severity
from warroom.models import ImpactSignals
from warroom.policy.declare import _percent


class SeverityAssessment(BaseModel):
    """The severity and every reason that put it there, for the timeline and the IC."""

    model_config = ConfigDict(extra="forbid")

    severity: Severity
    reasons: list[str]


def _over_thresholds(signals: ImpactSignals, level: SeverityDefinition | None) -> list[str]:
    """The numeric thresholds of one level that the signals exceed; unset thresholds never match."""
    if level is None:
        return []
    found: list[str] = []
    if level.error_ratio_above is not None and signals.error_ratio is not None:
        if signals.error_ratio > level.error_ratio_above:
            found.append(f"{_percent(signals.error_ratio)} of requests failing (> {_percent(level.error_ratio_above)})")
    if level.burn_rate_above is not None and signals.burn_rate is not None:
        if signals.burn_rate > level.burn_rate_above:
            found.append(f"SLO burning fast: {signals.burn_rate:g}x (> {level.burn_rate_above:g}x)")
    if level.users_affected_above is not None:
        limit = level.users_affected_above
        if signals.user_error_ratio is not None and signals.user_error_ratio > limit:
            found.append(f"{_percent(signals.user_error_ratio)} of users affected (> {_percent(limit)})")
        if signals.error_ratio is not None and signals.error_ratio > limit:
            found.append(f"{_percent(signals.error_ratio)} of requests degraded (> {_percent(limit)})")
    return found


def classify_severity(signals: ImpactSignals, definitions: dict[Severity, SeverityDefinition]) -> SeverityAssessment:
    """P1 for a complete outage, fast burn, >P1 error ratio or data loss; P2 for partial impact; else P3."""
    p1 = _over_thresholds(signals, definitions.get(Severity.P1))
    if signals.complete_unavailability:
        p1.insert(0, "complete outage")
    if signals.data_loss:
        p1.append("data loss or potential data loss")
    if p1:
        return SeverityAssessment(severity=Severity.P1, reasons=p1)

    p2 = _over_thresholds(signals, definitions.get(Severity.P2))
    if signals.partial_outage:
        p2.insert(0, "partial outage")
    if p2:
        return SeverityAssessment(severity=Severity.P2, reasons=p2)

    return SeverityAssessment(severity=Severity.P3, reasons=["minor degradation"])
