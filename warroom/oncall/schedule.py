"""Who a schedule has on duty at an instant: layers of rotations with restrictions, or a feed.

Rotations follow local wall-clock time in the layer's zone (`zoneinfo`), computed with
`dateutil.rrule` rather than by hand: a daily 09:00 hand-off in Europe/Berlin is at 09:00 on
both sides of a DST change. A restriction (weekdays 09:00–17:00) limits when a layer is on duty;
outside it the layers below decide. The highest layer with someone on duty wins.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from warroom.oncall.ical import IcalFeed
from warroom.oncall.models import Layer, Schedule, Shift


def layer_shift(layer: Layer, schedule: str, at: datetime) -> Shift | None:
    """The member on duty in `layer` at `at` (aware), with the shift's start and end clipped to the
    restriction window that contains `at`; None before the layer's start or outside its restrictions."""
    raise NotImplementedError


def schedule_shift(schedule: Schedule, at: datetime, feeds: Mapping[str, IcalFeed]) -> Shift | None:
    """Who `schedule` has on duty at `at`: the highest layer's shift, or the feed's. PagerDuty and
    Opsgenie schedules are read by the activity (I/O), never here: they return None."""
    raise NotImplementedError


def schedule_changes(
    schedule: Schedule, start: datetime, end: datetime, feeds: Mapping[str, IcalFeed]
) -> list[datetime]:
    """Every instant in [start, end) where who is on duty may change (hand-offs, restriction
    edges, feed event edges), sorted: between two of them the answer is constant."""
    raise NotImplementedError
