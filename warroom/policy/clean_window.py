"""When a mitigation counts: "verify with 5 min of clean metrics before declaring mitigated".

Any sample above baseline, or a still-firing alert, restarts the window. Samples from the
future (relative to the `now` passed in) are ignored so a replay sees what the original run saw.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict

from warroom.enums import format_duration
from warroom.policy.declare import _percent


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MetricSample(_Model):
    at: datetime
    error_ratio: float


class CleanWindowVerdict(_Model):
    """`clean_since` is when the current clean stretch began; `remaining` is how much more is needed;
    `baseline` says in words what the error ratio was judged against."""

    clean: bool
    clean_since: datetime
    remaining: timedelta
    reason: str
    baseline: str = ""


def clean_window_verdict(
    *,
    now: datetime,
    window: timedelta,
    mitigation_applied_at: datetime,
    baseline_error_ratio: float,
    samples: list[MetricSample],
    last_firing_alert_at: datetime | None = None,
) -> CleanWindowVerdict:
    """Clean iff `window` has passed since the latest of: mitigation, last dirty sample, last firing alert."""
    clean_since, cause = mitigation_applied_at, "mitigation"
    dirty = [s for s in samples if s.at <= now and s.error_ratio > baseline_error_ratio]
    if dirty:
        worst = max(dirty, key=lambda s: s.at)
        if worst.at > clean_since:
            clean_since = worst.at
            cause = f"error ratio {_percent(worst.error_ratio)} above baseline {_percent(baseline_error_ratio)}"
    if last_firing_alert_at is not None and last_firing_alert_at > clean_since:
        clean_since, cause = last_firing_alert_at, "an alert firing"

    baseline = f"baseline {_percent(baseline_error_ratio)}"
    elapsed = now - clean_since
    remaining = max(window - elapsed, timedelta(0))
    since = f"since {clean_since.isoformat()} ({cause})"
    if remaining == timedelta(0):
        return CleanWindowVerdict(
            clean=True,
            clean_since=clean_since,
            remaining=remaining,
            reason=f"clean for {format_duration(elapsed)} {since}",
            baseline=baseline,
        )
    return CleanWindowVerdict(
        clean=False,
        clean_since=clean_since,
        remaining=remaining,
        reason=f"{format_duration(remaining)} more of clean metrics needed {since}",
        baseline=baseline,
    )
