"""The one way workflows call activities: through their contracts, typed end to end.

    reading = await call(READ_ERROR_RATIO, ErrorRatioRequest(service=...), summary="error rate")

The activity's name, result type, timeouts and retry policy come from the contract
(`warroom.contracts`); a caller adds only the summary the UI shows and, where the runbook decides
how long the activity may take (rollout status), its start-to-close timeout.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from warroom.contracts.base import ActivityContract, Req, Res


async def call(
    contract: ActivityContract[Req, Res], request: Req, *, summary: str, start_to_close: timedelta | None = None
) -> Res:
    """Run the activity and return its response; raises ActivityError once its retries are spent."""
    result: Res = await workflow.execute_activity(
        contract.name,
        request,
        result_type=contract.response,
        start_to_close_timeout=start_to_close or contract.start_to_close,
        heartbeat_timeout=contract.heartbeat,
        retry_policy=contract.retry,
        summary=summary,
    )
    return result
