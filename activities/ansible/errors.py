"""The Ansible activities' errors: retry meaning in the type; the partial result rides along as details."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from warroom.contracts.ansible import PlaybookResult
from warroom.contracts.errors import ActivityFailure


class PlaybookError(ActivityFailure):
    """A playbook run that did not succeed; `details()` is its partial `PlaybookResult`, if any."""

    type = "AnsibleError"
    retryable = True

    def __init__(self, message: str, result: PlaybookResult | None = None) -> None:
        super().__init__(message)
        self.result = result

    def details(self) -> Sequence[Any]:
        return [self.result.model_dump(mode="json")] if self.result else []


class PlaybookInvalid(PlaybookError):
    """The request or the playbook is wrong; running it again changes nothing."""

    type, retryable = "PlaybookInvalid", False


class TaskFailed(PlaybookError):
    """A task failed on a host that answered."""

    type, retryable = "TaskFailed", False


class HostUnreachable(PlaybookError):
    """The target did not answer; it may later."""

    type, retryable = "HostUnreachable", True


class PlaybookTimeout(PlaybookError):
    """The run took longer than its timeout and was stopped."""

    type, retryable = "Timeout", True


class AnsibleError(PlaybookError):
    """ansible-playbook is missing or crashed."""


def describe(exc: ValidationError) -> str:
    """Field and reason only: the refused value itself (maybe 10 KB, maybe hostile) is not repeated.
    A refused dict key *is* the field, so it is shown cut to 40 characters, control characters masked."""
    return "; ".join(
        f"{'.'.join(_loc_part(p) for p in e['loc']) or 'value'}: {e['msg']}"
        for e in exc.errors(include_input=False, include_url=False)
    )[:1000]


def _loc_part(part: object) -> str:
    text = re.sub(r"[\x00-\x1f\x7f]", "?", str(part))
    return text if len(text) <= 40 else text[:37] + "..."
