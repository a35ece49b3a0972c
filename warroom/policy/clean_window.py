"""When a mitigation counts: "verify with 5 min of clean metrics before declaring mitigated".

Any sample above baseline, or a still-firing alert, restarts the window. Samples from the
future (relative to the `now` passed in) are ignored so a replay sees what the original run saw.

"Clean" means errors at the pre-deploy baseline where the incident has a deploy (one within the
rollback rule's window of the incident's start), and below the declare threshold only where it
has none (`incident_deploy`, `judged_against`).
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


def incident_deploy(deployed_at: datetime | None, opened_at: datetime, deploy_within: timedelta) -> datetime | None:
    """The deploy that makes the pre-deploy baseline the measure of clean: one at most `deploy_within`
    (the rollback rule's 2 h) before the incident opened, or after it; None when there is none."""
    if deployed_at is None or opened_at - deployed_at > deploy_within:
        return None
    return deployed_at


def judged_against(
    pre_deploy_ratio: float | None, tolerance: float, declare_threshold: float, has_deploy: bool
) -> tuple[float, str]:
    """The error ratio at or below which a sample is clean, and the words for it.

    With a pre-deploy reading: that baseline plus `tolerance` (a 1-minute rate is never exactly the
    same twice). Without a deploy, or with no reading before it: the declare threshold.
    """
    if pre_deploy_ratio is not None:
        return (
            pre_deploy_ratio + tolerance,
            f"pre-deploy baseline {_percent(pre_deploy_ratio)} (+{_percent(tolerance)})",
        )
    words = f"declare threshold {_percent(declare_threshold)}"
    return declare_threshold, words + (" (no reading before the deploy)" if has_deploy else "")


def clean_window_verdict(
    *,
    now: datetime,
    window: timedelta,
    mitigation_applied_at: datetime,
    baseline_error_ratio: float,
    samples: list[MetricSample],
    last_firing_alert_at: datetime | None = None,
    baseline: str | None = None,
) -> CleanWindowVerdict:
    """Clean iff `window` has passed since the latest of: mitigation, last dirty sample, last firing alert.

    A sample is dirty above `baseline_error_ratio`; `baseline` says what that ratio is, in words."""
    baseline = baseline or f"baseline {_percent(baseline_error_ratio)}"
    clean_since, cause = mitigation_applied_at, "mitigation"
    dirty = [s for s in samples if s.at <= now and s.error_ratio > baseline_error_ratio]
    if dirty:
        worst = max(dirty, key=lambda s: s.at)
        if worst.at > clean_since:
            clean_since = worst.at
            cause = f"error ratio {_percent(worst.error_ratio)} above {baseline}"
    if last_firing_alert_at is not None and last_firing_alert_at > clean_since:
        clean_since, cause = last_firing_alert_at, "an alert firing"

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
