"""What one fired escalation costs, counted from the histories (bench/reliability_bench.py section 2,
tests/scale_lean): workflow tasks of the incident AND its phase, and activities, from the
escalation timer's TimerFired in the phase to the last event the escalation caused.

The escalation is the phase's first notify/notify_batch activity whose input names the
"escalation" template; its timer is the last TimerFired before it. Every WorkflowTaskCompleted
and ActivityTaskScheduled of either history from that instant on, until the phase's next timer
fires (another deadline) or `within` runs out, is the escalation's: the bench and the tests read
the histories when nothing else is going on.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from temporalio.api.enums.v1 import EventType

from warroom.compression import decode_one

NOTIFY_TYPES = {"notify", "notify_batch"}


def _data(payloads: Any) -> list[bytes]:
    """The payloads' bytes as the converter wrote them, decompressed (warroom/compression.py)."""
    return [decode_one(p).data for p in payloads]


def _at(event: Any) -> datetime:
    return event.event_time.ToDatetime()


ESCALATION_COMPANIONS = (b'"ic_stuck"',)
"""Messages that go with the escalation (the IC's stuck line): part of its cost, on either path."""


def _other_message(event: Any, template: str) -> bool:
    """A notify activity sending none of the escalation's messages."""
    attrs = event.activity_task_scheduled_event_attributes
    if attrs.activity_type.name not in NOTIFY_TYPES:
        return False
    needles = (f'"{template}"'.encode(), *ESCALATION_COMPANIONS)
    return not any(n in data for data in _data(attrs.input.payloads) for n in needles)


def escalation_start(phase: Sequence[Any], template: str = "escalation") -> datetime | None:
    """When the timer that fired the escalation fired (None: no escalation in this history)."""
    needle = f'"{template}"'.encode()
    timer: datetime | None = None
    for event in phase:
        if event.event_type == EventType.EVENT_TYPE_TIMER_FIRED:
            timer = _at(event)
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            attrs = event.activity_task_scheduled_event_attributes
            if attrs.activity_type.name in NOTIFY_TYPES and any(needle in data for data in _data(attrs.input.payloads)):
                return timer
    return None


def escalation_cost(
    phase: Sequence[Any], incident: Sequence[Any], within: timedelta | None = None, template: str = "escalation"
) -> tuple[int, int] | None:
    """(workflow tasks, activities) the escalation cost in both histories; None when none fired."""
    start = escalation_start(phase, template)
    if start is None:
        return None
    end = start + within if within is not None else None
    # The phase's next deadline is not the escalation's doing: its timer firing, or a message of another
    # template sent at once (a deadline that fell due while the escalation's report was under way).
    later = [
        _at(e)
        for e in phase
        if _at(e) > start
        and (
            e.event_type == EventType.EVENT_TYPE_TIMER_FIRED
            or (e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED and _other_message(e, template))
        )
    ]
    if later and (end is None or later[0] < end):
        end = later[0]

    def count(kind: int) -> int:
        return sum(
            1
            for history in (phase, incident)
            for e in history
            if e.event_type == kind and _at(e) >= start and (end is None or _at(e) < end)
        )

    return count(EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED), count(EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED)


def timer_cost(events: Sequence[Any]) -> tuple[int, int] | None:
    """The baseline's (workflow tasks, activities) from its last timer's firing on (None: no timer fired)."""
    fired = [_at(e) for e in events if e.event_type == EventType.EVENT_TYPE_TIMER_FIRED]
    if not fired:
        return None
    start = fired[-1]
    return (
        sum(1 for e in events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED and _at(e) >= start),
        sum(1 for e in events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED and _at(e) >= start),
    )
