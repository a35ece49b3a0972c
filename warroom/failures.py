"""A refused update reads as its reason, in the CLI and in the Temporal Web UI alike.

An update validator refuses with a non-retryable ApplicationError whose message says why and
what to do (workflows/incident.py, warroom/policy/authority.py). The SDK's DefaultFailureConverter
adds the Python stack trace of wherever it was raised, and the Web UI prints it under the reason.
For a refusal that trace is noise, so this converter leaves it out.

The converter is told nothing but the exception, so it recognises a validator's refusal by its
traceback: every validator runs inside `WorkflowInboundInterceptor.handle_update_validator`, the
SDK's interceptor hook for validators (an update *handler* runs in `handle_update_handler`). Only
non-retryable ApplicationErrors raised there lose their trace; a bug (any other exception, in a
validator or anywhere else) and every failure of a handler, an activity or a workflow keep theirs.
Validators never run on replay, so nothing in a history depends on this.
"""

from __future__ import annotations

import dataclasses
import traceback

from temporalio.api.failure.v1 import Failure
from temporalio.converter import (
    DataConverter,
    DefaultFailureConverter,
    DefaultFailureConverterWithEncodedAttributes,
    PayloadConverter,
)
from temporalio.exceptions import ApplicationError

from warroom.errors import Refused

VALIDATOR_HOOK = "handle_update_validator"
"""`temporalio.worker.WorkflowInboundInterceptor`'s method (not imported: the CLI would pay for the
whole worker package); tests/test_failures.py checks the name."""


def validator_refusal(cause: BaseException | None) -> Refused:
    """A failed update's cause (`WorkflowUpdateFailedError.cause`) as warroom's Refused: the
    validator's type and reason, for every client that sends updates."""
    if isinstance(cause, ApplicationError):
        return Refused(cause.type or "Rejected", cause.message)
    return Refused(None, str(cause))


def is_refusal(exception: BaseException) -> bool:
    """A non-retryable ApplicationError an update validator raised."""
    return (
        isinstance(exception, ApplicationError)
        and exception.non_retryable
        and exception.failure is None  # not one that came back from the server
        and any(frame.f_code.co_name == VALIDATOR_HOOK for frame, _ in traceback.walk_tb(exception.__traceback__))
    )


def _without_trace(err: ApplicationError) -> ApplicationError:
    """The same error, cause and all, minus the traceback (the converter must not alter its input)."""
    copy = ApplicationError(
        err.message,
        *err.details,
        type=err.type,
        non_retryable=err.non_retryable,
        next_retry_delay=err.next_retry_delay,
        category=err.category,
    )
    copy.__cause__, copy.__context__ = err.__cause__, err.__context__
    copy.__suppress_context__ = err.__suppress_context__
    return copy


class RefusalFailureConverter(DefaultFailureConverter):
    """DefaultFailureConverter, except that a validator's refusal carries no stack trace."""

    def to_failure(self, exception: BaseException, payload_converter: PayloadConverter, failure: Failure) -> None:
        if isinstance(exception, ApplicationError) and is_refusal(exception):
            exception = _without_trace(exception)
        super().to_failure(exception, payload_converter, failure)


class EncodedRefusalFailureConverter(RefusalFailureConverter):
    """The same, with message and stack trace in the encoded attributes (encrypted by the codec)."""

    def __init__(self) -> None:
        super().__init__(encode_common_attributes=True)


def with_refusals(converter: DataConverter) -> DataConverter:
    """`converter` with the refusal-aware failure converter, encoding attributes if it did."""
    encoded = issubclass(converter.failure_converter_class, DefaultFailureConverterWithEncodedAttributes)
    return dataclasses.replace(
        converter, failure_converter_class=EncodedRefusalFailureConverter if encoded else RefusalFailureConverter
    )
