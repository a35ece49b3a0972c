"""Assign P1/P2/P3 from impact signals and the runbook's severity definitions.

P1 and P2 are checked in order, so the worst matching level wins; anything short of P2 is a
P3. Thresholds are strict: exactly 10% of requests failing is a P2, not a P1.

The seed's P3 is "non-SLO-affecting", so a burn that meets the declare criterion (SLO burn rate
> 5x, sustained) is at least a P2: the same rule and numbers as declaring (`runbook.declare`),
so an incident declared on its burn is never a P3.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from warroom.config import DeclareCriteria, SeverityDefinition
from warroom.enums import Severity, format_duration
from warroom.models import ImpactSignals
from warroom.policy.declare import _percent, burn_is_sustained


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


def _slo_affecting(signals: ImpactSignals, criteria: DeclareCriteria | None, held_over: bool) -> list[str]:
    """The declare criterion's sustained burn, as a P2 reason; None (incidents started before this rule) never matches."""
    burn, held = signals.burn_rate, signals.burn_sustained
    if criteria is None or burn is None or held is None or not burn_is_sustained(signals, criteria, held_over):
        return []
    over = "> " if held_over else ""
    return [
        f"SLO-affecting burn: {burn:g}x for {format_duration(held)} "
        f"(> {criteria.burn_rate_above:g}x for {over}{format_duration(criteria.burn_sustained_for)})"
    ]


def classify_severity(
    signals: ImpactSignals,
    definitions: dict[Severity, SeverityDefinition],
    slo_burn: DeclareCriteria | None,
    held_over: bool = True,
) -> SeverityAssessment:
    """P1 for a complete outage, fast burn, >P1 error ratio or data loss; P2 for partial impact or a
    burn that meets `slo_burn` (the runbook's declare criteria; None only for incidents started
    before that rule, as `held_over=False` is for those started before "> 5 minutes" was strict); else P3."""
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
    p2 += _slo_affecting(signals, slo_burn, held_over)
    if p2:
        return SeverityAssessment(severity=Severity.P2, reasons=p2)

    return SeverityAssessment(severity=Severity.P3, reasons=["minor degradation"])
