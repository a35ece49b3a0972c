"""The notify activity's contract: render a template and deliver it on one channel.

Its request and response (`Notification`, `Delivery`) live in `warroom.models`, beside the
channel names they use, because the built-in status page and the channel adapters take them too.
Failure types: `TemplateError` (non-retryable), the channel adapters' `Channel*` errors
(`ChannelUnavailable` and `ChannelRateLimited` retryable, with the server's delay).
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field
from temporalio.common import RetryPolicy

from warroom.contracts.base import ActivityContract, AnyContract
from warroom.models import Delivery, Notification
from warroom.policy.deadline_report import DeadlineReport, MessageOutcome

NOTIFY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    maximum_attempts=8,
)
"""A message is worth a few minutes of trying; a delivery that never arrives is reported, not fatal."""

NOTIFY = ActivityContract("notify", Notification, Delivery, timedelta(seconds=60), NOTIFY_RETRY)


class NotifyBatch(BaseModel):
    """Several messages in one activity (a fired deadline's page and stuck line, the deadlines due at
    one instant), then the report of the deadlines they belong to, signalled to `report_to` (the
    incident's workflow id) as `phase_events`, so the phase spends no workflow task reporting."""

    model_config = ConfigDict(extra="forbid")

    notifications: list[Notification] = Field(min_length=1)
    reports: list[DeadlineReport] = Field(default_factory=list)
    report_to: str | None = None


class BatchDelivered(BaseModel):
    """Each message's outcome, by position; `reported`: the activity signalled the report. It does
    not when a message failed but may still go out on retry (the workflow sends those again with
    `notify`) or the signal failed: the workflow then reports itself."""

    model_config = ConfigDict(extra="forbid")

    outcomes: list[MessageOutcome]
    reported: bool = False
    incident_closed: bool = False
    """The incident (`report_to`) is no longer running, so nothing was sent: a phase left behind by
    an incident terminated by hand (phases outlive their incident since continue-as-new) ends."""


NOTIFY_BATCH = ActivityContract("notify_batch", NotifyBatch, BatchDelivered, timedelta(seconds=60), NOTIFY_RETRY)
"""Each message is tried once (a failure comes back in its outcome, not as the activity's failure,
and so does a report that could not be signalled): the activity is retried whole only when it did
not finish (a worker lost, a timeout), as a `notify` would be."""

ALL: tuple[AnyContract, ...] = (NOTIFY, NOTIFY_BATCH)
