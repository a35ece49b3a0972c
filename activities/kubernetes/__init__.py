"""Kubernetes activities: pod health, Warning events, logs, rollout status and history, rollback, scale,
and the step catalog's steps (steps.py: preview as a server-side dry run, apply; `KubeStepActivities`).

`KubeGateway` (gateway.py: diagnostics.py + rollout.py over client.py) does the I/O; decisions
come from `warroom.policy.rollout`; `KubeActivities` (activities.py) registers each under its
contract's name (`warroom.contracts.kubernetes`, which also holds the request and response models
and the failure types callers branch on). Errors (errors.py) carry their retry meaning in their
type and leave through `warroom.contracts.errors.boundary`.
"""

from activities.kubernetes.activities import KubeActivities
from activities.kubernetes.client import KubeSettings, TokenBucket, build_api_client
from activities.kubernetes.errors import (
    KubeConflict,
    KubeContraindicated,
    KubeError,
    KubeForbidden,
    KubeInvalid,
    KubeInvalidName,
    KubeInvalidRequest,
    KubeNoHistory,
    KubeNotFound,
    KubePaused,
    KubeRevisionChanged,
    KubeRevisionNotFound,
    KubeUnavailable,
)
from activities.kubernetes.gateway import KubeGateway
from activities.kubernetes.health import pod_health
from activities.kubernetes.steps import KubeStepActivities

__all__ = [
    "KubeActivities",
    "KubeConflict",
    "KubeContraindicated",
    "KubeError",
    "KubeForbidden",
    "KubeGateway",
    "KubeInvalid",
    "KubeInvalidName",
    "KubeInvalidRequest",
    "KubeNoHistory",
    "KubeNotFound",
    "KubePaused",
    "KubeRevisionChanged",
    "KubeRevisionNotFound",
    "KubeSettings",
    "KubeStepActivities",
    "KubeUnavailable",
    "TokenBucket",
    "build_api_client",
    "pod_health",
]
