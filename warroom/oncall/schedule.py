"""Who a schedule has on duty at an instant: layers of rotations with restrictions, or a feed.

Rotations follow local wall-clock time in the layer's zone (`zoneinfo`), computed with
`dateutil.rrule` rather than by hand: a daily 09:00 hand-off in Europe/Berlin is at 09:00 on
both sides of a DST change. A restriction (weekdays 09:00–17:00) limits when a layer is on duty;
outside it the layers below decide. The highest layer with someone on duty wins.

Speed: the shift index at an instant comes from the local date (one division), and only the few
occurrences around it are produced by `rrule`, so a layer that started years ago costs the same
as one that started yesterday. A wall-clock time that does not exist (the hour skipped in spring)
or exists twice (the hour repeated in autumn) is read with `fold=0`, as zoneinfo does.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from dateutil.rrule import DAILY, HOURLY, MINUTELY, WEEKLY, rrule

from warroom.oncall.ical import IcalFeed
from warroom.oncall.models import WEEKDAYS, Layer, Restriction, Schedule, Shift

_DAY = timedelta(days=1)


@lru_cache(maxsize=256)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _recurrence(layer: Layer) -> tuple[int, int, timedelta]:
    """(rrule frequency, interval, the wall-clock step between hand-offs)."""
    if layer.rotation == "daily":
        return DAILY, 1, _DAY
    if layer.rotation == "weekly":
        return WEEKLY, 1, timedelta(days=7)
    step = layer.shift_length
    if step % timedelta(hours=1) == timedelta(0):
        return HOURLY, step // timedelta(hours=1), step
    return MINUTELY, max(1, step // timedelta(minutes=1)), timedelta(minutes=max(1, step // timedelta(minutes=1)))


def _instant(local: datetime, zone: ZoneInfo) -> datetime:
    """A wall-clock time in `zone` → the UTC instant (fold=0 for skipped or repeated times)."""
    return local.replace(tzinfo=zone).astimezone(UTC)


def _local(at: datetime, zone: ZoneInfo) -> datetime:
    if at.tzinfo is None:
        raise ValueError(f"an instant needs a time zone: {at.isoformat()}")
    return at.astimezone(zone).replace(tzinfo=None)


def _handoffs(layer: Layer, first: int, count: int) -> list[tuple[int, datetime]]:
    """Hand-offs number `first` .. `first + count - 1` as (index, UTC instant), through rrule."""
    freq, interval, step = _recurrence(layer)
    zone = _zone(layer.timezone)
    origin = datetime.combine(layer.start, layer.handoff)
    first = max(first, 0)
    rule = rrule(freq, dtstart=origin + step * first, interval=interval, count=count)
    return [(first + i, _instant(local, zone)) for i, local in enumerate(rule)]


def _index_near(layer: Layer, at: datetime) -> int:
    """The shift index whose wall-clock start is at or before `at`'s wall-clock time (may be off by
    one around a DST change: callers look at the neighbours)."""
    _, _, step = _recurrence(layer)
    origin = datetime.combine(layer.start, layer.handoff)
    return (_local(at, _zone(layer.timezone)) - origin) // step


def _rotation_shift(layer: Layer, at: datetime) -> tuple[int, datetime, datetime] | None:
    """(index, start, end) of the rotation's shift covering `at`, ignoring restrictions."""
    near = _index_near(layer, at)
    if near < -1:
        return None
    if near >= 0:  # the wall-clock estimate is right but within an hour of a DST change
        (index, start), (_, end) = _handoffs(layer, near, 2)
        if start <= at < end:
            return index, start, end
    around = _handoffs(layer, near - 1, 4)
    for (index, start), (_, end) in zip(reversed(around[:-1]), reversed(around[1:]), strict=True):
        if start <= at < end:
            return index, start, end
    return None


def _windows(restriction: Restriction, zone: ZoneInfo, day: date) -> tuple[datetime, datetime] | None:
    """The restriction's window that starts on `day`, as UTC instants; None when `day` is not one of its days."""
    if WEEKDAYS[day.weekday()] not in restriction.days:
        return None
    begin = datetime.combine(day, restriction.start)
    finish = datetime.combine(day + _DAY if restriction.end <= restriction.start else day, restriction.end)
    return _instant(begin, zone), _instant(finish, zone)


def _window_at(layer: Layer, at: datetime) -> tuple[datetime, datetime] | None:
    """The restriction window containing `at` (the one ending last, when several do); the whole
    time when the layer has no restrictions."""
    if not layer.restrictions:
        return datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC)
    zone = _zone(layer.timezone)
    today = _local(at, zone).date()
    best: tuple[datetime, datetime] | None = None
    for restriction in layer.restrictions:
        for day in (today - _DAY, today):
            window = _windows(restriction, zone, day)
            if window is not None and window[0] <= at < window[1] and (best is None or window[1] > best[1]):
                best = window
    return best


def layer_shift(layer: Layer, schedule: str, at: datetime) -> Shift | None:
    """The member on duty in `layer` at `at` (aware), with the shift's start and end clipped to the
    restriction window that contains `at`; None before the layer's start or outside its restrictions."""
    window = _window_at(layer, at)
    if window is None:
        return None
    found = _rotation_shift(layer, at)
    if found is None:
        return None
    index, start, end = found
    return Shift(
        person=layer.members[index % len(layer.members)],
        schedule=schedule,
        layer=layer.name,
        start=max(start, window[0]),
        end=min(end, window[1]),
    )


def schedule_shift(schedule: Schedule, at: datetime, feeds: Mapping[str, IcalFeed]) -> Shift | None:
    """Who `schedule` has on duty at `at`: the highest layer's shift, or the feed's. PagerDuty and
    Opsgenie schedules are read by the activity (I/O), never here: they return None."""
    if schedule.ical is not None:
        feed = feeds.get(schedule.name)
        shift = feed.shift_at(at) if feed is not None else None
        if shift is None:
            return None
        return Shift(person=shift.person, schedule=schedule.name, layer="ical", start=shift.start, end=shift.end)
    for layer in reversed(schedule.layers):
        if (found := layer_shift(layer, schedule.name, at)) is not None:
            return found
    return None


def _layer_handoffs(layer: Layer, start: datetime, end: datetime) -> Iterator[datetime]:
    index = max(_index_near(layer, start) - 1, 0)
    while True:
        batch = _handoffs(layer, index, 64)
        for _, instant in batch:
            if instant >= end:
                return
            if instant >= start:
                yield instant
        index = batch[-1][0] + 1


def _restriction_edges(layer: Layer, start: datetime, end: datetime) -> Iterator[datetime]:
    zone = _zone(layer.timezone)
    day = _local(start, zone).date() - _DAY
    last = _local(end, zone).date() + _DAY
    while day <= last:
        for restriction in layer.restrictions:
            window = _windows(restriction, zone, day)
            if window is not None:
                yield from (edge for edge in window if start <= edge < end)
        day += _DAY


def schedule_changes(
    schedule: Schedule, start: datetime, end: datetime, feeds: Mapping[str, IcalFeed]
) -> list[datetime]:
    """Every instant in [start, end) where who is on duty may change (hand-offs, restriction
    edges, feed event edges), sorted: between two of them the answer is constant."""
    edges: set[datetime] = set()
    if schedule.ical is not None:
        feed = feeds.get(schedule.name)
        for shift in feed.shifts_between(start, end) if feed is not None else []:
            edges.update(edge for edge in (shift.start, shift.end) if start <= edge < end)
    for layer in schedule.layers:
        edges.update(_layer_handoffs(layer, start, end))
        edges.update(_restriction_edges(layer, start, end))
    return sorted(edge.astimezone(UTC) for edge in edges)
