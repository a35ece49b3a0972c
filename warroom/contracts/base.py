"""`ActivityContract`: an activity's name, types, timeouts and retry policy in one typed value.

The retry policies carry no `non_retryable_error_types`: every failure an activity raises says
itself whether a retry can help (`ActivityFailure.retryable` becomes `non_retryable`), so the
policy only says how often and how fast to try again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Generic, TypeVar

from pydantic import BaseModel
from temporalio.common import RetryPolicy

Req = TypeVar("Req", bound=BaseModel)
Res = TypeVar("Res", bound=BaseModel)


@dataclass(frozen=True)
class ActivityContract(Generic[Req, Res]):
    """One activity as workflows see it. `name` is a wire name: running incidents depend on it."""

    name: str
    request: type[Req]
    response: type[Res]
    start_to_close: timedelta
    retry: RetryPolicy
    heartbeat: timedelta | None = None


AnyContract = ActivityContract[Any, Any]
"""A contract of any types, for lists of them (the registry, the worker)."""


READ_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=20), maximum_attempts=5
)
"""Reads a decision rests on: a few more tries against a flaky server."""

WRITE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2), maximum_interval=timedelta(seconds=30), maximum_attempts=5
)
"""Writes that are safe to retry (idempotent by key or by state)."""

CHECK_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=3)
"""Diagnostic checks: a check that keeps failing is evidence too, reported rather than waited for."""
