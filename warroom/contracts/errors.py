"""`ActivityFailure`: the one root of every activity's typed failures, and the boundary that converts them.

Each family (Kubernetes, Ansible, metrics, channels, templates) derives its errors from it; a
failure's class says its `type` (the ApplicationError type workflows branch on — a wire value)
and whether asking again, unchanged, can succeed. `boundary()` is the one place they become
Temporal failures, with `non_retryable` and the server's retry delay, without their cause chain
(which may hold a response body, a URL or a refused value).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from typing import Any, ClassVar

from temporalio.exceptions import ApplicationError


class ActivityFailure(Exception):
    """A failure an activity reports on purpose. `retryable`: can the same request succeed later?"""

    type: ClassVar[str] = "ActivityFailure"
    retryable: ClassVar[bool] = False

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after

    def details(self) -> Sequence[Any]:
        """What the failure carries besides its message (e.g. a partial result); JSON-serialisable."""
        return ()

    def to_application_error(self) -> ApplicationError:
        delay = timedelta(seconds=self.retry_after) if self.retryable and self.retry_after else None
        return ApplicationError(
            str(self), *self.details(), type=self.type, non_retryable=not self.retryable, next_retry_delay=delay
        )


class NotConfigured(ActivityFailure):
    """The integration is not set up on this worker (no Prometheus URL, no kubeconfig)."""

    type = "NotConfigured"


class PreviewStale(ActivityFailure):
    """The world changed since the step's preview (another rollout, a new revision): approve it afresh."""

    type = "PreviewStale"


class StepRefused(ActivityFailure):
    """The step is not one this worker runs (an unknown playbook, a URL outside the allow-list)."""

    type = "StepRefused"


class OncallSourceUnavailable(ActivityFailure):
    """PagerDuty or Opsgenie could not say who is on call (unreachable, 5xx, rate-limited): ask again."""

    type = "OncallSourceUnavailable"
    retryable = True


@contextmanager
def boundary() -> Iterator[None]:
    """Run an activity's body: an `ActivityFailure` leaves as the Temporal failure it describes."""
    try:
        yield
    except ActivityFailure as exc:
        raise exc.to_application_error() from None
