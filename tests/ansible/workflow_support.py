"""A one-activity workflow for the real-worker test. Its own module: the workflow sandbox re-imports it."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError

with workflow.unsafe.imports_passed_through():
    from warroom.contracts.ansible import PlaybookRequest, PlaybookResult


@workflow.defn
class RunPlaybook:
    """Runs one playbook the way the Resolve phase would, and says how it ended."""

    @workflow.run
    async def run(self, req: PlaybookRequest) -> str:
        try:
            await workflow.execute_activity(
                "ansible_run_playbook",
                req,
                result_type=PlaybookResult,
                start_to_close_timeout=timedelta(minutes=2),
                heartbeat_timeout=timedelta(seconds=2),
                cancellation_type=workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
                retry_policy=RetryPolicy(maximum_attempts=3, initial_interval=timedelta(milliseconds=100)),
            )
        except ActivityError as err:
            if isinstance(err.cause, CancelledError):
                return "cancelled"
            if isinstance(err.cause, ApplicationError):
                return f"failed:{err.cause.type}:{err.retry_state.name if err.retry_state else None}"
            raise
        return "successful"
