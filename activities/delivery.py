"""A message's idempotency key, for whatever delivers it: the local log, a chat, a webhook relay.

A notify activity whose worker died after delivering (the completion lost) runs again on another
worker. The key is the activity's identity (workflow, run, activity id, and `#n` for the n-th message
of a batch): the same on every attempt, different for every scheduled message. A channel that can look
up what it sent finds the key on a retry and sends nothing again; one that cannot passes it on
(`Idempotency-Key`) so the receiver can. Outside an activity (tests, the CLI) there is no key.

A look-up reads what the channel received since the message was first scheduled (`delivery_since`),
not a fixed number of latest messages: however busy the channel was between two attempts, an earlier
attempt's message is in that window.
"""

from __future__ import annotations

import contextvars
from datetime import datetime, timedelta

from temporalio import activity

BATCH_INDEX: contextvars.ContextVar[int | None] = contextvars.ContextVar("batch_index", default=None)
"""Which message of a `notify_batch` is being delivered: each has a key of its own."""


def delivery_key() -> str | None:
    """The running message's key, unchanged across its activity's retries; None outside an activity."""
    if not activity.in_activity():
        return None
    info = activity.info()
    index = BATCH_INDEX.get()
    return f"{info.workflow_id}/{info.workflow_run_id}/{info.activity_id}" + ("" if index is None else f"#{index}")


def is_retry() -> bool:
    """Whether an earlier attempt of this activity may have delivered already (only then is a look-up worth it)."""
    return activity.in_activity() and activity.info().attempt > 1


CLOCK_SKEW = timedelta(minutes=2)
"""Margin for the Temporal server's clock against the chat's: the look-up starts this much earlier."""


def delivery_since() -> datetime | None:
    """When the running message's activity was first scheduled (less `CLOCK_SKEW`): no attempt of
    it can have delivered before. None outside an activity."""
    if not activity.in_activity():
        return None
    return activity.info().scheduled_time - CLOCK_SKEW
