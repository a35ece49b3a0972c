"""A refused update reaches its sender (CLI, Web UI) as its reason alone; bugs keep their stack trace."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.api.failure.v1 import Failure
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker, WorkflowInboundInterceptor

from tests.helpers import incident_input, running_worker
from warroom.client import DATA_CONVERTER
from warroom.codec import encrypted_converter, new_key, parse_key_ring
from warroom.enums import Role, Severity, Update
from warroom.failures import (
    VALIDATOR_HOOK,
    EncodedRefusalFailureConverter,
    RefusalFailureConverter,
    with_refusals,
)
from warroom.models import AssignRole, ProposeStep, StepDecision, UpdateResult


async def refused(client: Client, workflow_id: str, update: str, arg: object) -> ApplicationError:
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await client.get_workflow_handle(workflow_id).execute_update(update, arg, result_type=UpdateResult)
    cause = caught.value.cause
    assert isinstance(cause, ApplicationError) and cause.failure is not None
    return cause


async def test_a_refused_approval_arrives_as_its_reason_without_a_stack_trace(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    async with running_worker(dev_env.client, tmp_path) as harness:
        handle = await harness.start(
            incident_input(declared=True, declared_by="alice", severity=Severity.P2, commander="alice")
        )
        await handle.execute_update(Update.ASSIGN_ROLE, AssignRole(role=Role.OPERATIONS_LEAD, person="bob", by="alice"))
        step = await handle.execute_update(
            Update.PROPOSE_STEP,
            ProposeStep(by="bob", action="custom", target="roll back deployment/order-api by hand"),
            result_type=UpdateResult,
        )
        cause = await refused(
            dev_env.client, handle.id, "approve", StepDecision(step_id=step.step_id, by="bob", reason="looks bad")
        )
    assert cause.failure is not None
    assert cause.failure.stack_trace == ""
    assert cause.failure.message == cause.message
    assert cause.message.startswith("only the Incident Commander (alice)"), cause.message
    assert cause.non_retryable and cause.type == "NotIncidentCommander"


@workflow.defn(name="RefusalProbe")
class RefusalProbe:
    """Three ways an update fails: a refusal, a bug in a validator, a refusal by the handler."""

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: False)

    @workflow.update
    def refused(self, reason: str) -> str:
        return reason

    @refused.validator
    def _refuse(self, reason: str) -> None:
        raise ApplicationError(reason, type="Refused", non_retryable=True)

    @workflow.update
    def buggy(self, reason: str) -> str:
        return reason

    @buggy.validator
    def _bug(self, reason: str) -> None:
        raise KeyError(reason)

    @workflow.update
    def failing(self, reason: str) -> str:
        raise ApplicationError(reason, type="HandlerFailed", non_retryable=True)


async def test_only_a_validators_refusal_loses_its_stack_trace(dev_env: WorkflowEnvironment) -> None:
    queue = f"test-refusal-{uuid.uuid4().hex[:8]}"
    async with Worker(
        dev_env.client, task_queue=queue, workflows=[RefusalProbe], workflow_runner=UnsandboxedWorkflowRunner()
    ):
        handle = await dev_env.client.start_workflow(RefusalProbe.run, id=f"refusal-probe-{queue}", task_queue=queue)
        try:
            refusal = await refused(dev_env.client, handle.id, "refused", "not now")
            bug = await refused(dev_env.client, handle.id, "buggy", "s9")
            handler = await refused(dev_env.client, handle.id, "failing", "too late")
        finally:
            await handle.terminate(reason="test finished")
    assert (refusal.message, refusal.failure.stack_trace) == ("not now", "")  # type: ignore[union-attr]
    assert bug.type == "KeyError" and "_bug" in bug.failure.stack_trace  # type: ignore[union-attr]
    assert handler.type == "HandlerFailed" and "failing" in handler.failure.stack_trace  # type: ignore[union-attr]


def handle_update_validator(error: Exception) -> None:
    """Stands in for the SDK's validator hook: the converter knows a refusal by this frame."""
    raise error


def converted(converter: type[RefusalFailureConverter], error: Exception) -> Failure:
    try:
        handle_update_validator(error)
    except Exception as raised:
        failure = Failure()
        converter().to_failure(raised, DATA_CONVERTER.payload_converter, failure)
        return failure
    raise AssertionError("not raised")


def test_encrypted_failures_leave_the_trace_out_of_the_encoded_attributes_too() -> None:
    encrypted = with_refusals(encrypted_converter(DATA_CONVERTER, parse_key_ring(f"k1:{new_key()}")))
    assert encrypted.failure_converter_class is EncodedRefusalFailureConverter
    assert DATA_CONVERTER.failure_converter_class is RefusalFailureConverter
    failure = converted(EncodedRefusalFailureConverter, ApplicationError("not now", non_retryable=True))
    (attributes,) = DATA_CONVERTER.payload_converter.from_payloads([failure.encoded_attributes])
    assert attributes == {"message": "not now", "stack_trace": ""} and failure.message == "Encoded failure"
    retryable = converted(RefusalFailureConverter, ApplicationError("try again"))
    assert "handle_update_validator" in retryable.stack_trace, "a retryable error is not a refusal"


def test_the_validator_hook_is_the_sdks() -> None:
    assert callable(getattr(WorkflowInboundInterceptor, VALIDATOR_HOOK))
