"""The rollback rule: "deploy within 2 hours + errors elevated = ROLL BACK FIRST, investigate after".

Rolling back is not debated during an incident, so the decision is mechanical and carries its
evidence for the timeline. Unknown numbers never justify a rollback.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict

from warroom.config import RollbackRule
from warroom.enums import format_duration
from warroom.policy.declare import _percent


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RollbackEvidence(_Model):
    """What the decision was made on, as of `evaluated_at`."""

    evaluated_at: datetime
    deployed_at: datetime | None
    deploy_age: timedelta | None
    error_ratio: float | None
    baseline_error_ratio: float | None
    contraindications: list[str]


class RollbackDecision(_Model):
    """`reasons` has one sentence per criterion, whether it passed or failed."""

    rollback: bool
    reasons: list[str]
    evidence: RollbackEvidence


def decide_rollback(
    *,
    now: datetime,
    deployed_at: datetime | None,
    error_ratio: float | None,
    baseline_error_ratio: float | None,
    contraindications: list[str],
    rule: RollbackRule,
) -> RollbackDecision:
    """Roll back iff the deploy is recent (age <= deploy_within), errors are above baseline and nothing forbids it.

    A deploy time after `now` (clock skew) counts as age 0: it is certainly recent.
    """
    reasons: list[str] = []

    age = None if deployed_at is None else max(now - deployed_at, timedelta(0))
    window = format_duration(rule.deploy_within)
    if age is None:
        recent = False
        reasons.append("no recent deploy known")
    elif age <= rule.deploy_within:
        recent = True
        reasons.append(f"deployed {format_duration(age)} ago (within {window})")
    else:
        recent = False
        reasons.append(f"deployed {format_duration(age)} ago (not within {window})")

    if not rule.require_errors_above_baseline:
        elevated = True
        reasons.append("the runbook does not require errors above baseline")
    elif error_ratio is None or baseline_error_ratio is None:
        elevated = False
        reasons.append("error rate unknown")
    elif error_ratio > baseline_error_ratio:
        elevated = True
        reasons.append(f"error rate {_percent(error_ratio)} > pre-deploy baseline {_percent(baseline_error_ratio)}")
    else:
        elevated = False
        reasons.append(
            f"error rate {_percent(error_ratio)} not above pre-deploy baseline {_percent(baseline_error_ratio)}"
        )

    blocking = [c for c in contraindications if c in rule.contraindications]
    if blocking:
        reasons.append(f"contraindicated: {', '.join(blocking)}")
    else:
        reasons.append("no contraindication")

    return RollbackDecision(
        rollback=recent and elevated and not blocking,
        reasons=reasons,
        evidence=RollbackEvidence(
            evaluated_at=now,
            deployed_at=deployed_at,
            deploy_age=age,
            error_ratio=error_ratio,
            baseline_error_ratio=baseline_error_ratio,
            contraindications=list(contraindications),
        ),
    )
