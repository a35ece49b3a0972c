"""The Kubernetes activities' errors: the retry meaning lives in the type (kopf's Permanent/Temporary split).

Every one is an `ActivityFailure`; `boundary()` turns it into the `ApplicationError` whose `type`
callers branch on (see `warroom.contracts.kubernetes`).
"""

from __future__ import annotations

import json

from kubernetes.client.exceptions import ApiException

from warroom.contracts.errors import ActivityFailure
from warroom.policy import rollout as policy


class KubeError(ActivityFailure):
    """Base of the gateway's errors. `retryable` says whether asking again, unchanged, can succeed
    (a transient server state) or not (the request or the cluster's state must change first)."""

    type = "KubeError"


class KubeInvalidName(KubeError):
    """A name or label in the request is not valid Kubernetes syntax (checked before any request)."""

    type = "InvalidName"


class KubeInvalidRequest(KubeError):
    """A parameter is out of range (a bad log pattern, negative replicas...)."""

    type = "InvalidRequest"


class KubeNotFound(KubeError):
    """404: the namespace, Deployment or pod does not exist."""

    type = "NotFound"


class KubeInvalid(KubeError):
    """400/422: the API server rejected the request as malformed."""

    type = "Invalid"


class KubeForbidden(KubeError):
    """401/403: the credentials do not allow it; a retry will not either."""

    type = "Forbidden"


class KubePaused(KubeError):
    """The Deployment is paused: kubectl refuses to roll it back, so does warroom."""

    type = "Paused"


class KubeNoHistory(KubeError):
    """No earlier revision to roll back to."""

    type = "NoHistory"


class KubeRevisionNotFound(KubeError):
    """The requested revision (or the ReplicaSet an earlier attempt chose) is gone."""

    type = "RevisionNotFound"


class KubeRevisionChanged(KubeError):
    """Another rollout happened since the decision: decide again."""

    type = "RevisionChanged"


class KubeContraindicated(KubeError):
    """Rolling back would run code older than an applied DB migration."""

    type = "Contraindicated"


class KubeConflict(KubeError):
    """409: the object changed under the write; reading again and retrying can succeed."""

    type = "Conflict"
    retryable = True


class KubeUnavailable(KubeError):
    """5xx, 429 or no connection: the API server may answer later."""

    type = "Unavailable"
    retryable = True


POLICY_ERRORS: dict[type[policy.RolloutPolicyError], type[KubeError]] = {
    policy.DeploymentPaused: KubePaused,
    policy.NoRolloutHistory: KubeNoHistory,
    policy.RevisionNotFound: KubeRevisionNotFound,
}
"""The rollout policy's refusals as gateway errors; any other policy error is an InvalidRequest."""


def from_api_exception(exc: ApiException) -> KubeError:
    message = exc.reason or "error"
    try:
        body = json.loads(exc.body or "")
        message = body.get("message") or message
    except (TypeError, ValueError):
        pass
    status = exc.status or 0
    if status == 404:
        return KubeNotFound(message)
    if status in (401, 403):
        return KubeForbidden(message)
    if status == 409:
        return KubeConflict(message)
    if status == 429 or status >= 500:
        retry_after = (exc.headers or {}).get("Retry-After") if exc.headers else None
        return KubeUnavailable(
            f"{status}: {message}", float(retry_after) if retry_after and retry_after.isdigit() else None
        )
    return KubeInvalid(f"{status}: {message}")
