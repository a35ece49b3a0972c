"""How a backtest answers each activity from the recording: the recorded result of the call with
the same (workflow, match key), re-timed to the backtest's clock; a reading only by one taken at
about the instant asked; a slow call as late as it came; an unrecorded one never guessed.

`warroom.backtest.replay` drives the run; this is the one dynamic activity's logic, kept apart
because it decides what the backtest may claim the original saw.
"""

from __future__ import annotations

import re
import time
from collections import deque
from datetime import datetime, timedelta
from typing import Any

from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from warroom.backtest.models import Divergence, RecordedActivity, Recording
from warroom.backtest.recording import NOTIFY_BATCH, label, match_key, waited
from warroom.contracts.phases import PHASE_STATUS, PhaseStatus

NOT_SENT = "backtest: not sent"
_EXPECTED = ApplicationErrorCategory.BENIGN
"""A replayed failure or an unrecorded call is the backtest working: the SDK logs it at debug, not
as a warning with a traceback per call."""

_ISO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


def shifted(value: Any, delta: timedelta) -> Any:
    """`value` (JSON) with every ISO date-time moved by `delta`. The test server's clock starts now, not
    when the incident began, so the recorded times (a deploy's, an alert's) move with it: a rule that
    asks "deployed within 30 minutes?" then sees what it saw."""
    if isinstance(value, str) and _ISO_TIME.match(value):
        moment = datetime.fromisoformat(value) + delta
        text = moment.isoformat()
        return text.replace("+00:00", "Z") if value.endswith("Z") else text
    if isinstance(value, dict):
        return {k: shifted(v, delta) for k, v in value.items()}
    if isinstance(value, list):
        return [shifted(v, delta) for v in value]
    return value


READINGS = frozenset({"read_error_ratio", "check_clean_window", "read_diagnosis_metrics", "metrics_promql_check"})
"""Activities that read the world at an instant: answered only by a reading taken then."""
READING_SLACK = 2.0
"""Seconds a reading may be from the instant asked (more when the original waited on activities before it,
and later by the real time the run has taken: see `Answers.drift`)."""
SLOW_SECONDS = 0.5
"""A recorded activity that took at least this long is answered as late (see `Answers.answer`)."""


def _times(recorded: Any, asked: Any, found: dict[datetime, str]) -> None:
    """Pair each date-time of the recorded call's input with the one at the same place in the call now."""
    if isinstance(recorded, str) and isinstance(asked, str) and _ISO_TIME.match(recorded) and _ISO_TIME.match(asked):
        found[datetime.fromisoformat(recorded)] = asked
    elif isinstance(recorded, dict) and isinstance(asked, dict):
        for key in recorded.keys() & asked.keys():
            _times(recorded[key], asked[key], found)
    elif isinstance(recorded, list) and isinstance(asked, list):
        for old, new in zip(recorded, asked, strict=False):
            _times(old, new, found)


def retimed(result: Any, recorded_input: Any, asked: Any, delta: timedelta) -> Any:
    """The recorded result for the call made now: a time it echoes from its input ("clean since the
    mitigation at ...") becomes the time this call gave; any other time moves by `delta`."""
    echoes: dict[datetime, str] = {}
    _times(recorded_input, asked, echoes)

    def walk(value: Any) -> Any:
        if isinstance(value, str) and _ISO_TIME.match(value):
            moment = datetime.fromisoformat(value)
            return echoes[moment] if moment in echoes else shifted(value, delta)
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    return walk(result)


class Answers:
    """The recorded activities of one run, as queues by (workflow label, match key), and what was
    asked of it that it could not answer."""

    def __init__(self, recording: Recording) -> None:
        self.incident_id = recording.incident_id
        self.queues: dict[tuple[str, str], deque[RecordedActivity]] = {}
        for recorded in recording.activities:
            self.queues.setdefault((recorded.workflow, recorded.key), deque()).append(recorded)
        self.busy = waited(recording.activities)
        self.started_at: datetime | None = None
        self.delta = timedelta(0)
        """How far the backtest's clock is from the original's: recorded times move by it."""
        self.divergences: list[Divergence] = []
        self._real_start = time.monotonic()

    def drift(self) -> float:
        """How far the test server's clock may have run ahead of the recording: it moves with real
        time whenever it is not skipping (while a workflow task or an activity is in flight), so on a
        loaded machine a reading is asked later than it was taken, by up to the real time spent."""
        return time.monotonic() - self._real_start

    def offset(self, at: datetime) -> float:
        return (at - self.started_at).total_seconds() if self.started_at else 0.0

    def answer(
        self,
        activity_type: str,
        workflow_id: str,
        body: Any,
        scheduled: datetime,
        attempt: int = 1,
        activity_id: str | None = None,
    ) -> Any:
        if activity_type == NOTIFY_BATCH:
            return self.answer_batch(workflow_id, body, scheduled)
        where, key = label(workflow_id), match_key(activity_type, body)
        found = self.queues.get((where, key))
        queue: deque[RecordedActivity] | None = None
        if found:
            # The recorded call nearest in time answers: a reading polled on a cadence is answered
            # with the reading taken then, whatever order the polls come in.
            at = self.offset(scheduled)
            # Calls scheduled together with the same key (two deploy reads) are told apart by activity id:
            # the order they reach this worker in is the server's, not the workflow's.
            nearest = min(
                range(len(found)),
                key=lambda i: (round(abs(found[i].offset - at), 2), found[i].activity_id != activity_id),
            )
            found.rotate(-nearest)
            taken = found[0].offset
            # A reading at another instant was never taken: not recorded, never guessed.
            earliest, latest = taken - READING_SLACK - self.busy(taken), taken + READING_SLACK + self.drift()
            if activity_type not in READINGS or earliest <= at <= latest:
                queue = found
        if queue and attempt == 1 and queue[0].duration >= SLOW_SECONDS:
            # The original waited this long for its answer. The test server skips no time while an
            # activity runs, but it does skip a retry's backoff: the answer comes on the next attempt,
            # as late as it came then, so the timers racing it fire as they did.
            raise ApplicationError(
                f"backtest: answered after {queue[0].duration:.1f}s, as recorded",
                type="RecordedDuration",
                next_retry_delay=timedelta(seconds=queue[0].duration),
                category=_EXPECTED,
            )
        if queue:
            recorded = queue.popleft()
            if recorded.failure is not None:
                failure = recorded.failure
                raise ApplicationError(
                    failure.message, type=failure.type or "RecordedFailure", non_retryable=True, category=_EXPECTED
                )
            return retimed(recorded.result, recorded.input, body, self.delta)
        if activity_type == "notify" and isinstance(body, dict):
            return {"channel": body.get("channel"), "destination": NOT_SENT, "text": "", "delivered_at": scheduled}
        if activity_type == PHASE_STATUS.name:
            # A continued run's probe of its phase, at a moment the recording never asked: the phase
            # runs here, on the backtest's server, and nobody terminates it by hand.
            return PhaseStatus(running=True, status="RUNNING").model_dump()
        self.divergences.append(
            Divergence(
                incident_id=self.incident_id,
                offset=self.offset(scheduled),
                kind="not_recorded",
                detail=f"{where}: {activity_type} was never recorded ({key})",
            )
        )
        raise ApplicationError(
            f"backtest: {activity_type} was never recorded ({key})",
            type="NotRecorded",
            non_retryable=True,
            category=_EXPECTED,
        )

    def answer_batch(self, workflow_id: str, body: Any, scheduled: datetime) -> Any:
        """Each message answered as its `notify` (recorded, or not sent); the report is left to the
        workflow (`reported` false): nothing here signals the incident."""
        outcomes: list[dict[str, Any]] = []
        for message in body.get("notifications", []) if isinstance(body, dict) else []:
            try:  # as a later attempt: a recorded duration would hold the whole batch
                outcomes.append({"delivery": self.answer("notify", workflow_id, message, scheduled, attempt=2)})
            except ApplicationError as err:
                outcomes.append({"error": err.message, "retryable": False})
        return {"outcomes": outcomes, "reported": False}
