"""`warroom oncall check`: every gap in the next N days, as if every minute had been paged.

For each team and each role the runbook's matrix uses, the roles are resolved at every instant
where the answer may change (hand-offs, restriction edges, overrides, feed events), which gives
the same answer as resolving every minute, in a fraction of the time.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, ConfigDict

from warroom.oncall.directory import Directory
from warroom.oncall.models import Override, Team
from warroom.oncall.resolve import next_level, resolve_role
from warroom.oncall.schedule import schedule_changes

_MINUTE = timedelta(minutes=1)


class Gap(BaseModel):
    """`role` of `team` resolves to nobody from `start` to `end`. `paged_instead` is the next level
    that would be paged at `start` (None: nobody on the whole chain; a P1 would page nobody)."""

    model_config = ConfigDict(frozen=True)

    team: str
    role: str
    start: datetime
    end: datetime
    paged_instead: str | None = None


def coverage_gaps(
    directory: Directory,
    overrides: Sequence[Override],
    roles: Sequence[str],
    start: datetime,
    end: datetime,
    teams: Sequence[str] | None = None,
) -> list[Gap]:
    """Each gap of each role in `roles` that a team maps, for `teams` (default: all), by team, role, start.
    Minute resolution: a gap shorter than a minute between two minute marks is not a gap.

    Exactly what resolving at every minute mark (UTC :00 seconds) in [start, end) finds: a gap runs
    from its first minute mark to the next mark that is not in it (at most `end`). Roles held by a
    PagerDuty or Opsgenie schedule are not checked here: only their API knows who is on call.
    """
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    wanted = None if teams is None else set(teams)
    gaps: list[Gap] = []
    for team in sorted(directory.config.teams, key=lambda t: t.name):
        if wanted is not None and team.name not in wanted:
            continue
        for role in sorted(set(roles)):
            if role in team.roles and not _vendor(directory, team, role):
                gaps.extend(_role_gaps(directory, overrides, team, role, start, end))
    return gaps


def _vendor(directory: Directory, team: Team, role: str) -> bool:
    target = team.roles[role]
    schedule = directory.config.schedule(target.schedule) if target.schedule else None
    return schedule is not None and schedule.source in ("pagerduty", "opsgenie")


def _ceil_minute(at: datetime) -> datetime:
    floor = at.replace(second=0, microsecond=0)
    return floor if floor == at else floor + _MINUTE


def _role_gaps(
    directory: Directory, overrides: Sequence[Override], team: Team, role: str, start: datetime, end: datetime
) -> list[Gap]:
    """The answer is constant between change points, so one evaluation per stretch (at its first
    minute mark) stands for every minute mark in it."""
    target = team.roles[role]
    points = {start}
    if target.schedule is not None:
        schedule = directory.config.schedule(target.schedule)
        assert schedule is not None, "OncallConfig checks every schedule reference"
        points.update(schedule_changes(schedule, start, end, directory.feeds))
    for override in overrides:
        if override.team == team.name and override.role == role:
            points.update(edge.astimezone(UTC) for edge in (override.start, override.end) if start <= edge < end)
    ordered = sorted(points)
    gaps: list[Gap] = []
    open_at: datetime | None = None
    for here, following in zip(ordered, [*ordered[1:], end], strict=True):
        mark = _ceil_minute(here)
        if mark >= following or mark >= end:
            continue  # no minute mark in this stretch: it cannot open or close a gap
        in_gap = resolve_role(directory, overrides, team.name, role, mark).source == "gap"
        if in_gap and open_at is None:
            open_at = mark
        elif not in_gap and open_at is not None:
            gaps.append(_gap(directory, overrides, team, role, open_at, mark))
            open_at = None
    if open_at is not None:
        last_mark = _ceil_minute(end) - _MINUTE
        gaps.append(_gap(directory, overrides, team, role, open_at, min(last_mark + _MINUTE, end)))
    return gaps


def _gap(
    directory: Directory, overrides: Sequence[Override], team: Team, role: str, start: datetime, end: datetime
) -> Gap:
    stand_in = next_level(directory, overrides, team.name, role, start)
    return Gap(team=team.name, role=role, start=start, end=end, paged_instead=stand_in.person if stand_in else None)
