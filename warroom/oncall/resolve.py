"""A role of a team at an instant → the person who holds it, or a recorded gap and the next level.

Precedence: an override, then the role's target (a fixed person, or the schedule's highest layer
on duty, or the feed's or vendor's shift). A role the team does not map (a stakeholder list such
as `customers`, `legal-privacy`) stays a role name: `unmapped`. A mapped role with nobody on duty
is a `gap`: never silent, the next level of the team's escalation chain is paged instead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from warroom.oncall.directory import Directory
from warroom.oncall.models import Override, Resolution, ResolutionSource, Shift
from warroom.oncall.schedule import schedule_shift


def resolve_role(
    directory: Directory,
    overrides: Sequence[Override],
    team: str | None,
    role: str,
    at: datetime,
    vendor: Mapping[str, Shift | None] | None = None,
) -> Resolution:
    """`vendor`: schedule name → the shift PagerDuty or Opsgenie reported at `at` (read by the activity)."""
    found = directory.config.team(team) if team else None
    if found is None or role not in found.roles:
        return Resolution(role=role, team=team, at=at, source="unmapped")
    for override in sorted(overrides, key=lambda o: o.created_at, reverse=True):  # the newest wins
        if override.covers(found.name, role, at):
            return _person(directory, role, found.name, at, "override", override.person, override_id=override.id)
    target = found.roles[role]
    if target.person is not None:
        return _person(directory, role, found.name, at, "person", target.person)
    assert target.schedule is not None
    schedule = directory.config.schedule(target.schedule)
    assert schedule is not None, "OncallConfig checks every schedule reference"
    if schedule.source in ("pagerduty", "opsgenie"):
        shift = (vendor or {}).get(schedule.name)
    else:
        shift = schedule_shift(schedule, at, directory.feeds)
    if shift is None or directory.config.person(shift.person) is None:
        return Resolution(role=role, team=found.name, at=at, source="gap", schedule=schedule.name)
    return _person(directory, role, found.name, at, "schedule", shift.person, schedule=schedule.name, layer=shift.layer)


def resolve_roles(
    directory: Directory,
    overrides: Sequence[Override],
    team: str | None,
    roles: Sequence[str],
    at: datetime,
    vendor: Mapping[str, Shift | None] | None = None,
) -> tuple[list[Resolution], list[Resolution]]:
    """(resolutions, gaps). A role in a gap is replaced by the first level after it on the team's
    chain that has someone (`instead_of` names the role); a chain with nobody adds nothing more."""
    out: list[Resolution] = []
    gaps: list[Resolution] = []
    for role in roles:
        found = resolve_role(directory, overrides, team, role, at, vendor)
        if found.source != "gap":
            out.append(found)
            continue
        gaps.append(found)
        if (stand_in := next_level(directory, overrides, team, role, at, vendor)) is not None:
            out.append(stand_in)
    return out, gaps


def next_level(
    directory: Directory,
    overrides: Sequence[Override],
    team: str | None,
    role: str,
    at: datetime,
    vendor: Mapping[str, Shift | None] | None = None,
) -> Resolution | None:
    """The first level above `role` on the team's chain that resolves to a person (from the chain's
    start when `role` is not on it), marked `instead_of=role`; None when nobody is left."""
    found = directory.config.team(team) if team else None
    if found is None:
        return None
    chain = found.escalation
    above = chain[chain.index(role) + 1 :] if role in chain else chain
    for level in above:
        candidate = resolve_role(directory, overrides, team, level, at, vendor)
        if candidate.person is not None:
            return candidate.model_copy(update={"instead_of": role})
    return None


def _person(
    directory: Directory,
    role: str,
    team: str,
    at: datetime,
    source: ResolutionSource,
    name: str,
    *,
    schedule: str | None = None,
    layer: str | None = None,
    override_id: str | None = None,
) -> Resolution:
    person = directory.config.person(name)
    if person is None:  # an override or feed naming someone the file no longer has
        return Resolution(role=role, team=team, at=at, source="gap", schedule=schedule)
    return Resolution(
        role=role,
        team=team,
        at=at,
        source=source,
        person=person.name,
        display_name=person.display_name,
        contacts=person.contacts,
        schedule=schedule,
        layer=layer,
        override_id=override_id,
    )
