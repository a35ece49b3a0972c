"""The on-call contracts: the roster workflow's wire names and the fire-time resolution activity.

Overrides live in one long-lived `Roster` workflow (id `warroom-roster`, per task queue), reached
by update-with-start, so each override records who made it, when and why, and a refusal (an
unknown person, an end before the start) answers at once from the validator and leaves no event.
The people and teams it validates against come from `WARROOM_ONCALL`: the worker and the CLI send
them with `sync_roster` (and as the start input).

`oncall_resolve` runs when a deadline fires or a step pages: it resolves each role to the person
on call at the instant the workflow passes (its `workflow.now()`), so the answer lands in the
history and replay never asks again. Failure types: `NotConfigured` is never raised (an
unconfigured worker answers `unconfigured` resolutions); `OncallSourceUnavailable` (PagerDuty or
Opsgenie could not be read; retryable).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from warroom.contracts.base import READ_RETRY, ActivityContract, AnyContract
from warroom.oncall.models import ON_CALL, Key, Override, Resolution, RoleName
from warroom.primitives import Person, ServiceName, Text

ROSTER_WORKFLOW = "Roster"
ROSTER_ID_PREFIX = "warroom-roster"
ADD_OVERRIDE = "add_override"
REMOVE_OVERRIDE = "remove_override"
SYNC_ROSTER = "sync_roster"
OVERRIDES_QUERY = "overrides"

MAX_OVERRIDES = 1000
MAX_OVERRIDE_LENGTH = timedelta(days=90)
ROSTER_HISTORY_LIMIT = 2000
"""Events in one run before the roster continues as new (the server's suggestion may come first)."""


def roster_id(task_queue: str) -> str:
    """One roster per task queue, as for the channel sequence: tests get their own."""
    return f"{ROSTER_ID_PREFIX}-{task_queue}"


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RosterNames(_Wire):
    """What the roster validates overrides against: the people, and each team's role names."""

    people: list[Person] = Field(default_factory=list, max_length=5000)
    teams: dict[Key, list[RoleName]] = Field(default_factory=dict, max_length=500)


class RosterInput(_Wire):
    """The start input, and the state carried across continue-as-new."""

    names: RosterNames = Field(default_factory=RosterNames)
    overrides: list[Override] = Field(default_factory=list, max_length=MAX_OVERRIDES)
    next_id: int = Field(1, ge=1)
    history_limit: int = Field(
        ROSTER_HISTORY_LIMIT, ge=10, le=50_000, description="events before continue-as-new (tests set it small)"
    )


class AddOverride(_Wire):
    team: Key
    person: Person
    start: datetime
    end: datetime
    role: RoleName = ON_CALL
    reason: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] = ""
    by: Person

    @model_validator(mode="after")
    def _aware(self) -> AddOverride:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("override times need a time zone (2026-12-06T22:00+01:00, or Z for UTC)")
        return self


class RemoveOverride(_Wire):
    override_id: Annotated[str, StringConstraints(pattern=r"^ovr-[0-9]{1,9}$")]
    by: Person
    reason: Text = ""


class SyncRoster(_Wire):
    names: RosterNames
    by: Person = "warroom"


class OverridesQuery(_Wire):
    """The `overrides` query's answer: the overrides not yet ended at the roster's clock."""

    overrides: list[Override] = Field(default_factory=list)
    names: RosterNames = Field(default_factory=RosterNames)


class ResolveRequest(_Wire):
    service: ServiceName
    roles: list[RoleName | str] = Field(min_length=1, max_length=20)
    at: datetime = Field(description="the workflow's now: the instant a deadline fired or a step paged")
    team: Key | None = Field(None, description="default: the team that owns the service, else the default team")


class ResolveResult(_Wire):
    """One resolution per requested role, in order. A role that resolved to nobody is followed by
    the level that was paged instead (`instead_of`), and its gap is in `gaps`."""

    configured: bool
    team: str | None = None
    resolutions: list[Resolution] = Field(default_factory=list)
    gaps: list[Resolution] = Field(default_factory=list)

    @property
    def audience(self) -> list[str]:
        """Who the page goes to: people by name, unmapped roles by role name (as before)."""
        out: list[str] = []
        for r in self.resolutions:
            who = r.person or (r.role if r.source in ("unmapped", "unconfigured") else None)
            if who is not None and who not in out:
                out.append(who)
        return out


ONCALL_RESOLVE = ActivityContract("oncall_resolve", ResolveRequest, ResolveResult, timedelta(seconds=30), READ_RETRY)

ALL: tuple[AnyContract, ...] = (ONCALL_RESOLVE,)
