"""Phase 5: the PIR is due 5 business days after close, skipping weekends and holidays."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from warroom.config import Retrospective
from warroom.policy import business_days_after, holiday_calendar, pir_due, pir_reminder_at
from warroom.runbook import DEFAULT_RUNBOOK, load_runbook

CFG = load_runbook(DEFAULT_RUNBOOK).retrospective
NO_HOLIDAYS: set[date] = set()


def test_friday_close_is_due_the_following_friday():
    assert business_days_after(date(2026, 11, 27), 5, NO_HOLIDAYS) == date(2026, 12, 4)


def test_monday_close_is_due_the_following_monday():
    assert business_days_after(date(2026, 11, 30), 5, NO_HOLIDAYS) == date(2026, 12, 7)


def test_saturday_close_counts_from_monday():
    assert business_days_after(date(2026, 11, 28), 5, NO_HOLIDAYS) == date(2026, 12, 4)
    assert business_days_after(date(2026, 11, 28), 1, NO_HOLIDAYS) == date(2026, 11, 30)


def test_a_holiday_in_the_span_adds_a_day():
    assert business_days_after(date(2026, 11, 27), 5, {date(2026, 12, 1)}) == date(2026, 12, 7)


def test_zero_days_is_the_start_and_negative_is_refused():
    assert business_days_after(date(2026, 11, 27), 0, NO_HOLIDAYS) == date(2026, 11, 27)
    with pytest.raises(ValueError):
        business_days_after(date(2026, 11, 27), -1, NO_HOLIDAYS)


def test_pir_due_keeps_time_of_day_and_timezone():
    closed = datetime(2026, 11, 27, 16, 45, tzinfo=UTC)
    assert pir_due(closed, CFG) == datetime(2026, 12, 4, 16, 45, tzinfo=UTC)


def test_pir_due_keeps_a_named_timezone_across_a_dst_change():
    berlin = ZoneInfo("Europe/Berlin")
    closed = datetime(2026, 10, 23, 9, 0, tzinfo=berlin)  # CEST; due after the switch to CET
    due = pir_due(closed, CFG)
    assert due == datetime(2026, 10, 30, 9, 0, tzinfo=berlin)
    assert due.tzinfo is berlin


def test_extra_holidays_push_the_due_date():
    cfg = Retrospective(extra_holidays=[date(2026, 12, 1)])
    closed = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    assert pir_due(closed, cfg) == datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def test_us_thanksgiving_is_skipped_with_a_country_calendar():
    closed = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)  # Wednesday before Thanksgiving (Thu 26th)
    assert pir_due(closed, CFG) == datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
    us = Retrospective(holidays_country="US")
    assert pir_due(closed, us) == datetime(2026, 12, 3, 10, 0, tzinfo=UTC)


def test_a_calendar_passed_in_replaces_the_configured_one():
    """Workflow code passes a calendar built outside the sandbox; the country lookup is skipped."""
    closed = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    cfg = Retrospective(holidays_country="XX")  # would raise if looked up
    assert pir_due(closed, cfg, holidays={date(2026, 11, 26)}) == datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
    assert pir_due(closed, cfg, holidays=set()) == datetime(2026, 12, 2, 10, 0, tzinfo=UTC)


def test_holiday_calendar_merges_country_and_extra_holidays():
    cfg = Retrospective(holidays_country="US", extra_holidays=[date(2026, 12, 24)])
    calendar = holiday_calendar(cfg, [2026])
    assert {date(2026, 11, 26), date(2026, 12, 25), date(2026, 12, 24)} <= calendar


def test_holiday_calendar_honours_the_subdivision():
    assert date(2026, 1, 6) in holiday_calendar(Retrospective(holidays_country="DE", holidays_subdivision="BY"), [2026])
    assert date(2026, 1, 6) not in holiday_calendar(Retrospective(holidays_country="DE"), [2026])


def test_no_country_means_only_extra_holidays():
    assert holiday_calendar(Retrospective(extra_holidays=[date(2026, 12, 24)]), [2026]) == {date(2026, 12, 24)}


def test_unknown_country_is_a_clear_error():
    with pytest.raises(ValueError, match="holidays_country 'XX'"):
        holiday_calendar(Retrospective(holidays_country="XX"), [2026])


def test_unknown_subdivision_is_a_clear_error():
    with pytest.raises(ValueError, match="holidays_subdivision 'ZZ'"):
        holiday_calendar(Retrospective(holidays_country="US", holidays_subdivision="ZZ"), [2026])


def test_a_due_date_across_new_year_uses_next_years_holidays():
    closed = datetime(2026, 12, 29, 9, 0, tzinfo=UTC)  # Tue; Jan 1 2027 is a Friday holiday
    assert pir_due(closed, Retrospective(holidays_country="US")) == datetime(2027, 1, 6, 9, 0, tzinfo=UTC)


def test_reminder_is_a_day_before_the_due_time_by_default():
    due = datetime(2026, 12, 4, 16, 45, tzinfo=UTC)
    assert pir_reminder_at(due, CFG) == datetime(2026, 12, 3, 16, 45, tzinfo=UTC)
    assert pir_reminder_at(due, Retrospective(remind_before=timedelta(hours=4))) == due - timedelta(hours=4)


@given(
    start=st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 1, 1)),
    days=st.integers(1, 60),
    holidays=st.sets(st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 12, 31)), max_size=30),
)
def test_due_is_a_business_day_strictly_after_start(start, days, holidays):
    due = business_days_after(start, days, holidays)
    assert due > start
    assert due.weekday() < 5
    assert due not in holidays
    between = [start + timedelta(days=n) for n in range(1, (due - start).days + 1)]
    assert sum(1 for d in between if d.weekday() < 5 and d not in holidays) == days
