"""Phase 5: the post-incident review is due "within 5 business days of incident close".

Business days skip weekends and the team's holidays. The calendar is built once from config
(`holiday_calendar`) and passed in, so the date arithmetic itself stays pure.
"""

from __future__ import annotations

from collections.abc import Container, Iterable
from datetime import date, datetime, timedelta

from warroom.config import Retrospective


def business_days_after(start: date, days: int, holidays: Container[date]) -> date:
    """The date `days` business days (Mon-Fri, not a holiday) after `start`; `start` itself never counts."""
    if days < 0:
        raise ValueError("days must not be negative")
    current = start
    while days:
        current += timedelta(days=1)
        if current.weekday() < 5 and current not in holidays:
            days -= 1
    return current


def holiday_calendar(cfg: Retrospective, years: Iterable[int]) -> set[date]:
    """The configured extra holidays plus the country's public holidays for `years`.

    With a country set, the `holidays` package reads its gettext locale files and calls `locale`,
    which the Temporal workflow sandbox forbids: build the calendar outside workflow code (client,
    activity) and pass it to `pir_due(..., holidays=...)`. Without a country this is pure.
    """
    calendar = set(cfg.extra_holidays)
    if cfg.holidays_country:
        import holidays  # local: only needed when a country calendar is configured

        code = cfg.holidays_country.strip().upper()
        try:
            public = holidays.country_holidays(code, subdiv=cfg.holidays_subdivision, years=list(years))
        except NotImplementedError as exc:
            where = f"holidays_country {cfg.holidays_country!r}"
            if cfg.holidays_subdivision:
                where += f" with holidays_subdivision {cfg.holidays_subdivision!r}"
            raise ValueError(
                f"retrospective: no holiday calendar for {where} ({exc}); "
                "use a python-holidays code such as US, DE or GB"
            ) from None
        calendar.update(public.keys())
    return calendar


def pir_due(closed_at: datetime, cfg: Retrospective, *, holidays: Container[date] | None = None) -> datetime:
    """Same time of day, `cfg.due_business_days` business days after the close; the timezone is kept.

    `holidays` overrides the calendar built from `cfg`; pass it in workflow code when a country is set.
    """
    start = closed_at.date()
    if holidays is None:
        # Up to 60 business days fits within the close's year and the next one.
        holidays = holiday_calendar(cfg, range(start.year, start.year + 2))
    due = business_days_after(start, cfg.due_business_days, holidays)
    return datetime.combine(due, closed_at.timetz())


def pir_reminder_at(due: datetime, cfg: Retrospective) -> datetime:
    """When to remind the PIR owner: `cfg.remind_before` ahead of the due time."""
    return due - cfg.remind_before
