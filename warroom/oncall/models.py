"""People, teams and schedules as validated data (`WARROOM_ONCALL`), and what resolving a role yields.

The file says who exists, how to reach them, which team owns which service, and how each team's
roles map to a schedule or a person. Every string that ends up in a page (an e-mail address, a
Slack id, a phone number) is checked against its format here, so a hostile file fails at start,
not in a message. Resolution (`warroom.oncall.resolve`) and the coverage check read these models;
they never read files.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from warroom.enums import Duration
from warroom.primitives import Person, ServiceName, ShortText, Text

MAX_PEOPLE = 5000
MAX_TEAMS = 500
MAX_SCHEDULES = 1000
MAX_LAYERS = 20
MAX_MEMBERS = 200
"""Generous for any real organisation, small enough that a hostile file cannot make resolution slow."""

_KEY = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
_EMAIL = re.compile(r"^[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(\.[A-Za-z0-9-]{1,63})+$")
_SLACK_ID = re.compile(r"^[UW][A-Z0-9]{2,20}$")
_MATTERMOST_ID = re.compile(r"^[a-z0-9]{26}$")
_PHONE = re.compile(r"^\+[1-9][0-9]{6,14}$")
_VENDOR_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def _matching(pattern: re.Pattern[str], what: str) -> AfterValidator:
    def check(value: str) -> str:
        if not pattern.fullmatch(value):
            raise ValueError(f"not {what}: {value[:80]!r}")
        return value

    return AfterValidator(check)


def _zone(value: str) -> str:
    """An IANA zone name that zoneinfo knows ("Europe/Berlin"); "UTC" too."""
    if len(value) > 64 or not re.fullmatch(r"[A-Za-z0-9_+\-/]+", value) or ".." in value:
        raise ValueError(f"not a time zone name: {value[:80]!r}")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r}: use an IANA name such as Europe/Berlin") from None
    return value


Key = Annotated[str, StringConstraints(strip_whitespace=True), _matching(_KEY, "a name (a-z, 0-9, . _ -)")]
"""A team, schedule, layer or role name."""
RoleName = Key
"""A runbook role name: on-call-engineer, engineering-team-lead, engineering-manager, ..."""
TimeZoneName = Annotated[str, AfterValidator(_zone)]
Email = Annotated[str, StringConstraints(max_length=254), _matching(_EMAIL, "an e-mail address")]
SlackUserId = Annotated[str, _matching(_SLACK_ID, "a Slack user id (U… or W…)")]
MattermostUserId = Annotated[str, _matching(_MATTERMOST_ID, "a Mattermost user id (26 characters a-z, 0-9)")]
Phone = Annotated[str, _matching(_PHONE, "an E.164 phone number (+4915112345678)")]
VendorId = Annotated[str, _matching(_VENDOR_ID, "a vendor id (letters, digits, _ and -)")]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
"""Index i is `date.weekday() == i`."""

ON_CALL = "on-call-engineer"


class OncallInputError(ValueError):
    """A schedule, feed or catalog that cannot be used; the message names the file and the field."""


DEFAULT_CHAIN: tuple[str, ...] = (ON_CALL, "engineering-team-lead", "engineering-manager")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Contacts(_Strict):
    """How to reach a person. Each field is format-checked: nothing free-form reaches a message."""

    email: Email | None = None
    slack_id: SlackUserId | None = None
    mattermost_id: MattermostUserId | None = Field(None, description="who may act from Mattermost as this person")
    phone: Phone | None = None
    pagerduty_id: VendorId | None = None
    opsgenie_id: VendorId | None = None


class PersonEntry(_Strict):
    name: Person = Field(description="the id used everywhere: in overrides, acks, the timeline (alice)")
    display_name: ShortText | None = None
    timezone: TimeZoneName = "UTC"
    contacts: Contacts = Field(default_factory=Contacts)

    @property
    def label(self) -> str:
        return self.display_name or self.name


class Restriction(_Strict):
    """When a layer is on duty: these weekdays, from `start` to `end` in the layer's time zone.

    `end` at or before `start` runs past midnight (22:00–06:00). `days` names the day the window starts.
    """

    days: list[Weekday] = Field(default_factory=lambda: list(WEEKDAYS), min_length=1, max_length=7)
    start: time = time(0, 0)
    end: time = time(0, 0)


class Layer(_Strict):
    """One rotation: members in order, each on duty for one `length`, handing off at `handoff` local time.

    The first member's first shift starts on `start` at `handoff` in `timezone`; shifts follow in
    local wall-clock time, so a daily 09:00 hand-off stays at 09:00 across a DST change (that day's
    shift is 23 or 25 hours long).
    """

    name: Key
    rotation: Literal["daily", "weekly", "custom"] = "weekly"
    length: Duration | None = Field(None, description="custom rotations only: 12h, 2d, ... (at least 1h)")
    handoff: time = time(9, 0)
    timezone: TimeZoneName = "UTC"
    start: date
    members: list[Person] = Field(min_length=1, max_length=MAX_MEMBERS)
    restrictions: list[Restriction] = Field(default_factory=list, max_length=14)

    @model_validator(mode="after")
    def _length(self) -> Layer:
        if self.rotation == "custom":
            if self.length is None or self.length < timedelta(hours=1) or self.length > timedelta(days=366):
                raise ValueError("a custom rotation needs a length between 1h and 366d")
        elif self.length is not None:
            raise ValueError(f"length is for custom rotations; a {self.rotation} rotation's length is fixed")
        return self

    @property
    def shift_length(self) -> timedelta:
        if self.rotation == "daily":
            return timedelta(days=1)
        if self.rotation == "weekly":
            return timedelta(days=7)
        assert self.length is not None
        return self.length


class IcalSource(_Strict):
    """A calendar feed (PagerDuty's or Opsgenie's schedule export): each event is one person's shift.

    The person is found by the event's ATTENDEE / ORGANIZER e-mail, else by a name or e-mail in
    its SUMMARY ("On Call - Alice Smith - Primary"), matched against the people's e-mails,
    names and display names.
    """

    file: str | None = Field(None, max_length=1000)
    url: str | None = Field(None, max_length=2000, pattern=r"^https?://")
    refresh: Duration = timedelta(minutes=15)

    @model_validator(mode="after")
    def _one(self) -> IcalSource:
        if (self.file is None) == (self.url is None):
            raise ValueError("an ical source has exactly one of file or url")
        return self


class VendorSource(_Strict):
    """The schedule lives in PagerDuty or Opsgenie: warroom reads who is on call, never pages around it."""

    schedule_id: VendorId


class Schedule(_Strict):
    """Exactly one of: layers (warroom keeps the schedule), an iCal feed, PagerDuty or Opsgenie.

    Layers are listed lowest first: a later layer that has someone on duty at an instant wins.
    """

    name: Key
    layers: list[Layer] = Field(default_factory=list, max_length=MAX_LAYERS)
    ical: IcalSource | None = None
    pagerduty: VendorSource | None = None
    opsgenie: VendorSource | None = None

    @model_validator(mode="after")
    def _one_source(self) -> Schedule:
        sources = [bool(self.layers), self.ical is not None, self.pagerduty is not None, self.opsgenie is not None]
        if sum(sources) != 1:
            raise ValueError("a schedule has exactly one of: layers, ical, pagerduty, opsgenie")
        names = [layer.name for layer in self.layers]
        if len(set(names)) != len(names):
            raise ValueError("layer names must be unique within a schedule")
        return self

    @property
    def source(self) -> Literal["layers", "ical", "pagerduty", "opsgenie"]:
        if self.ical is not None:
            return "ical"
        if self.pagerduty is not None:
            return "pagerduty"
        if self.opsgenie is not None:
            return "opsgenie"
        return "layers"


class RoleTarget(_Strict):
    """A role is held by whoever a schedule has on duty, or always by one person."""

    schedule: Key | None = None
    person: Person | None = None

    @model_validator(mode="after")
    def _one(self) -> RoleTarget:
        if (self.schedule is None) == (self.person is None):
            raise ValueError("a role maps to exactly one of schedule or person")
        return self


class Team(_Strict):
    name: Key
    services: list[ServiceName] = Field(default_factory=list, max_length=1000)
    roles: dict[RoleName, RoleTarget] = Field(default_factory=dict, max_length=50)
    escalation: list[RoleName] = Field(
        default_factory=lambda: list(DEFAULT_CHAIN),
        min_length=1,
        max_length=10,
        description="the chain a page climbs: level 1 first; a level that resolves to nobody is skipped at once",
    )


_INDEXES: dict[int, tuple[Sequence[PersonEntry | Team | Schedule], dict[str, object]]] = {}
"""Lookups by name for the last few lists asked about, keyed by the list's id (the entry holds the
list, so the id stays its own). Not a private attribute: those take part in model equality."""


def _lookup(entries: Sequence[PersonEntry | Team | Schedule], name: str) -> object | None:
    kept = _INDEXES.get(id(entries))
    if kept is None or kept[0] is not entries:
        kept = (entries, {entry.name: entry for entry in entries})
        if len(_INDEXES) >= 64:
            _INDEXES.clear()
        _INDEXES[id(entries)] = kept
    return kept[1].get(name)


class OncallConfig(_Strict):
    """The whole `WARROOM_ONCALL` file, cross-checked: every name it uses is defined in it."""

    version: Literal[1] = 1
    default_team: Key | None = Field(None, description="owns every service no team (and no catalog) claims")
    people: list[PersonEntry] = Field(default_factory=list, max_length=MAX_PEOPLE)
    schedules: list[Schedule] = Field(default_factory=list, max_length=MAX_SCHEDULES)
    teams: list[Team] = Field(default_factory=list, max_length=MAX_TEAMS)
    backstage: list[str] = Field(
        default_factory=list, max_length=100, description="catalog-info.yaml files: Component spec.owner → team"
    )

    @model_validator(mode="after")
    def _references(self) -> OncallConfig:
        problems: list[str] = []
        people = {p.name for p in self.people}
        schedules = {s.name for s in self.schedules}
        teams = {t.name for t in self.teams}
        for kind, names in (
            ("person", [p.name for p in self.people]),
            ("schedule", [s.name for s in self.schedules]),
            ("team", [t.name for t in self.teams]),
        ):
            if duplicated := sorted({n for n in names if names.count(n) > 1}):
                problems.append(f"{kind} names must be unique: {', '.join(duplicated)}")
        for schedule in self.schedules:
            for layer in schedule.layers:
                if unknown := sorted(set(layer.members) - people):
                    problems.append(f"schedule {schedule.name} layer {layer.name}: unknown people {unknown}")
        owner: dict[str, str] = {}
        for team in self.teams:
            for role, target in team.roles.items():
                if target.schedule is not None and target.schedule not in schedules:
                    problems.append(f"team {team.name} role {role}: unknown schedule {target.schedule!r}")
                if target.person is not None and target.person not in people:
                    problems.append(f"team {team.name} role {role}: unknown person {target.person!r}")
            for service in team.services:
                if service in owner:
                    problems.append(f"service {service} is owned by both {owner[service]} and {team.name}")
                owner[service] = team.name
        if self.default_team is not None and self.default_team not in teams:
            problems.append(f"default_team {self.default_team!r} is not a team")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def person(self, name: str) -> PersonEntry | None:
        found = _lookup(self.people, name)
        return found if isinstance(found, PersonEntry) else None

    def team(self, name: str) -> Team | None:
        found = _lookup(self.teams, name)
        return found if isinstance(found, Team) else None

    def schedule(self, name: str) -> Schedule | None:
        found = _lookup(self.schedules, name)
        return found if isinstance(found, Schedule) else None


# --- Run time: overrides (the roster workflow) and resolutions (the activity) ----------------------


class Override(_Strict):
    """ "I'll take Bob's shift tonight": `person` holds `role` of `team` from `start` to `end`, above every layer."""

    id: Annotated[str, StringConstraints(pattern=r"^ovr-[0-9]{1,9}$")]
    team: Key
    role: RoleName = ON_CALL
    person: Person
    start: datetime
    end: datetime
    reason: Text = ""
    created_by: Person
    created_at: datetime

    def covers(self, team: str, role: str, at: datetime) -> bool:
        return self.team == team and self.role == role and self.start <= at < self.end


class Shift(_Strict):
    """Who a schedule has on duty at an instant, and which part of it chose them."""

    person: Person
    schedule: Key
    layer: str = Field(description="the layer's name; 'ical', 'pagerduty' or 'opsgenie' for a feed")
    start: datetime | None = None
    end: datetime | None = None


ResolutionSource = Literal["override", "schedule", "person", "gap", "unmapped", "unconfigured"]


class Resolution(_Strict):
    """One role at one instant: the person who holds it, or nobody and why.

    `unmapped`: the team does not map this role (a stakeholder list such as `customers`): the
    role name is paged as before. `unconfigured`: no `WARROOM_ONCALL` on this worker. `gap`: the
    role is mapped but nobody is on duty; the caller pages the next level and records the gap.
    """

    role: str
    team: str | None = None
    at: datetime
    source: ResolutionSource
    person: Person | None = None
    display_name: str | None = None
    contacts: Contacts = Field(default_factory=Contacts)
    schedule: str | None = None
    layer: str | None = None
    override_id: str | None = None
    instead_of: str | None = Field(None, description="the role that resolved to nobody, when this is the next level")

    @property
    def describe(self) -> str:
        """For the timeline: "alice (on-call-engineer, team payments, schedule payments-primary/weekdays)"."""
        if self.person is None:
            return f"nobody ({self.role}{f', team {self.team}' if self.team else ''}: {self.source})"
        where = [self.role]
        if self.team:
            where.append(f"team {self.team}")
        if self.override_id:
            where.append(f"override {self.override_id}")
        elif self.schedule:
            where.append(f"schedule {self.schedule}/{self.layer}" if self.layer else f"schedule {self.schedule}")
        return f"{self.person} ({', '.join(where)})"


class OncallResult(_Strict):
    """What a page's roles resolved to (in `Delivery.oncall`). A role in a gap is followed by the
    level paged instead (`instead_of`); the gap itself is in `gaps`, never dropped."""

    team: str | None = None
    resolutions: list[Resolution] = Field(default_factory=list)
    gaps: list[Resolution] = Field(default_factory=list)

    @property
    def audience(self) -> list[str]:
        """Who the page goes to: people by name; unmapped roles (stakeholder lists) by role name."""
        out: list[str] = []
        for r in self.resolutions:
            who = r.person or (r.role if r.source in ("unmapped", "unconfigured") else None)
            if who is not None and who not in out:
                out.append(who)
        return out

    @property
    def paged(self) -> str:
        """For the timeline: "alice (on-call-engineer, team payments, schedule primary/weekly)"."""
        return "; ".join(r.describe for r in self.resolutions if r.person is not None)
