"""`warroom declare --started`: when the symptom began, as a person says it, and nothing it cannot mean."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from warroom.cli.parsing import STARTED_WITHIN, started_at
from warroom.errors import BadInput

NOW = datetime(2026, 12, 6, 14, 30, 15, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("14:02", datetime(2026, 12, 6, 14, 2, tzinfo=UTC)),
        ("14:30", datetime(2026, 12, 6, 14, 30, tzinfo=UTC)),  # this very minute: today
        ("14:31", datetime(2026, 12, 5, 14, 31, tzinfo=UTC)),  # later than now: yesterday
        ("23:59", datetime(2026, 12, 5, 23, 59, tzinfo=UTC)),
        ("20m", NOW - timedelta(minutes=20)),
        ("1h30m", NOW - timedelta(hours=1, minutes=30)),
        ("2026-12-06T13:00:00Z", datetime(2026, 12, 6, 13, 0, tzinfo=UTC)),
        ("2026-12-06T15:00:00+02:00", datetime(2026, 12, 6, 13, 0, tzinfo=UTC)),
        ("2026-12-06 13:00", datetime(2026, 12, 6, 13, 0, tzinfo=UTC)),  # no offset: UTC
    ],
)
def test_a_time_of_day_a_duration_or_an_iso_time(text: str, expected: datetime) -> None:
    assert started_at(text, NOW) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("24:00", "not a time of day"),
        ("14:60", "not a time of day"),
        ("yesterday", "write a UTC time of day"),
        ("PT20M", "write a UTC time of day"),
        ("2026-12-06T14:31:00Z", "in the future"),
        ("31d", "more than 30 days ago"),
    ],
)
def test_what_it_cannot_mean_is_refused_with_the_reason(text: str, reason: str) -> None:
    with pytest.raises(BadInput, match=reason):
        started_at(text, NOW)


def test_the_window_is_thirty_days_to_the_second() -> None:
    assert started_at("30d", NOW) == NOW - STARTED_WITHIN
    with pytest.raises(BadInput):
        started_at("30d1s", NOW)
