"""The step catalog's activities: preview a step, then apply it, for each kind that touches the world.

Every step is previewed before anyone is asked to approve it and applied only after: a Kubernetes
step as a server-side dry run (`dryRun=All`) that shows the exact patch and the fields it changes, a
playbook step as `ansible-playbook --check --diff`, an HTTP step as the rendered request. The
preview carries `observed`, a fingerprint of the world it was made on; the apply request sends it
back as `expected`, and the apply refuses with a non-retryable `PreviewStale` when the world has
moved on (another rollout, a new revision), so nobody's approval covers a change they did not see.

Applies take an `idempotency_key` (incident/step): a retry after a worker died mid-step recognises
its own write and reports `already_applied` instead of acting twice.

Parameters arrive typed and validated by the catalog (`warroom.catalog`); the activities validate
again (names as DNS labels, numbers in bounds) before any URL path, playbook or request is built.

Failure types callers branch on, besides each family's own (`contracts.kubernetes`, `contracts.ansible`):

    PreviewStale                         non-retryable: the world changed since the preview
    StepRefused                          non-retryable: the request is not one this worker runs
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from warroom.catalog import KubeAction
from warroom.contracts.base import READ_RETRY, WRITE_RETRY, ActivityContract, AnyContract
from warroom.policy.http_request import HttpMethod as HttpMethod
from warroom.policy.http_request import HttpStepRequest as HttpStepRequest
from warroom.step_models import OUTPUT_MAX as OUTPUT_MAX
from warroom.step_models import PREVIEW_TEXT_MAX as PREVIEW_TEXT_MAX
from warroom.step_models import FieldChange as FieldChange
from warroom.step_models import StepPreview as StepPreview


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StepOutcome(_Model):
    """What applying the step did."""

    outcome: Literal["applied", "already_applied", "no_change"]
    summary: Annotated[str, StringConstraints(max_length=300)]
    output: Annotated[str, StringConstraints(max_length=OUTPUT_MAX)] = Field("", description="bounded output summary")
    details: dict[str, str] = Field(default_factory=dict, max_length=20)
    api_calls: int | None = Field(None, description="requests the apply made (Kubernetes, HTTP), for the benchmark")


# --- Kubernetes ---------------------------------------------------------------------------------

KubeStepAction = KubeAction


class KubeStepRequest(_Model):
    """One Kubernetes step on one Deployment, with kubectl's semantics for each action:

    rollback        `kubectl rollout undo [--to-revision=N]`
    restart         `kubectl rollout restart`: the template annotation kubectl.kubernetes.io/restartedAt
    scale           `kubectl scale --replicas=N` (the scale subresource)
    pause-rollout   `kubectl rollout pause`  (spec.paused = true)
    resume-rollout  `kubectl rollout resume` (spec.paused = false)
    """

    action: KubeStepAction
    namespace: str
    deployment: str
    replicas: int | None = Field(None, description="scale: the new replica count")
    to_revision: int = Field(0, description="rollback: 0 = the previous revision")
    restarted_at: str | None = Field(
        None, description="restart: the annotation's RFC 3339 value; the workflow's clock, so a retry writes the same"
    )
    expected: str = Field("", description="the preview's `observed`; the apply refuses (PreviewStale) if it changed")
    idempotency_key: str | None = Field(None, description="incident/step, written with the patch")
    allow_contraindicated: bool = Field(False, description="rollback: roll back even past an applied DB migration")


# --- Ansible ------------------------------------------------------------------------------------


class PlaybookStepRequest(_Model):
    """An allow-listed playbook as a step: previewed with `--check --diff`, then run for real."""

    playbook: str = Field(..., description="a name from playbooks/ without .yml")
    extravars: dict[str, Any] = Field(default_factory=dict, description="typed by the catalog, checked again here")
    target: str = "localhost"
    timeout_seconds: float | None = None
    idempotency_key: str | None = None


# --- HTTP ---------------------------------------------------------------------------------------

# `HttpMethod` and `HttpStepRequest` (the rendered request) live with the template that renders them,
# `warroom.policy.http_request`, so a workflow renders and previews an HTTP step without an activity.

# --- Verification -------------------------------------------------------------------------------


class PromqlCheckRequest(_Model):
    """After a step: does the runbook entry's PromQL query now read inside its bound? (An instant query;
    the entry's query is runbook config, never alert input.)"""

    query: Annotated[str, StringConstraints(min_length=1, max_length=2000)]
    below: float | None = Field(None, description="passes when the value is below this")
    above: float | None = Field(None, description="passes when the value is above this")


class PromqlCheckResult(_Model):
    passed: bool
    value: float | None = Field(None, description="None: the query returned no series")
    message: Annotated[str, StringConstraints(max_length=300)]


# --- The activities -----------------------------------------------------------------------------

_BEAT = timedelta(seconds=15)

KUBE_STEP_PREVIEW = ActivityContract(
    "kube_step_preview", KubeStepRequest, StepPreview, timedelta(seconds=30), READ_RETRY
)
KUBE_STEP_APPLY = ActivityContract(
    "kube_step_apply", KubeStepRequest, StepOutcome, timedelta(minutes=2), WRITE_RETRY, heartbeat=timedelta(seconds=30)
)
PLAYBOOK_STEP_PREVIEW = ActivityContract(
    "ansible_step_preview", PlaybookStepRequest, StepPreview, timedelta(minutes=10), READ_RETRY, heartbeat=_BEAT
)
PLAYBOOK_STEP_APPLY = ActivityContract(
    "ansible_step_apply", PlaybookStepRequest, StepOutcome, timedelta(minutes=10), WRITE_RETRY, heartbeat=_BEAT
)
HTTP_STEP_APPLY = ActivityContract("http_step_apply", HttpStepRequest, StepOutcome, timedelta(minutes=3), WRITE_RETRY)

PROMQL_CHECK = ActivityContract(
    "metrics_promql_check", PromqlCheckRequest, PromqlCheckResult, timedelta(seconds=30), READ_RETRY
)

KUBE: tuple[AnyContract, ...] = (KUBE_STEP_PREVIEW, KUBE_STEP_APPLY)
ANSIBLE: tuple[AnyContract, ...] = (PLAYBOOK_STEP_PREVIEW, PLAYBOOK_STEP_APPLY)
HTTP: tuple[AnyContract, ...] = (HTTP_STEP_APPLY,)
METRICS: tuple[AnyContract, ...] = (PROMQL_CHECK,)
ALL: tuple[AnyContract, ...] = KUBE + ANSIBLE + HTTP + METRICS
"""Every step activity, in the order the worker registers them."""
