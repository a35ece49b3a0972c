"""`warroom oncall check`: every gap in the next N days, as if every minute had been paged.

For each team and each role the runbook's matrix uses, the roles are resolved at every instant
where the answer may change (hand-offs, restriction edges, overrides, feed events), which gives
the same answer as resolving every minute, in a fraction of the time.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from warroom.oncall.directory import Directory
from warroom.oncall.models import Override


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
    Minute resolution: a gap shorter than a minute between two minute marks is not a gap."""
    raise NotImplementedError
