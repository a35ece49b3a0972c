"""`phase_status`: whether a phase workflow is still running, for a run that did not start it.

The client is the worker's own (`activity.client()`), so this needs no setting of its own. A phase
Temporal no longer knows (its retention passed) is as closed as one that ended.
"""

from __future__ import annotations

from temporalio import activity
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from warroom.contracts.errors import boundary
from warroom.contracts.phases import PHASE_STATUS, PhaseStatus, PhaseStatusRequest


@activity.defn(name=PHASE_STATUS.name)
async def phase_status(req: PhaseStatusRequest) -> PhaseStatus:
    """Describe the phase's latest run; any other error is retried (READ_RETRY), then left to the caller."""
    with boundary():
        try:
            described = await activity.client().get_workflow_handle(req.workflow_id).describe()
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                return PhaseStatus(running=False, status="NOT_FOUND")
            raise
        status = described.status
        return PhaseStatus(
            running=status == WorkflowExecutionStatus.RUNNING, status=status.name if status else "UNKNOWN"
        )
