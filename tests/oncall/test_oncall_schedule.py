"""Rotations in wall-clock time across DST, follow-the-sun hand-offs to the minute, layer precedence,
restrictions past midnight, overrides above layers, and the Friday 23:59 P1."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from time import perf_counter
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from dateutil.rrule import DAILY, HOURLY, MINUTELY, WEEKLY, rrule
from hypothesis import given, settings
from hypothesis import strategies as st

from warroom.oncall.directory import Directory
from warroom.oncall.models import Layer, OncallConfig, Override, Schedule
from warroom.oncall.resolve import resolve_role, resolve_roles
from warroom.oncall.schedule import layer_shift, schedule_changes, schedule_shift

PEOPLE = ["alice", "bob", "chen", "dana", "eli", "fiona"]


def z(text: str) -> datetime:
    """An ISO instant with its offset: '2026-03-29T06:59Z'."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def layer(**fields: Any) -> Layer:
    base: dict[str, Any] = {"name": "l", "start": "2026-01-05", "members": ["alice", "bob"]}
    return Layer.model_validate(base | fields)


def schedule(*layers: Layer, name: str = "s") -> Schedule:
    return Schedule(name=name, layers=list(layers))


def who(item: Layer | Schedule, at: datetime) -> str | None:
    found = layer_shift(item, "s", at) if isinstance(item, Layer) else schedule_shift(item, at, {})
    return found.person if found else None


# --- DST, two zones, spring and autumn ---------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "first", "before", "after", "handoff_before", "handoff_after"),
    [
        # Berlin springs forward on 2026-03-29: 09:00 is 08:00Z before, 07:00Z after.
        (
            "Europe/Berlin",
            "2026-03-27",
            "2026-03-28T08:00Z",
            "2026-03-29T07:00Z",
            "2026-03-27T08:00Z",
            "2026-03-30T07:00Z",
        ),
        # Berlin falls back on 2026-10-25: 09:00 is 07:00Z before, 08:00Z after.
        (
            "Europe/Berlin",
            "2026-10-23",
            "2026-10-24T07:00Z",
            "2026-10-25T08:00Z",
            "2026-10-23T07:00Z",
            "2026-10-26T08:00Z",
        ),
        # New York springs forward on 2026-03-08: 09:00 is 14:00Z before, 13:00Z after.
        (
            "America/New_York",
            "2026-03-06",
            "2026-03-07T14:00Z",
            "2026-03-08T13:00Z",
            "2026-03-06T14:00Z",
            "2026-03-09T13:00Z",
        ),
        # New York falls back on 2026-11-01: 09:00 is 13:00Z before, 14:00Z after.
        (
            "America/New_York",
            "2026-10-30",
            "2026-10-31T13:00Z",
            "2026-11-01T14:00Z",
            "2026-10-30T13:00Z",
            "2026-11-02T14:00Z",
        ),
    ],
)
def test_a_daily_handoff_stays_at_local_nine_across_dst(
    zone: str, first: str, before: str, after: str, handoff_before: str, handoff_after: str
) -> None:
    rota = layer(rotation="daily", handoff="09:00", timezone=zone, start=first, members=["alice", "bob", "chen"])
    # shift 0 alice from `first`, shift 1 bob the day before the change, shift 2 chen from the change day
    assert who(rota, z(handoff_before)) == "alice"
    assert who(rota, z(handoff_before) - timedelta(seconds=1)) is None  # before the layer starts
    bob = layer_shift(rota, "s", z(before))
    assert bob is not None and bob.person == "bob"
    assert bob.start == z(before) and bob.end == z(after)  # a 23- or 25-hour shift
    assert abs((bob.end - bob.start) - timedelta(days=1)) == timedelta(hours=1)
    assert who(rota, z(after) - timedelta(minutes=1)) == "bob"
    assert who(rota, z(after)) == "chen"
    chen = layer_shift(rota, "s", z(after))
    assert chen is not None and chen.end == z(handoff_after)
    for edge in (z(handoff_before), z(before), z(after), z(handoff_after)):
        assert edge.astimezone(ZoneInfo(zone)).time() == time(9, 0)


def test_a_weekly_rotation_hands_off_on_monday_nine_in_both_zones_across_dst() -> None:
    ny = layer(rotation="weekly", handoff="09:00", timezone="America/New_York", start="2026-03-02")
    berlin = layer(rotation="weekly", handoff="09:00", timezone="Europe/Berlin", start="2026-03-23")
    ny_first = layer_shift(ny, "s", z("2026-03-05T00:00Z"))
    assert ny_first is not None and (ny_first.start, ny_first.end) == (z("2026-03-02T14:00Z"), z("2026-03-09T13:00Z"))
    assert who(ny, z("2026-03-09T12:59Z")) == "alice" and who(ny, z("2026-03-09T13:00Z")) == "bob"
    be_first = layer_shift(berlin, "s", z("2026-03-25T00:00Z"))
    assert be_first is not None and (be_first.start, be_first.end) == (z("2026-03-23T08:00Z"), z("2026-03-30T07:00Z"))
    assert who(berlin, z("2026-03-30T06:59Z")) == "alice" and who(berlin, z("2026-03-30T07:00Z")) == "bob"


def test_a_custom_twelve_hour_rotation_keeps_its_wall_clock_times_across_spring() -> None:
    rota = layer(rotation="custom", length="12h", handoff="08:00", timezone="Europe/Berlin", start="2026-03-28")
    starts = schedule_changes(schedule(rota), z("2026-03-28T00:00Z"), z("2026-03-30T00:00Z"), {})
    assert starts == [z("2026-03-28T07:00Z"), z("2026-03-28T19:00Z"), z("2026-03-29T06:00Z"), z("2026-03-29T18:00Z")]
    assert [who(rota, t) for t in starts] == ["alice", "bob", "alice", "bob"]


def test_a_handoff_in_the_skipped_hour_happens_once_at_the_first_valid_reading() -> None:
    """02:30 does not exist in Berlin on 2026-03-29: fold=0 reads it with the winter offset (01:30Z)."""
    rota = layer(rotation="daily", handoff="02:30", timezone="Europe/Berlin", start="2026-03-28")
    assert who(rota, z("2026-03-29T01:29Z")) == "alice"
    assert who(rota, z("2026-03-29T01:30Z")) == "bob"
    assert who(rota, z("2026-03-30T00:29Z")) == "bob" and who(rota, z("2026-03-30T00:30Z")) == "alice"


# --- follow the sun ----------------------------------------------------------------------------

WEEKDAYS = ["mon", "tue", "wed", "thu", "fri"]
BASE = layer(name="weekly", rotation="weekly", timezone="Europe/Berlin", start="2026-01-05", members=["chen"])
EMEA = layer(
    name="emea",
    rotation="daily",
    handoff="07:00",
    timezone="Europe/Berlin",
    members=["alice", "dana"],
    restrictions=[{"days": WEEKDAYS, "start": "07:00", "end": "19:00"}],
)
AMERICAS = layer(
    name="americas",
    rotation="daily",
    handoff="13:00",
    timezone="America/New_York",
    members=["bob", "eli"],
    restrictions=[{"days": WEEKDAYS, "start": "13:00", "end": "01:00"}],
)
SUN = schedule(BASE, EMEA, AMERICAS, name="sun")


def on_duty(at: datetime) -> tuple[str, str] | None:
    found = schedule_shift(SUN, at, {})
    return (found.layer, found.person) if found else None


def test_follow_the_sun_hands_off_at_the_minute() -> None:
    # Monday 2026-12-07: Berlin is UTC+1, New York UTC-5: 19:00 Berlin = 13:00 New York = 18:00Z.
    # Both daily rotations are on shift 336 since 2026-01-05: alice in EMEA, bob in the Americas.
    assert on_duty(z("2026-12-07T17:59Z")) == ("emea", "alice")
    assert on_duty(z("2026-12-07T17:59:59.999999Z")) == ("emea", "alice")
    assert on_duty(z("2026-12-07T18:00Z")) == ("americas", "bob")
    assert on_duty(z("2026-12-07T18:01Z")) == ("americas", "bob")
    # 01:00 New York = 07:00 Berlin = 06:00Z Tuesday: back to EMEA, the next daily member.
    assert on_duty(z("2026-12-08T05:59Z")) == ("americas", "bob")
    assert on_duty(z("2026-12-08T06:00Z")) == ("emea", "dana")
    emea = schedule_shift(SUN, z("2026-12-07T12:00Z"), {})
    assert emea is not None and (emea.start, emea.end) == (z("2026-12-07T06:00Z"), z("2026-12-07T18:00Z"))


def test_between_the_two_dst_changes_the_layers_overlap_and_leave_a_gap_the_base_covers() -> None:
    # 2026-03-10: New York already on EDT (UTC-4), Berlin still CET (UTC+1): five hours apart.
    assert on_duty(z("2026-03-10T16:59Z")) == ("emea", "alice")
    assert on_duty(z("2026-03-10T17:00Z"))[0] == "americas"  # type: ignore[index]  # 13:00 EDT: the higher layer wins
    assert on_duty(z("2026-03-10T04:59Z"))[0] == "americas"  # type: ignore[index]  # Monday's window, until 01:00 EDT
    assert on_duty(z("2026-03-10T05:00Z")) == ("weekly", "chen")  # neither window: the layer below
    assert on_duty(z("2026-03-10T06:00Z"))[0] == "emea"  # type: ignore[index]


def test_changes_list_every_edge_and_nothing_changes_between_them() -> None:
    start, end = z("2026-03-06T00:00Z"), z("2026-03-12T00:00Z")
    changes = schedule_changes(SUN, start, end, {})
    assert changes == sorted(set(changes)) and all(start <= c < end for c in changes)
    assert z("2026-03-10T05:00Z") in changes and z("2026-03-10T17:00Z") in changes
    edges = [start, *changes, end]
    for left, right in zip(edges, edges[1:], strict=False):
        probe = left
        while probe < right:
            assert on_duty(probe) == on_duty(left), probe
            probe += timedelta(minutes=37)


# --- precedence, restrictions past midnight, the Friday 23:59 P1 --------------------------------


def test_the_highest_layer_with_someone_on_duty_wins() -> None:
    low = layer(name="low", rotation="daily", members=["chen"])
    high = layer(
        name="high",
        rotation="daily",
        members=["dana"],
        restrictions=[{"days": ["mon"], "start": "10:00", "end": "11:00"}],
    )
    both = schedule(low, high)
    assert who(both, z("2026-12-07T10:30Z")) == "dana"
    assert who(both, z("2026-12-07T11:00Z")) == "chen"
    assert who(schedule(high, low), z("2026-12-07T10:30Z")) == "chen"  # order is precedence


def test_a_restriction_crossing_midnight_starts_on_its_day_and_ends_the_next_morning() -> None:
    night = layer(
        rotation="daily",
        timezone="UTC",
        members=["alice"],
        restrictions=[{"days": ["fri"], "start": "22:00", "end": "06:00"}],
    )
    assert who(night, z("2026-12-11T21:59Z")) is None  # Friday before 22:00
    assert who(night, z("2026-12-11T22:00Z")) == "alice"
    assert who(night, z("2026-12-12T05:59Z")) == "alice"  # Saturday morning, in Friday's window
    assert who(night, z("2026-12-12T06:00Z")) is None
    assert who(night, z("2026-12-12T23:00Z")) is None  # Saturday night is not a Friday window
    assert who(night, z("2026-12-10T23:00Z")) is None  # nor Thursday night
    shift = layer_shift(night, "s", z("2026-12-12T01:00Z"))
    assert shift is not None and (shift.start, shift.end) == (z("2026-12-11T22:00Z"), z("2026-12-12T06:00Z"))


def test_a_restriction_from_midnight_to_midnight_is_the_whole_day() -> None:
    weekend = layer(rotation="weekly", members=["bob"], restrictions=[{"days": ["sat", "sun"]}])
    assert who(weekend, z("2026-12-11T23:59:59Z")) is None
    assert who(weekend, z("2026-12-12T00:00Z")) == "bob"
    assert who(weekend, z("2026-12-13T23:59Z")) == "bob"
    assert who(weekend, z("2026-12-14T00:00Z")) is None


def oncall_config(**extra: Any) -> OncallConfig:
    people = [{"name": p, "contacts": {"email": f"{p}@example.com"}} for p in PEOPLE]
    return OncallConfig.model_validate({"people": people, **extra})


FRIDAY_CONFIG = oncall_config(
    schedules=[
        {
            "name": "primary",
            "layers": [
                {
                    "name": "weekdays",
                    "rotation": "weekly",
                    "handoff": "09:00",
                    "timezone": "Europe/Berlin",
                    "start": "2026-01-05",
                    "members": ["alice", "bob"],
                },
                {
                    "name": "weekend",
                    "rotation": "weekly",
                    "handoff": "00:00",
                    "timezone": "Europe/Berlin",
                    "start": "2026-01-03",
                    "members": ["chen"],
                    "restrictions": [{"days": ["sat", "sun"], "start": "00:00", "end": "00:00"}],
                },
            ],
        }
    ],
    teams=[
        {
            "name": "payments",
            "roles": {"on-call-engineer": {"schedule": "primary"}, "engineering-team-lead": {"person": "dana"}},
        }
    ],
)


def test_a_p1_at_23_59_on_friday_pages_the_weekday_person_and_at_midnight_the_weekend_one() -> None:
    directory = Directory.of(FRIDAY_CONFIG)
    berlin = ZoneInfo("Europe/Berlin")
    friday = datetime(2026, 12, 11, 23, 59, tzinfo=berlin)  # week 48 since 2026-01-05: alice's
    paged, gaps = resolve_roles(directory, [], "payments", ["on-call-engineer", "engineering-team-lead"], friday)
    assert gaps == [] and [(r.role, r.person, r.layer) for r in paged] == [
        ("on-call-engineer", "alice", "weekdays"),
        ("engineering-team-lead", "dana", None),
    ]
    assert paged[0].contacts.email == "alice@example.com"
    saturday = resolve_role(directory, [], "payments", "on-call-engineer", datetime(2026, 12, 12, 0, 0, tzinfo=berlin))
    assert (saturday.person, saturday.layer) == ("chen", "weekend")
    last_second = resolve_role(
        directory, [], "payments", "on-call-engineer", datetime(2026, 12, 11, 23, 59, 59, tzinfo=berlin)
    )
    assert last_second.person == "alice"


def test_an_override_beats_every_layer_and_the_newest_override_wins() -> None:
    directory = Directory.of(FRIDAY_CONFIG)
    at = z("2026-12-12T10:00Z")  # the weekend layer: chen

    def override(number: int, person: str, start: str, end: str, created: str) -> Override:
        return Override(
            id=f"ovr-{number}",
            team="payments",
            person=person,
            start=z(start),
            end=z(end),
            created_by="dana",
            created_at=z(created),
            reason="swap",
        )

    first = override(1, "alice", "2026-12-12T08:00Z", "2026-12-12T12:00Z", "2026-12-01T00:00Z")
    newer = override(2, "eli", "2026-12-12T09:00Z", "2026-12-12T10:30Z", "2026-12-02T00:00Z")
    assert resolve_role(directory, [], "payments", "on-call-engineer", at).person == "chen"
    found = resolve_role(directory, [first], "payments", "on-call-engineer", at)
    assert (found.source, found.person, found.override_id) == ("override", "alice", "ovr-1")
    assert resolve_role(directory, [first, newer], "payments", "on-call-engineer", at).person == "eli"
    assert (
        resolve_role(directory, [first, newer], "payments", "on-call-engineer", z("2026-12-12T10:30Z")).person
        == "alice"
    )
    assert (
        resolve_role(directory, [first, newer], "payments", "on-call-engineer", z("2026-12-12T12:00Z")).person == "chen"
    )
    other_role = resolve_role(directory, [first], "payments", "engineering-team-lead", at)
    assert other_role.person == "dana"


# --- the index arithmetic against a full rrule walk ----------------------------------------------

ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata"]


def reference(rota: Layer, at: datetime) -> str | None:
    """Every hand-off from the layer's start, walked one by one (slow and obviously right)."""
    freq, interval = {"daily": (DAILY, 1), "weekly": (WEEKLY, 1)}.get(rota.rotation, (None, 0))
    if freq is None:
        minutes = rota.shift_length // timedelta(minutes=1)
        freq, interval = (HOURLY, minutes // 60) if minutes % 60 == 0 else (MINUTELY, minutes)
    zone = ZoneInfo(rota.timezone)
    until = at.astimezone(zone).replace(tzinfo=None) + timedelta(days=2)
    person = None
    for index, local in enumerate(
        rrule(freq, interval=interval, dtstart=datetime.combine(rota.start, rota.handoff), until=until)
    ):
        if local.replace(tzinfo=zone).astimezone(UTC) <= at:
            person = rota.members[index % len(rota.members)]
    return person


@settings(max_examples=150, deadline=None)
@given(
    rotation=st.sampled_from(["daily", "weekly", "custom"]),
    length_minutes=st.sampled_from([60, 90, 180, 720, 2880]),
    handoff=st.times().map(lambda t: t.replace(second=0, microsecond=0)),
    zone=st.sampled_from(ZONES),
    first=st.dates(min_value=date(2025, 1, 1), max_value=date(2026, 12, 31)),
    members=st.integers(min_value=1, max_value=5),
    offset_minutes=st.integers(min_value=-2000, max_value=60 * 24 * 40),
)
def test_the_index_from_dates_matches_walking_every_occurrence(
    rotation: str, length_minutes: int, handoff: time, zone: str, first: date, members: int, offset_minutes: int
) -> None:
    rota = layer(
        rotation=rotation,
        length=f"{length_minutes}m" if rotation == "custom" else None,
        handoff=handoff.isoformat(),
        timezone=zone,
        start=first.isoformat(),
        members=PEOPLE[:members],
    )
    at = datetime.combine(first, time(0), tzinfo=UTC) + timedelta(minutes=offset_minutes, seconds=30)
    assert who(rota, at) == reference(rota, at)


def test_a_layer_started_five_years_ago_resolves_without_walking_its_history() -> None:
    rota = layer(rotation="custom", length="1h", start="2021-12-06", members=PEOPLE)
    at = z("2026-12-06T17:30Z")
    hours = int((at - datetime(2021, 12, 6, 9, tzinfo=UTC)) // timedelta(hours=1))
    assert who(rota, at) == PEOPLE[hours % len(PEOPLE)]
    started = perf_counter()
    for minute in range(1000):
        layer_shift(rota, "s", at + timedelta(minutes=minute))
    assert perf_counter() - started < 1.0  # walking 43,800 hand-offs per call would take minutes
