"""iCalendar feeds in PagerDuty's and Opsgenie's shapes: RRULE, EXDATE, TZID with VTIMEZONE,
person matching, and hostile feeds refused with an error naming the feed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from time import perf_counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from warroom.oncall.directory import Directory
from warroom.oncall.ical import MAX_EVENTS, MAX_FEED_BYTES, IcalFeed
from warroom.oncall.models import OncallConfig, OncallInputError, PersonEntry
from warroom.oncall.resolve import resolve_role
from warroom.oncall.schedule import schedule_changes, schedule_shift

FEEDS = Path(__file__).parent / "feeds"
PEOPLE = [
    PersonEntry(name="alice", display_name="Alice Smith", contacts={"email": "alice@example.com"}),  # type: ignore[arg-type]
    PersonEntry(name="bob", display_name="Bob Jones", contacts={"email": "bob@example.com"}),  # type: ignore[arg-type]
    PersonEntry(name="chen", display_name="Chen Wei", contacts={"email": "chen@example.com"}),  # type: ignore[arg-type]
    PersonEntry(name="dana", display_name="Dana Kowalski", contacts={"email": "dana@example.com"}),  # type: ignore[arg-type]
]


def z(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def feed(name: str) -> IcalFeed:
    return IcalFeed.parse((FEEDS / name).read_text(), name, PEOPLE)


def person_at(item: IcalFeed, at: str) -> str | None:
    found = item.shift_at(z(at))
    return found.person if found else None


def calendar(*events: str, prodid: str = "-//PagerDuty Inc.//PagerDuty Schedules//EN") -> str:
    body = "".join(f"BEGIN:VEVENT\r\n{e.strip()}\r\nEND:VEVENT\r\n" for e in events)
    return f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:{prodid}\r\n{body}END:VCALENDAR\r\n"


def event(uid: str, start: str, end: str, summary: str, *extra: str) -> str:
    return "\r\n".join(
        [f"UID:{uid}", "DTSTAMP:20260101T000000Z", f"DTSTART:{start}", f"DTEND:{end}", f"SUMMARY:{summary}", *extra]
    )


# --- PagerDuty's export ------------------------------------------------------------------------


def test_pagerduty_weekly_shifts_alternate_by_attendee_email() -> None:
    pd = feed("pagerduty-payments-primary.ics")
    assert person_at(pd, "2026-01-05T07:59Z") is None  # before the first shift
    assert person_at(pd, "2026-01-05T08:00Z") == "alice"
    assert person_at(pd, "2026-01-12T07:59:59Z") == "alice"
    assert person_at(pd, "2026-01-12T08:00Z") == "bob"  # ATTENDEE BOB@Example.com: e-mails match case-blind
    assert person_at(pd, "2026-02-16T08:00Z") == "alice"
    shift = pd.shift_at(z("2026-01-20T12:00Z"))
    assert shift is not None and (shift.start, shift.end) == (z("2026-01-19T08:00Z"), z("2026-01-26T08:00Z"))


def test_pagerduty_exdate_removes_a_week_that_a_one_off_event_fills() -> None:
    pd = feed("pagerduty-payments-primary.ics")
    # alice's 2026-03-02 occurrence is excluded; chen's single event covers that week.
    assert person_at(pd, "2026-03-02T08:00Z") == "chen"
    assert person_at(pd, "2026-03-08T23:00Z") == "chen"
    assert person_at(pd, "2026-03-09T08:00Z") == "bob"
    assert [s.person for s in pd.shifts_between(z("2026-02-23T08:00Z"), z("2026-03-16T00:00Z"))] == [
        "bob",
        "chen",
        "bob",
    ]


def test_pagerduty_unmatched_person_is_reported_not_paged() -> None:
    pd = feed("pagerduty-payments-primary.ics")
    assert pd.unmatched == ["On Call - Mallory Unknown - Primary Schedule"]
    # Mallory's event does not hide bob's shift under it.
    assert person_at(pd, "2026-03-10T22:00Z") == "bob"


def test_the_rrule_stops_at_until() -> None:
    pd = feed("pagerduty-payments-primary.ics")
    assert person_at(pd, "2026-12-28T12:00Z") is not None
    assert person_at(pd, "2027-01-10T12:00Z") == "alice"  # UNTIL is inclusive: her last week starts on it
    assert person_at(pd, "2027-01-12T12:00Z") is None


# --- Opsgenie's export: TZID times with a VTIMEZONE, names in SUMMARY ---------------------------


def test_opsgenie_day_and_night_rotations_in_berlin_time_across_spring_dst() -> None:
    og = feed("opsgenie-payments.ics")
    # Friday 2026-03-27 (CET, UTC+1): alice 09:00-17:00, then bob until Saturday 09:00.
    assert person_at(og, "2026-03-27T08:00Z") == "alice"
    assert person_at(og, "2026-03-27T15:59Z") == "alice"
    assert person_at(og, "2026-03-27T16:00Z") == "bob"
    assert person_at(og, "2026-03-28T07:59Z") == "bob"
    assert person_at(og, "2026-03-28T08:00Z") is None  # the weekend has nobody: a gap
    # Tuesday 2026-03-31 (CEST, UTC+2): 09:00 Berlin is now 07:00Z.
    assert person_at(og, "2026-03-31T06:59Z") == "bob"
    assert person_at(og, "2026-03-31T07:00Z") == "alice"
    assert person_at(og, "2026-03-31T15:00Z") == "bob"


def test_opsgenie_exdate_in_local_time_and_an_email_in_summary() -> None:
    og = feed("opsgenie-payments.ics")
    # Monday 2026-03-30: alice's occurrence is excluded (EXDATE;TZID=Europe/Berlin), dana covers.
    assert person_at(og, "2026-03-30T07:00Z") == "dana"
    assert person_at(og, "2026-03-30T14:59Z") == "dana"
    assert person_at(og, "2026-03-30T15:00Z") == "bob"
    assert og.unmatched == []


def test_a_feed_schedule_resolves_with_layer_ical_and_lists_its_edges() -> None:
    config = OncallConfig.model_validate(
        {
            "people": [p.model_dump() for p in PEOPLE],
            "schedules": [{"name": "og", "ical": {"file": "opsgenie-payments.ics"}}],
            "teams": [{"name": "payments", "roles": {"on-call-engineer": {"schedule": "og"}}}],
        }
    )
    schedule = config.schedules[0]
    feeds = {"og": feed("opsgenie-payments.ics")}
    shift = schedule_shift(schedule, z("2026-03-30T08:00Z"), feeds)
    assert shift is not None and (shift.person, shift.layer) == ("dana", "ical")
    resolved = resolve_role(Directory.of(config, feeds), [], "payments", "on-call-engineer", z("2026-03-30T08:00Z"))
    assert (resolved.person, resolved.layer, resolved.source) == ("dana", "ical", "schedule")
    changes = schedule_changes(schedule, z("2026-03-27T00:00Z"), z("2026-03-28T00:00Z"), feeds)
    assert changes == [z("2026-03-27T08:00Z"), z("2026-03-27T16:00Z")]


def test_repeated_lookups_reuse_the_expansion() -> None:
    og = feed("opsgenie-payments.ics")
    at = z("2026-04-01T10:00Z")
    og.shift_at(at)
    started = perf_counter()
    for minute in range(2000):
        og.shift_at(at + timedelta(minutes=minute % 600))
    assert perf_counter() - started < 1.0


# --- hostile feeds -----------------------------------------------------------------------------


def refused(text: str, *words: str) -> str:
    with pytest.raises(OncallInputError) as caught:
        IcalFeed.parse(text, "evil.ics", PEOPLE)
    message = str(caught.value)
    assert "evil.ics" in message
    for word in words:
        assert word in message, message
    return message


def test_minutely_and_secondly_rules_are_refused_before_any_expansion() -> None:
    for freq in ("SECONDLY", "MINUTELY"):
        started = perf_counter()
        refused(
            calendar(event("x", "20200101T000000Z", "20200101T000001Z", "Alice Smith", f"RRULE:FREQ={freq}")),
            f"FREQ={freq}",
        )
        assert perf_counter() - started < 1.0
    refused(
        calendar(
            event(
                "x",
                "20260101T000000Z",
                "20260101T010000Z",
                "Alice Smith",
                "RRULE:FREQ=DAILY;BYHOUR=1;BYMINUTE=0;BYSECOND=0,1,2",
            )
        ),
        "within the hour",
    )


def test_a_huge_count_is_refused() -> None:
    refused(
        calendar(event("x", "20260101T000000Z", "20260102T000000Z", "Alice Smith", "RRULE:FREQ=DAILY;COUNT=999999999")),
        "COUNT=999999999",
    )


def test_a_rule_that_expands_past_the_cap_in_one_window_is_an_error_not_a_hang() -> None:
    # 24 occurrences a day passes the checks; a two-day block stays small, but six years of
    # shifts_between is past MAX_OCCURRENCES.
    rule = "RRULE:FREQ=DAILY;BYHOUR=0,4,8,12,16,20;BYMINUTE=0,15,30,45"
    pd = IcalFeed.parse(
        calendar(event("x", "20260101T000000Z", "20260101T001500Z", "Alice Smith", rule)), "evil.ics", PEOPLE
    )
    assert pd.shift_at(z("2026-01-01T04:10Z")) is not None
    started = perf_counter()
    with pytest.raises(OncallInputError, match="evil.ics.*more than 50000 occurrences"):
        pd.shifts_between(z("2026-01-01T00:00Z"), z("2032-01-01T00:00Z"))
    assert perf_counter() - started < 30


@pytest.mark.parametrize(
    ("start", "rule", "words"),
    [
        ("20260101T000000Z", "FREQ=HOURLY", ["FREQ=HOURLY needs a COUNT or an UNTIL"]),
        ("20200101T000000Z", "FREQ=HOURLY;UNTIL=20300101T000000Z", ["FREQ=HOURLY needs a COUNT or an UNTIL"]),
        ("19000101T000000Z", "FREQ=DAILY", ["starts 1900-01-01", "must start in 2000"]),
        ("19000101T000000Z", "FREQ=DAILY;UNTIL=20990101T000000Z", ["starts 1900-01-01"]),
        ("20260101T000000Z", "FREQ=DAILY;BYHOUR=0,1,2,3,4,5,6,7", ["more than 6 times a day"]),
        ("20260101T000000Z", "FREQ=BOGUS", ["unreadable", "BOGUS"]),
        ("20260101T000000Z", "FREQ=DAILY;COUNT=abc", ["unreadable"]),
    ],
)
def test_rules_whose_expansion_walk_would_be_long_or_unreadable_are_refused(
    start: str, rule: str, words: list[str]
) -> None:
    refused(calendar(event("x", start, "20260101T080000Z", "Alice Smith", f"RRULE:{rule}")), *words)
    ok = calendar(
        event("x", "20260101T000000Z", "20260101T080000Z", "Alice Smith", "RRULE:FREQ=HOURLY;INTERVAL=8;COUNT=900")
    )
    assert IcalFeed.parse(ok, "ok.ics", PEOPLE).shift_at(z("2026-01-01T16:30Z")) is not None


def test_bad_time_zones_and_broken_text_are_clear_errors() -> None:
    refused("this is not a calendar", "not an iCalendar file")
    refused(calendar(event("x", "not-a-date", "20260101T000000Z", "Alice Smith")))
    bad_zone = "UID:x\r\nDTSTAMP:20260101T000000Z\r\nDTSTART;TZID=Mars/Olympus_Mons:20260101T090000\r\nDTEND;TZID=Mars/Olympus_Mons:20260101T170000\r\nSUMMARY:Alice Smith"
    refused(calendar(bad_zone), "DTSTART", "unknown time zone", "Mars/Olympus_Mons")
    refused(calendar("UID:x\r\nSUMMARY:Alice Smith"), "no DTSTART")


def test_oversized_feeds_nul_bytes_and_too_many_events_are_refused() -> None:
    refused("BEGIN:VCALENDAR\r\n" + "X" * (MAX_FEED_BYTES + 1), "larger than")
    refused("BEGIN:VCALENDAR\r\n\x00END:VCALENDAR", "NUL")
    many = [event(f"e{i}", "20260101T000000Z", "20260101T010000Z", "x") for i in range(MAX_EVENTS + 1)]
    refused(calendar(*many), f"more than {MAX_EVENTS} events")


def test_an_injected_contact_string_in_an_event_matches_nobody() -> None:
    text = calendar(
        event(
            "x",
            "20260101T000000Z",
            "20260102T000000Z",
            "On Call - alice@example.com\\nBcc: evil@evil.example",
            "ATTENDEE:mailto:alice@example.com\\nBcc: evil@evil.example",
        )
    )
    parsed = IcalFeed.parse(text, "evil.ics", PEOPLE)
    found = parsed.shift_at(z("2026-01-01T12:00Z"))
    # The person is the roster's alice (by the e-mail in SUMMARY), so her contacts come from the
    # roster: nothing from the feed's text reaches a page.
    assert found is not None and found.person == "alice"


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=400))
def test_arbitrary_text_is_a_feed_or_a_clear_error(text: str) -> None:
    try:
        IcalFeed.parse(text, "fuzz.ics", PEOPLE)
    except OncallInputError as exc:
        assert "fuzz.ics" in str(exc)


@settings(max_examples=40, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=200))
def test_arbitrary_event_properties_are_a_feed_or_a_clear_error(junk: str) -> None:
    text = calendar(
        event(
            "x",
            "20260101T000000Z",
            "20260102T000000Z",
            "Alice Smith",
            f"RRULE:{junk}".replace("\r", "").replace("\n", ""),
        )
    )
    try:
        IcalFeed.parse(text, "fuzz.ics", PEOPLE).shift_at(z("2026-01-01T12:00Z"))
    except OncallInputError as exc:
        assert "fuzz.ics" in str(exc)
