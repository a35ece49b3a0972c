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

import re
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import icalendar
import recurring_ical_events

from warroom.oncall.models import OncallInputError, PersonEntry

MAX_FEED_BYTES = 5_000_000
MAX_EVENTS = 20_000
MAX_OCCURRENCES = 50_000

_BLOCK = timedelta(days=2)
"""`shift_at` expands the feed one block (and its neighbour) at a time and keeps the result."""
_KEPT_BLOCKS = 64
_MAX_UNMATCHED = 50
_EMAIL_IN_TEXT = re.compile(r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})+")
_REFUSED_FREQ = ("SECONDLY", "MINUTELY")
"""Nobody hands off a pager every minute; such a rule only makes expansion slow."""
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_OLDEST_RULE = datetime(2000, 1, 1, tzinfo=UTC)
"""dateutil walks a rule from its DTSTART on every expansion: a rule from 1900 costs seconds a query."""


@dataclass(frozen=True)
class FeedShift:
    person: str
    start: datetime
    end: datetime


def _aware(value: Any) -> datetime:
    """An occurrence's start or end as an aware UTC datetime: a date is its midnight UTC, a
    floating time is read as UTC (the vendors' exports use UTC or a TZID)."""
    if isinstance(value, datetime):
        return (value if value.tzinfo is not None else value.replace(tzinfo=UTC)).astimezone(UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    raise TypeError(f"not a date or time: {value!r}")


class _Matcher:
    """An event → the roster's person: ATTENDEE / ORGANIZER e-mail, then an e-mail or a name in SUMMARY."""

    def __init__(self, people: Sequence[PersonEntry]) -> None:
        self.emails = {p.contacts.email.lower(): p.name for p in people if p.contacts.email}
        labels = {label.lower(): p.name for p in people for label in (p.name, p.display_name) if label}
        self.names = [
            (re.compile(rf"(?<!\w){re.escape(label)}(?!\w)", re.IGNORECASE), person)
            for label, person in sorted(labels.items(), key=lambda item: -len(item[0]))
        ]

    def person(self, event: icalendar.cal.Component) -> str | None:
        addresses: list[Any] = []
        for key in ("ATTENDEE", "ORGANIZER"):
            value = event.get(key)
            addresses.extend(value if isinstance(value, list) else [value] if value is not None else [])
        for address in addresses:
            email = str(address).removeprefix("mailto:").removeprefix("MAILTO:").strip().lower()
            if email in self.emails:
                return self.emails[email]
        summary = str(event.get("SUMMARY", ""))[:500]
        for email in _EMAIL_IN_TEXT.findall(summary):
            if email.lower() in self.emails:
                return self.emails[email.lower()]
        for pattern, person in self.names:
            if pattern.search(summary):
                return person
        return None


class IcalFeed:
    """A parsed feed; queries expand occurrences only around the instant or window asked for."""

    source: str

    def __init__(self, calendar: icalendar.Calendar, source: str, people: dict[int, str | None], unmatched: list[str]):
        self.source = source
        self._query = recurring_ical_events.of(calendar)
        self._people = people
        self._unmatched = unmatched
        self._blocks: OrderedDict[int, list[FeedShift]] = OrderedDict()
        self._lock = threading.Lock()  # one Directory serves the activity worker's threads

    @classmethod
    def parse(cls, text: str, source: str, people: Sequence[PersonEntry]) -> IcalFeed:
        """Raises OncallInputError naming `source` for text that is not a usable calendar."""
        if len(text) > MAX_FEED_BYTES or len(text.encode("utf-8", "replace")) > MAX_FEED_BYTES:
            raise OncallInputError(f"feed {source}: larger than {MAX_FEED_BYTES} bytes")
        if "\x00" in text:
            raise OncallInputError(f"feed {source}: contains a NUL character")
        if text.count("BEGIN:VEVENT") > MAX_EVENTS:
            raise OncallInputError(f"feed {source}: more than {MAX_EVENTS} events")
        try:
            calendar = icalendar.Calendar.from_ical(text)
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise OncallInputError(f"feed {source}: not an iCalendar file: {str(exc)[:200]}") from None
        if not isinstance(calendar, icalendar.Calendar):
            raise OncallInputError(f"feed {source}: not a VCALENDAR")
        events = calendar.walk("VEVENT")
        if len(events) > MAX_EVENTS:
            raise OncallInputError(f"feed {source}: more than {MAX_EVENTS} events")
        matcher = _Matcher(people)
        persons: dict[int, str | None] = {}
        unmatched: list[str] = []
        for event in events:
            _check_event(event, source)
            person = matcher.person(event)
            persons[id(event)] = person
            if person is None and len(unmatched) < _MAX_UNMATCHED:
                summary = str(event.get("SUMMARY", event.get("UID", "?")))[:200]
                unmatched.append("".join(c if c.isprintable() else " " for c in summary))
        try:
            feed = cls(calendar, source, persons, unmatched)
        except Exception as exc:  # the libraries raise many kinds for a malformed calendar
            raise OncallInputError(f"feed {source}: cannot expand its events: {str(exc)[:200]}") from None
        feed._expand(_EPOCH, _EPOCH + timedelta(days=1))  # surfaces broken rules and zones now
        return feed

    def _expand(self, start: datetime, end: datetime) -> list[FeedShift]:
        try:
            return self._occurrences(start, end)
        except OncallInputError:
            raise
        except Exception as exc:  # a rule or zone that only breaks in this window
            raise OncallInputError(
                f"feed {self.source}: cannot expand its events between {start.isoformat()} and "
                f"{end.isoformat()}: {str(exc)[:200]}"
            ) from None

    def _occurrences(self, start: datetime, end: datetime) -> list[FeedShift]:
        shifts: list[FeedShift] = []
        seen = 0
        for series in self._query.series:
            for occurrence in series.between(start, end):
                seen += 1
                if seen > MAX_OCCURRENCES:
                    raise OncallInputError(
                        f"feed {self.source}: more than {MAX_OCCURRENCES} occurrences between "
                        f"{start.isoformat()} and {end.isoformat()}: refusing to expand further"
                    )
                component = getattr(getattr(occurrence, "_adapter", None), "_component", None)
                person = self._people.get(id(component)) if component is not None else None
                if person is None:
                    continue
                shift = FeedShift(person=person, start=_aware(occurrence.start), end=_aware(occurrence.end))
                if shift.start < end and shift.end > start:
                    shifts.append(shift)
        shifts.sort(key=lambda s: (s.start, s.end, s.person))
        return shifts

    def _block(self, index: int) -> list[FeedShift]:
        with self._lock:
            if (kept := self._blocks.get(index)) is not None:
                self._blocks.move_to_end(index)
                return kept
        start = _EPOCH + _BLOCK * index
        shifts = self._expand(start, start + _BLOCK)
        with self._lock:
            self._blocks[index] = shifts
            if len(self._blocks) > _KEPT_BLOCKS:
                self._blocks.popitem(last=False)
        return shifts

    def shift_at(self, at: datetime) -> FeedShift | None:
        """The shift covering `at` (start <= at < end); of overlapping ones, the latest-starting."""
        at = _aware(at)
        covering = [s for s in self._block((at - _EPOCH) // _BLOCK) if s.start <= at < s.end]
        return max(covering, key=lambda s: s.start) if covering else None

    def shifts_between(self, start: datetime, end: datetime) -> list[FeedShift]:
        """Every shift overlapping [start, end), by start."""
        start, end = _aware(start), _aware(end)
        if end <= start:
            return []
        first, last = (start - _EPOCH) // _BLOCK, (end - _EPOCH) // _BLOCK
        if last - first > _KEPT_BLOCKS // 2:
            return self._expand(start, end)
        found = {s for index in range(first, last + 1) for s in self._block(index) if s.start < end and s.end > start}
        return sorted(found, key=lambda s: (s.start, s.end, s.person))

    @property
    def unmatched(self) -> list[str]:
        """Summaries of events whose person is not in the roster (at most a few dozen)."""
        return list(self._unmatched)


def _check_event(event: icalendar.cal.Component, source: str) -> None:
    """Refuse what would make expansion hang or lie: minutely rules, huge counts, no start."""
    uid = str(event.get("UID", "?"))[:100]
    if event.get("DTSTART") is None:
        raise OncallInputError(f"feed {source}: event {uid!r} has no DTSTART")
    for key in ("DTSTART", "DTEND", "RECURRENCE-ID"):
        value = event.get(key)
        zone = value.params.get("TZID") if value is not None and hasattr(value, "params") else None
        if zone is not None and isinstance(getattr(value, "dt", None), datetime) and value.dt.tzinfo is None:
            raise OncallInputError(
                f"feed {source}: event {uid!r}: {key} has an unknown time zone {str(zone)[:80]!r} "
                "(neither an IANA name nor a VTIMEZONE in the feed)"
            )
    try:
        rules = list(_as_list(event.get("RRULE")))
        for rule in rules:
            _check_rule(rule, _aware(event.decoded("DTSTART")), f"feed {source}: event {uid!r}: RRULE")
    except OncallInputError:
        raise
    except Exception as exc:  # icalendar raises its own kinds for a property it cannot read
        raise OncallInputError(f"feed {source}: event {uid!r}: unreadable: {str(exc)[:200]}") from None


def _check_rule(rule: Any, start: datetime, where: str) -> None:
    """Expansion walks a rule from DTSTART (dateutil has no shortcut), so a rule is refused when
    that walk could be long: sub-hourly rules, huge counts, hourly rules not bounded to
    MAX_OCCURRENCES, and rules without a COUNT starting before 2000."""
    freq = [str(f).upper() for f in _as_list(rule.get("FREQ"))]
    if any(f in _REFUSED_FREQ for f in freq):
        raise OncallInputError(f"{where} FREQ={freq[0]} is not a rotation")
    if rule.get("BYSECOND") is not None or len(list(_as_list(rule.get("BYMINUTE")))) > 4:
        raise OncallInputError(f"{where} repeats within the hour: not a rotation")
    if len(list(_as_list(rule.get("BYHOUR")))) > 6:
        raise OncallInputError(f"{where} repeats more than 6 times a day: not a rotation")
    counts = [int(c) for c in _as_list(rule.get("COUNT"))]
    untils = [_aware(u) for u in _as_list(rule.get("UNTIL"))]
    for count in counts:
        if count > MAX_OCCURRENCES:
            raise OncallInputError(f"{where} COUNT={count} is more than {MAX_OCCURRENCES}")
    if counts:
        return
    if start < _OLDEST_RULE:
        raise OncallInputError(
            f"{where} starts {start.date().isoformat()}: a rule without COUNT must start in {_OLDEST_RULE.year} or later"
        )
    if "HOURLY" in freq:
        interval = max([int(i) for i in _as_list(rule.get("INTERVAL"))] or [1])
        if not untils or (max(untils) - start) / timedelta(hours=interval) > MAX_OCCURRENCES:
            raise OncallInputError(
                f"{where} FREQ=HOURLY needs a COUNT or an UNTIL within {MAX_OCCURRENCES} occurrences"
            )


def _as_list(value: Any) -> Iterable[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]
