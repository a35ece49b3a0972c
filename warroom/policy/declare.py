"""Phase 2, DECLARE: turn impact signals into a yes/no with the runbook's criteria.

Declare early, downgrade later: ANY criterion is enough. Thresholds are strict ("> 1%"), so a
value exactly at the threshold does not declare; so is the burn's duration ("for > 5 minutes"):
a burn held exactly 5:00 does not declare, 5:01 does.
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


def burn_is_sustained(signals: ImpactSignals, criteria: DeclareCriteria, held_over: bool = True) -> bool:
    """The burn criterion: a burn rate above the threshold, held longer than the runbook's duration.

    `held_over=False` is the rule as incidents started before the seed's "> 5 minutes" was read
    strictly applied it (held at least the duration); only their replay passes it."""
    burn, held = signals.burn_rate, signals.burn_sustained
    if burn is None or held is None:
        return False
    long_enough = held > criteria.burn_sustained_for if held_over else held >= criteria.burn_sustained_for
    return burn > criteria.burn_rate_above and long_enough


def should_declare(signals: ImpactSignals, criteria: DeclareCriteria, held_over: bool = True) -> DeclareDecision:
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
        over = "> " if held_over else ""
        wanted = f"> {criteria.burn_rate_above:g}x for {over}{format_duration(criteria.burn_sustained_for)}"
        seen = f"SLO burn rate {burn:g}x for {format_duration(held)}"
        if burn_is_sustained(signals, criteria, held_over):
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
