"""Who PagerDuty or Opsgenie has on call, for schedules that live there.

warroom does not fight the tool that owns the schedule: it reads the on-call at the instant a
page fires, to name the person in the channel and the timeline, and the page itself goes through
that tool (PagerDuty's Events API, as before). The person is matched by the roster's
`pagerduty_id` / `opsgenie_id` contact, else by e-mail.

    PagerDuty   GET {base}/oncalls?schedule_ids[]=ID&since=AT&until=AT   (Authorization: Token token=…)
    Opsgenie    GET {base}/v2/schedules/ID/on-calls?scheduleIdentifierType=id&flat=true&date=AT
                                                                        (Authorization: GenieKey …)

Failures: `OncallSourceUnavailable` (retryable: unreachable, 5xx, 429 with Retry-After);
`NotConfigured` (no token for that vendor on this worker).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from warroom.oncall.models import PersonEntry, Schedule, Shift


class VendorOnCall(Protocol):
    async def shift_at(self, schedule: Schedule, at: datetime, people: Sequence[PersonEntry]) -> Shift | None:
        """The shift covering `at` (layer 'pagerduty' or 'opsgenie'); None when nobody is on call
        or the person is not in the roster."""
        ...
