"""The roster workflow's contract: its wire names and the models its updates and query carry.

Overrides live in one long-lived `Roster` workflow (id `warroom-roster`, per task queue), reached
by update-with-start, so each override records who made it, when and why, and a refusal (an
unknown person, an end before the start) answers at once from the validator and leaves no event.
The people and teams it validates against come from `WARROOM_ONCALL`: the worker and the CLI send
them with `sync_roster` (and as the start input).

Roles resolve to people inside the `notify` activity, at the instant the workflow passes
(`Notification.page_at`), and the answer comes back in the `Delivery` (`OncallResult`), so it
lands in the history and replay never asks again: one activity per page, as before.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from warroom.oncall.models import ON_CALL, Key, Override, RoleName
from warroom.primitives import Person, Text

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
