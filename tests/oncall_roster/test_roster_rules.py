"""The roster's refusal rules as a pure function: every request either passes or is refused with a
kind and a sentence, never anything else, and a request that passes is one the roster can hold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from warroom.contracts.oncall import MAX_OVERRIDE_LENGTH, MAX_OVERRIDES, AddOverride, RosterNames
from warroom.oncall.models import Override
from workflows.roster import Refusal, check_add

NOW = datetime(2026, 12, 11, 23, 59, tzinfo=UTC)
NAMES = RosterNames(people=["alice", "bob"], teams={"payments": ["on-call-engineer"], "platform": []})


def request(**fields: object) -> AddOverride:
    base: dict[str, object] = {
        "team": "payments",
        "person": "alice",
        "by": "bob",
        "start": NOW,
        "end": NOW + timedelta(hours=8),
    }
    return AddOverride.model_validate({**base, **fields})


def live(n: int) -> list[Override]:
    return [
        Override(
            id=f"ovr-{i}",
            team="payments",
            person="bob",
            start=NOW,
            end=NOW + timedelta(hours=1),
            created_by="bob",
            created_at=NOW,
        )
        for i in range(1, n + 1)
    ]


def test_a_full_roster_refuses_more_overrides() -> None:
    check_add(request(), NAMES, live(MAX_OVERRIDES - 1), NOW)
    with pytest.raises(Refusal) as caught:
        check_add(request(), NAMES, live(MAX_OVERRIDES), NOW)
    assert caught.value.kind == "TooManyOverrides" and "remove some first" in str(caught.value)


def test_the_longest_override_is_allowed_and_a_second_more_is_not() -> None:
    check_add(request(end=NOW + MAX_OVERRIDE_LENGTH), NAMES, [], NOW)
    with pytest.raises(Refusal, match="at most 90 days"):
        check_add(request(end=NOW + MAX_OVERRIDE_LENGTH + timedelta(seconds=1)), NAMES, [], NOW)


def test_an_override_that_started_earlier_but_has_not_ended_is_taken() -> None:
    check_add(request(start=NOW - timedelta(hours=3), end=NOW + timedelta(minutes=1)), NAMES, [], NOW)
    with pytest.raises(Refusal, match="already over"):
        check_add(request(start=NOW - timedelta(hours=3), end=NOW), NAMES, [], NOW)


@pytest.mark.parametrize("reason", ["swap\x00; rm -rf /", "line one\nline two", "\x1b[31mred\x1b[0m", "bell\x07"])
def test_a_reason_with_control_characters_is_refused(reason: str) -> None:
    with pytest.raises(Refusal) as caught:
        check_add(request(reason=reason), NAMES, [], NOW)
    assert caught.value.kind == "BadReason" and "control characters" in str(caught.value)
    check_add(request(reason="swap with bob — ünïcode is fine"), NAMES, [], NOW)


def test_times_without_a_zone_never_reach_the_roster() -> None:
    with pytest.raises(ValueError, match="need a time zone"):
        request(start=datetime(2026, 12, 12, 22, 0), end=datetime(2026, 12, 13, 6, 0))


KINDS = {"BadReason", "UnknownPerson", "UnknownTeam", "UnknownRole", "EndBeforeStart", "AlreadyOver", "OverrideTooLong"}


@settings(max_examples=300, deadline=None)
@given(
    person=st.sampled_from(["alice", "bob", "mallory", "ALICE"]),
    team=st.sampled_from(["payments", "platform", "billing"]),
    role=st.sampled_from(["on-call-engineer", "engineering-team-lead", "incident-commander"]),
    start=st.integers(-200 * 24, 200 * 24),
    length=st.integers(-48, 100 * 24),
    zone=st.integers(-14, 14),
)
def test_any_request_is_taken_or_refused_with_a_reason(
    person: str, team: str, role: str, start: int, length: int, zone: int
) -> None:
    tz = timezone(timedelta(hours=zone))
    begin = (NOW + timedelta(hours=start)).astimezone(tz)
    req = request(person=person, team=team, role=role, start=begin, end=begin + timedelta(hours=length))
    try:
        check_add(req, NAMES, [], NOW)
    except Refusal as err:
        assert err.kind in KINDS and str(err)
    else:
        assert req.person in NAMES.people and req.team in NAMES.teams
        assert req.start < req.end and req.end > NOW and req.end - req.start <= MAX_OVERRIDE_LENGTH
        assert not NAMES.teams[req.team] or req.role in NAMES.teams[req.team]
