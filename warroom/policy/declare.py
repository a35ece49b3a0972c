"""Phase 2, DECLARE: turn impact signals into a yes/no with the runbook's criteria.

Declare early, downgrade later: ANY criterion is enough. Thresholds are strict ("> 1%"), so a
value exactly at the threshold does not declare.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from warroom.config import DeclareCriteria
from warroom.enums import format_duration
from warroom.models import ImpactSignals


def _percent(ratio: float) -> str:
    """0.0101 -> "1.01%", 0.02 -> "2.0%": enough digits that a boundary case reads as one."""
    text = f"{ratio * 100:.6g}"
    if "." not in text and "e" not in text:
        text += ".0"
    return f"{text}%"


class DeclareDecision(BaseModel):
    """`reasons` are the criteria met; when nothing is met, the known numbers that fell short."""

    model_config = ConfigDict(extra="forbid")

    declare: bool
    reasons: list[str]


def burn_is_sustained(signals: ImpactSignals, criteria: DeclareCriteria) -> bool:
    """The burn criterion: a burn rate above the threshold, held at least the runbook's duration."""
    burn, held = signals.burn_rate, signals.burn_sustained
    if burn is None or held is None:
        return False
    return burn > criteria.burn_rate_above and held >= criteria.burn_sustained_for


def should_declare(signals: ImpactSignals, criteria: DeclareCriteria) -> DeclareDecision:
    """Declare if ANY runbook criterion applies; unknown numbers never count as met."""
    met: list[str] = []
    short: list[str] = []

    users = signals.user_error_ratio
    if users is not None:
        limit = _percent(criteria.user_error_ratio_above)
        if users > criteria.user_error_ratio_above:
            met.append(f"{_percent(users)} of users see errors (> {limit})")
        else:
            short.append(f"{_percent(users)} of users see errors (not > {limit})")

    burn, held = signals.burn_rate, signals.burn_sustained
    if burn is not None and held is not None:
        wanted = f"> {criteria.burn_rate_above:g}x for {format_duration(criteria.burn_sustained_for)}"
        seen = f"SLO burn rate {burn:g}x for {format_duration(held)}"
        if burn_is_sustained(signals, criteria):
            met.append(f"{seen} ({wanted})")
        else:
            short.append(f"{seen} (needs {wanted})")

    if criteria.complete_unavailability and signals.complete_unavailability:
        met.append("service completely unavailable for some customers")
    if criteria.data_loss and signals.data_loss:
        met.append("data loss or potential data loss")

    if met:
        return DeclareDecision(declare=True, reasons=met)
    return DeclareDecision(declare=False, reasons=short or ["no declare criterion met"])
