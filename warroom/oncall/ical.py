"""An iCalendar feed as shifts: PagerDuty's and Opsgenie's schedule exports, read with `icalendar`
and expanded (RRULE, RDATE, EXDATE, moved occurrences) with `recurring-ical-events`.

Each event is one shift of one person. The person is matched against `WARROOM_ONCALL`'s people
by the event's ATTENDEE (or ORGANIZER) e-mail, else by an e-mail or a name found in its SUMMARY
("On Call - Alice Smith - Primary", PagerDuty's shape). An event nobody matches is not a shift:
it is reported by `unmatched`, so `warroom oncall check` names it.

Hostile feeds are bounded: the text's size, the number of events, and the occurrences expanded
per query window (a FREQ=SECONDLY rule does not expand forever).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from warroom.oncall.models import PersonEntry

MAX_FEED_BYTES = 5_000_000
MAX_EVENTS = 20_000
MAX_OCCURRENCES = 50_000


@dataclass(frozen=True)
class FeedShift:
    person: str
    start: datetime
    end: datetime


class IcalFeed:
    """A parsed feed; queries expand occurrences only around the instant or window asked for."""

    source: str

    @classmethod
    def parse(cls, text: str, source: str, people: Sequence[PersonEntry]) -> IcalFeed:
        """Raises OncallInputError naming `source` for text that is not a usable calendar."""
        raise NotImplementedError

    def shift_at(self, at: datetime) -> FeedShift | None:
        """The shift covering `at` (start <= at < end); of overlapping ones, the latest-starting."""
        raise NotImplementedError

    def shifts_between(self, start: datetime, end: datetime) -> list[FeedShift]:
        """Every shift overlapping [start, end), by start."""
        raise NotImplementedError

    @property
    def unmatched(self) -> list[str]:
        """Summaries of events whose person is not in the roster (at most a few dozen)."""
        raise NotImplementedError
