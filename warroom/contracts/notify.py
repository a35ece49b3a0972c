"""The notify activity's contract: render a template and deliver it on one channel.

Its request and response (`Notification`, `Delivery`) live in `warroom.models`, beside the
channel names they use, because the built-in status page and the channel adapters take them too.
Failure types: `TemplateError` (non-retryable), the channel adapters' `Channel*` errors
(`ChannelUnavailable` and `ChannelRateLimited` retryable, with the server's delay).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio.common import RetryPolicy

from warroom.contracts.base import ActivityContract, AnyContract
from warroom.models import Delivery, Notification

NOTIFY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    maximum_attempts=8,
)
"""A message is worth a few minutes of trying; a delivery that never arrives is reported, not fatal."""

NOTIFY = ActivityContract("notify", Notification, Delivery, timedelta(seconds=60), NOTIFY_RETRY)

ALL: tuple[AnyContract, ...] = (NOTIFY,)
