"""`coverage_gaps` finds exactly what resolving every minute finds, and names who is paged instead."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from warroom.oncall.coverage import Gap, coverage_gaps
from warroom.oncall.directory import Directory
from warroom.oncall.ical import IcalFeed
from warroom.oncall.models import OncallConfig, Override
from warroom.oncall.resolve import resolve_role, resolve_roles

PEOPLE = ["alice", "bob", "chen", "dana"]
ROLES = ["on-call-engineer", "engineering-team-lead", "engineering-manager"]
FEEDS = Path(__file__).parent / "feeds"
MINUTE = timedelta(minutes=1)


def z(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def config(
    schedules: list[dict[str, Any]], roles: dict[str, Any], *, people: list[dict[str, Any]] | None = None
) -> OncallConfig:
    return OncallConfig.model_validate(
        {
            "people": people
            or [{"name": p, "display_name": p.title(), "contacts": {"email": f"{p}@example.com"}} for p in PEOPLE],
            "schedules": schedules,
            "teams": [
                {"name": "payments", "roles": roles},
                {"name": "search", "roles": {"on-call-engineer": {"person": "dana"}}},
            ],
        }
    )


def brute_force(
    directory: Directory, overrides: list[Override], roles: list[str], start: datetime, end: datetime
) -> list[Gap]:
    """Resolve every minute mark in [start, end): the definition `coverage_gaps` must meet."""
    first = start.replace(second=0, microsecond=0)
    first = first if first == start else first + MINUTE
    marks = []
    mark = first
    while mark < end:
        marks.append(mark)
        mark += MINUTE
    gaps: list[Gap] = []
    for team in sorted(directory.config.teams, key=lambda t: t.name):
        for role in sorted(set(roles)):
            if role not in team.roles:
                continue
            opened: datetime | None = None
            for mark in marks:
                in_gap = resolve_role(directory, overrides, team.name, role, mark).source == "gap"
                if in_gap and opened is None:
                    opened = mark
                elif not in_gap and opened is not None:
                    gaps.append(gap(directory, overrides, team.name, role, opened, mark))
                    opened = None
            if opened is not None:
                gaps.append(gap(directory, overrides, team.name, role, opened, min(marks[-1] + MINUTE, end)))
    return gaps


def gap(directory: Directory, overrides: list[Override], team: str, role: str, start: datetime, end: datetime) -> Gap:
    paged, _ = resolve_roles(directory, overrides, team, [role], start)
    return Gap(team=team, role=role, start=start, end=end, paged_instead=paged[0].person if paged else None)


WEEKDAY_DAYTIME = {
    "name": "primary",
    "layers": [
        {
            "name": "days",
            "rotation": "daily",
            "handoff": "09:00",
            "timezone": "Europe/Berlin",
            "start": "2026-01-05",
            "members": ["alice", "bob"],
            "restrictions": [{"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "18:00"}],
        }
    ],
}
SECONDARY = {
    "name": "secondary",
    "layers": [
        {
            "name": "nights",
            "rotation": "weekly",
            "timezone": "America/New_York",
            "start": "2026-01-05",
            "members": ["chen"],
            "restrictions": [
                {"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "start": "18:00", "end": "23:00"}
            ],
        }
    ],
}


def test_a_gap_is_reported_with_who_is_paged_instead() -> None:
    directory = Directory.of(
        config(
            [WEEKDAY_DAYTIME, SECONDARY],
            {"on-call-engineer": {"schedule": "primary"}, "engineering-team-lead": {"schedule": "secondary"}},
        )
    )
    start, end = z("2026-12-07T00:00Z"), z("2026-12-08T00:00Z")  # Monday
    gaps = coverage_gaps(directory, [], ROLES, start, end)
    assert gaps == brute_force(directory, [], ROLES, start, end)
    # on-call: Berlin 09:00-18:00 = 08:00-17:00Z; the lead: New York 18:00-23:00 = 23:00Z-04:00Z
    assert [(g.role, g.start, g.end, g.paged_instead) for g in gaps] == [
        ("engineering-team-lead", z("2026-12-07T04:00Z"), z("2026-12-07T23:00Z"), None),
        (
            "on-call-engineer",
            z("2026-12-07T00:00Z"),
            z("2026-12-07T08:00Z"),
            "chen",
        ),  # Sunday's lead window runs to 04:00Z
        # from 17:00Z nobody on the chain until the lead at 23:00Z: a P1 then pages nobody
        ("on-call-engineer", z("2026-12-07T17:00Z"), z("2026-12-08T00:00Z"), None),
    ]
    assert all(g.team == "payments" for g in gaps)  # search maps its role to a person: never a gap
    # resolving at a gap pages the next level at once, and names the role it stands in for
    paged, missing = resolve_roles(directory, [], "payments", ["on-call-engineer"], z("2026-12-07T23:30Z"))
    assert [m.source for m in missing] == ["gap"]
    assert [(p.person, p.role, p.instead_of) for p in paged] == [("chen", "engineering-team-lead", "on-call-engineer")]


def test_an_override_closes_a_gap_to_the_minute_and_a_team_filter_applies() -> None:
    directory = Directory.of(config([WEEKDAY_DAYTIME], {"on-call-engineer": {"schedule": "primary"}}))
    cover = Override(
        id="ovr-1",
        team="payments",
        person="dana",
        start=z("2026-12-07T17:00:30Z"),
        end=z("2026-12-07T20:00Z"),
        created_by="alice",
        created_at=z("2026-12-01T00:00Z"),
    )
    start, end = z("2026-12-07T12:00Z"), z("2026-12-07T22:00:20Z")
    gaps = coverage_gaps(directory, [cover], ["on-call-engineer"], start, end, teams=["payments"])
    assert gaps == brute_force(directory, [cover], ["on-call-engineer"], start, end)
    # 17:00:00 is a gap minute (the override starts 30 s later); 17:01 is covered
    assert [(g.start, g.end) for g in gaps] == [
        (z("2026-12-07T17:00Z"), z("2026-12-07T17:01Z")),
        (z("2026-12-07T20:00Z"), z("2026-12-07T22:00:20Z")),
    ]
    assert coverage_gaps(directory, [cover], ["on-call-engineer"], start, end, teams=["search"]) == []


def test_a_feed_schedule_has_its_weekend_gap_found() -> None:
    people = [
        {"name": "alice", "display_name": "Alice Smith"},
        {"name": "bob", "display_name": "Bob Jones"},
        {"name": "dana", "contacts": {"email": "dana@example.com"}},
    ]
    cfg = config(
        [{"name": "og", "ical": {"file": "opsgenie-payments.ics"}}],
        {"on-call-engineer": {"schedule": "og"}},
        people=people,
    )
    feed = IcalFeed.parse((FEEDS / "opsgenie-payments.ics").read_text(), "og", cfg.people)
    directory = Directory.of(cfg, {"og": feed})
    start, end = z("2026-03-27T00:00Z"), z("2026-03-31T00:00Z")
    gaps = coverage_gaps(directory, [], ["on-call-engineer"], start, end)
    assert gaps == brute_force(directory, [], ["on-call-engineer"], start, end)
    # Thursday night's shift runs to Friday 09:00, Friday night's to Saturday 09:00 CET; then nobody
    # until Monday 09:00 CEST (dana's cover), across the spring change.
    assert [(g.start, g.end, g.paged_instead) for g in gaps] == [(z("2026-03-28T08:00Z"), z("2026-03-30T07:00Z"), None)]


def test_vendor_schedules_are_not_checked_here() -> None:
    directory = Directory.of(
        config([{"name": "pd", "pagerduty": {"schedule_id": "PABC123"}}], {"on-call-engineer": {"schedule": "pd"}})
    )
    assert coverage_gaps(directory, [], ROLES, z("2026-12-07T00:00Z"), z("2026-12-08T00:00Z")) == []


# --- random small configs against the per-minute brute force --------------------------------------

ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe"]
odd_time = st.builds(time, st.integers(0, 23), st.sampled_from([0, 0, 15, 30, 59]), st.sampled_from([0, 0, 0, 20]))
restriction = st.fixed_dictionaries(
    {
        "days": st.lists(
            st.sampled_from(["mon", "tue", "wed", "thu", "fri", "sat", "sun"]), min_size=1, max_size=7, unique=True
        ),
        "start": odd_time,
        "end": odd_time,
    }
)
layer = st.fixed_dictionaries(
    {
        "rotation": st.sampled_from(["daily", "weekly", "custom"]),
        "hours": st.integers(1, 30),
        "handoff": odd_time,
        "timezone": st.sampled_from(ZONES),
        "members": st.lists(st.sampled_from(PEOPLE), min_size=1, max_size=3),
        "restrictions": st.lists(restriction, max_size=2),
    }
)


def layer_entry(index: int, drawn: dict[str, Any]) -> dict[str, Any]:
    entry = {k: v for k, v in drawn.items() if k != "hours"}
    entry.update(
        name=f"l{index}",
        start="2026-03-01",
        handoff=drawn["handoff"].isoformat(),
        restrictions=[
            {**r, "start": r["start"].isoformat(), "end": r["end"].isoformat()} for r in drawn["restrictions"]
        ],
    )
    if drawn["rotation"] == "custom":
        entry["length"] = f"{drawn['hours']}h"
    return entry


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    layers=st.lists(layer, min_size=1, max_size=3),
    lead_person=st.sampled_from([None, "dana"]),
    window_start=st.integers(0, 60 * 24 * 60 * 40),  # seconds into March..April 2026 (both DST changes)
    hours=st.integers(1, 40),
    override=st.one_of(st.none(), st.tuples(st.integers(0, 40 * 3600), st.integers(1, 6 * 3600))),
)
def test_coverage_gaps_equal_resolving_every_minute(
    layers: list[dict[str, Any]],
    lead_person: str | None,
    window_start: int,
    hours: int,
    override: tuple[int, int] | None,
) -> None:
    roles: dict[str, Any] = {"on-call-engineer": {"schedule": "primary"}}
    if lead_person:
        roles["engineering-team-lead"] = {"person": lead_person}
    directory = Directory.of(
        config([{"name": "primary", "layers": [layer_entry(i, d) for i, d in enumerate(layers)]}], roles)
    )
    start = datetime(2026, 3, 1, tzinfo=UTC) + timedelta(seconds=window_start, microseconds=250)
    end = start + timedelta(hours=hours, seconds=7)
    overrides = []
    if override is not None:
        begin = start + timedelta(seconds=override[0])
        overrides.append(
            Override(
                id="ovr-1",
                team="payments",
                person="bob",
                start=begin,
                end=begin + timedelta(seconds=override[1]),
                created_by="alice",
                created_at=start,
            )
        )
    assert coverage_gaps(directory, overrides, ROLES, start, end) == brute_force(
        directory, overrides, ROLES, start, end
    )
