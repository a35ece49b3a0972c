"""The report's figures from incident records: pure, so every number is testable without Temporal.

Each MTTx stage (acknowledge, detect, triage, mitigate, resolve) is a duration per incident. An
open incident whose stage has begun but not ended counts with its time so far: a *censored*
duration, a lower bound on the true one. So percentiles over groups with censored durations are
lower bounds too (the report says how many), and an incident counts against a target only once
the target is decided: met when the stage ended within it, missed when it ended later or has
already run past it; still under it and running is neither.

Targets are the runbook's (`mttr_targets`, and `acknowledgement.repage_after` for the
acknowledgement: a page unanswered that long is paged again).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic import BaseModel, computed_field

from warroom.config import RunbookConfig
from warroom.enums import Severity
from warroom.report.collect import IncidentRecord

Stage = Literal["acknowledge", "detect", "triage", "mitigate", "resolve"]
STAGES: tuple[Stage, ...] = ("acknowledge", "detect", "triage", "mitigate", "resolve")
LABELS: dict[Stage, str] = {
    "acknowledge": "MTTA (opened → acknowledged)",
    "detect": "detect (impact → opened)",
    "triage": "triage (opened → declared)",
    "mitigate": "mitigate (opened → mitigated)",
    "resolve": "resolve (opened → resolved)",
}
CENSORING_NOTE = (
    "Open incidents count as censored durations: a stage still running is measured up to the report's time, "
    "a lower bound, so percentiles with censored durations are lower bounds too; a running stage counts "
    "against its target only once past it."
)
UNASSESSED = "unassessed"


class Duration(BaseModel):
    """One incident's time in one stage; `censored` when the stage is still running."""

    seconds: float
    censored: bool = False


class StageFigures(BaseModel):
    stage: Stage
    count: int = 0
    censored: int = 0
    p50_seconds: float | None = None
    p90_seconds: float | None = None
    target_seconds: float | None = None
    """The group's target: None when it has none, or when its incidents' targets differ (by severity)."""
    target_varies: bool = False
    met: int = 0
    missed: int = 0
    undecided: int = 0

    @computed_field  # type: ignore[prop-decorator]
    @property
    def share_met(self) -> float | None:
        decided = self.met + self.missed
        return self.met / decided if decided else None


class Counts(BaseModel):
    incidents: int = 0
    open: int = 0
    closed: int = 0
    declared: int = 0
    dismissed: int = 0
    escalated: int = 0
    rolled_back: int = 0
    approvals_denied: int = 0
    pirs_done: int = 0
    pirs_overdue: int = 0
    action_items_open: int = 0


class Group(BaseModel):
    """The figures of one slice of the fleet: everything, a severity or a service."""

    kind: Literal["all", "severity", "service"]
    name: str
    counts: Counts
    stages: list[StageFigures]


class Week(BaseModel):
    """One ISO week (Monday, UTC) of incidents opened, against the week before."""

    start: datetime
    counts: Counts
    stages: list[StageFigures]
    incidents_change: int | None = None
    mitigate_p50_change_seconds: float | None = None


class Figures(BaseModel):
    generated_at: datetime
    since: datetime
    filters: dict[str, str] = {}
    note: str = CENSORING_NOTE
    overall: Group
    by_severity: list[Group]
    by_service: list[Group]
    weeks: list[Week]
    unread: list[str] = []


def percentile(values: Iterable[float], share: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default); None for no values."""
    ordered = sorted(values)
    if not ordered:
        return None
    position = (len(ordered) - 1) * share
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _span(start: datetime | None, end: datetime | None, open_: bool, now: datetime) -> Duration | None:
    if start is None:
        return None
    if end is not None:
        return Duration(seconds=max((end - start).total_seconds(), 0.0))
    if open_:
        return Duration(seconds=max((now - start).total_seconds(), 0.0), censored=True)
    return None  # closed without reaching the stage (dismissed, terminated): not applicable


def duration(record: IncidentRecord, stage: Stage, now: datetime) -> Duration | None:
    """The incident's time in `stage`: ended, running (censored, only while open) or not applicable."""
    opened = record.detected_at
    if stage == "detect":
        return _span(record.impact_started_at, opened, False, now)
    if record.dismissed:
        return None  # dismissed in detection: never acknowledged, declared, mitigated or resolved
    ends = {
        "acknowledge": record.acknowledged_at,
        "triage": record.declared_at,
        "mitigate": record.mitigated_at,
        "resolve": record.resolved_at,
    }
    return _span(opened, ends[stage], record.open, now)


def target(runbook: RunbookConfig, stage: Stage, severity: Severity | None) -> timedelta | None:
    targets = runbook.mttr_targets
    if stage == "acknowledge":
        return runbook.acknowledgement.repage_after
    if stage == "detect":
        return targets.detection
    if stage == "triage":
        return targets.triage
    by_severity = targets.mitigation if stage == "mitigate" else targets.resolution
    return by_severity.get(severity) if severity else None


def _stage(records: list[IncidentRecord], stage: Stage, runbook: RunbookConfig, now: datetime) -> StageFigures:
    figures = StageFigures(stage=stage)
    values: list[float] = []
    targets: set[float | None] = set()
    for record in records:
        measured = duration(record, stage, now)
        goal = target(runbook, stage, record.severity)
        targets.add(goal.total_seconds() if goal else None)
        if measured is None:
            continue
        values.append(measured.seconds)
        figures.censored += measured.censored
        if goal is None:
            continue
        if measured.seconds > goal.total_seconds():
            figures.missed += 1
        elif measured.censored:
            figures.undecided += 1
        else:
            figures.met += 1
    figures.count = len(values)
    figures.p50_seconds = percentile(values, 0.5)
    figures.p90_seconds = percentile(values, 0.9)
    figures.target_varies = len(targets) > 1
    figures.target_seconds = targets.pop() if len(targets) == 1 else None
    return figures


def counts(records: list[IncidentRecord], now: datetime) -> Counts:
    return Counts(
        incidents=len(records),
        open=sum(r.open for r in records),
        closed=sum(not r.open for r in records),
        declared=sum(r.declared_at is not None for r in records),
        dismissed=sum(r.dismissed for r in records),
        escalated=sum(r.escalations > 0 for r in records),
        rolled_back=sum(r.rolled_back for r in records),
        approvals_denied=sum(r.approvals_denied for r in records),
        pirs_done=sum(r.pir_done_at is not None for r in records),
        pirs_overdue=sum(r.pir_due is not None and r.pir_done_at is None and r.pir_due < now for r in records),
        action_items_open=sum(r.action_items_open for r in records),
    )


def group(
    kind: Literal["all", "severity", "service"],
    name: str,
    records: list[IncidentRecord],
    runbook: RunbookConfig,
    now: datetime,
) -> Group:
    return Group(
        kind=kind,
        name=name,
        counts=counts(records, now),
        stages=[_stage(records, stage, runbook, now) for stage in STAGES],
    )


def _by(records: list[IncidentRecord], key: Callable[[IncidentRecord], str]) -> dict[str, list[IncidentRecord]]:
    grouped: dict[str, list[IncidentRecord]] = {}
    for record in records:
        grouped.setdefault(key(record), []).append(record)
    return grouped


def week_of(moment: datetime) -> datetime:
    """The Monday 00:00 UTC starting the moment's ISO week."""
    day = moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day - timedelta(days=day.weekday())


def weeks(records: list[IncidentRecord], runbook: RunbookConfig, now: datetime, since: datetime) -> list[Week]:
    """Every week from `since`'s to now's, empty weeks included, each against the week before."""
    grouped = _by(records, lambda r: week_of(r.detected_at).isoformat())
    result: list[Week] = []
    start = week_of(since)
    while start <= now:
        chosen = grouped.get(start.isoformat(), [])
        stages = [_stage(chosen, stage, runbook, now) for stage in STAGES]
        week = Week(start=start, counts=counts(chosen, now), stages=stages)
        if result:
            before = result[-1]
            week.incidents_change = week.counts.incidents - before.counts.incidents
            now_p50, then_p50 = stages[3].p50_seconds, before.stages[3].p50_seconds
            if now_p50 is not None and then_p50 is not None:
                week.mitigate_p50_change_seconds = now_p50 - then_p50
        result.append(week)
        start += timedelta(days=7)
    return result


def figures(
    records: list[IncidentRecord],
    runbook: RunbookConfig,
    now: datetime,
    since: datetime,
    filters: dict[str, str] | None = None,
    unread: list[str] | None = None,
) -> Figures:
    """The whole report: the fleet, each severity (most severe first), each service (busiest first), each week."""
    severities = _by(records, lambda r: r.severity.value if r.severity else UNASSESSED)
    services = _by(records, lambda r: r.service)
    return Figures(
        generated_at=now,
        since=since,
        filters=filters or {},
        overall=group("all", "all incidents", records, runbook, now),
        by_severity=[
            group("severity", name, severities[name], runbook, now)
            for name in [*(s.value for s in Severity), UNASSESSED]
            if name in severities
        ],
        by_service=[
            group("service", name, chosen, runbook, now)
            for name, chosen in sorted(services.items(), key=lambda item: (-len(item[1]), item[0]))
        ],
        weeks=weeks(records, runbook, now, since),
        unread=unread or [],
    )
