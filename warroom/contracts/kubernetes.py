"""The Kubernetes activities' contracts: pod health, Warning events, logs, rollouts, rollback, scale,
resource usage (`kubectl top`, node allocation).

Request fields are plain strings on purpose: a malformed name would otherwise fail decoding (or
the workflow task, retried forever), whereas the activity refuses it as a non-retryable
`InvalidName` before any URL path or selector is built. Failure types callers branch on:

    NotFound, InvalidName, InvalidRequest, Invalid, Forbidden,      non-retryable
    Paused, NoHistory, RevisionNotFound, RevisionChanged,           non-retryable
    Contraindicated                                                 non-retryable
    Unavailable (5xx, 429, connection), Conflict                    retryable
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from warroom.contracts.base import CHECK_RETRY, READ_RETRY, WRITE_RETRY, ActivityContract, AnyContract
from warroom.models import DeploymentTarget
from warroom.policy.rollout import RevisionInfo


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PodHealthRequest(_Model):
    """Pods of a Deployment (its selector), or matching `labels`, or (neither) all in the namespace."""

    namespace: str
    deployment: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    restart_threshold: int = Field(1, description="this many restarts of a container count as a problem")


class ContainerHealth(_Model):
    name: str
    image: str = ""
    ready: bool = False
    restart_count: int = 0
    state: Literal["running", "waiting", "terminated", "unknown"] = "unknown"
    reason: str | None = Field(None, description="waiting/terminated reason, e.g. CrashLoopBackOff")
    message: str | None = None
    last_terminated_reason: str | None = Field(None, description="e.g. OOMKilled")
    last_exit_code: int | None = None
    last_finished_at: datetime | None = None


class PodHealth(_Model):
    name: str
    phase: str = ""
    status: str = Field("", description="kubectl's STATUS column: Running, CrashLoopBackOff, ...")
    ready: bool = False
    ready_containers: str = "0/0"
    restarts: int = 0
    node: str | None = None
    created_at: datetime | None = None
    containers: list[ContainerHealth] = Field(default_factory=list)
    problems: list[str] = Field(
        default_factory=list,
        description="NotRunning, NotReady, Restarts, CrashLoopBackOff, "
        "ImagePullBackOff, ErrImagePull, OOMKilled or another container reason",
    )

    @property
    def healthy(self) -> bool:
        return not self.problems


class PodHealthReport(_Model):
    namespace: str
    selector: str
    total: int
    unhealthy: list[str] = Field(default_factory=list, description="names of pods with any problem")
    findings: dict[str, int] = Field(default_factory=dict, description="problem → number of pods showing it")
    pods: list[PodHealth] = Field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return not self.unhealthy


EventType = Literal["Warning", "Normal"]


def _warnings_only() -> list[EventType]:
    return ["Warning"]


class EventsRequest(_Model):
    """Events of a Deployment and everything it owns, or of one object, or of the namespace."""

    namespace: str
    deployment: str | None = None
    kind: str | None = None
    name: str | None = None
    types: list[EventType] = Field(default_factory=_warnings_only)
    limit: int = Field(20, description="the most recent N, like `--sort-by=.lastTimestamp | tail -N`")
    include_nodes: bool = Field(
        False,
        description="with `deployment`: also the events of the nodes its pods run on (OOMKilling, "
        "SystemOOM, EvictionThresholdMet), which the kubelet and node-problem-detector record in `default`",
    )


class EventSummary(_Model):
    type: str
    reason: str
    object: str = Field(..., description="kind/name, as kubectl prints it")
    message: str
    count: int = 1
    first_seen: datetime | None = None
    last_seen: datetime | None = None


class EventsReport(_Model):
    namespace: str
    total: int = Field(..., description="matching events before the limit")
    events: list[EventSummary] = Field(default_factory=list, description="oldest first")


class LogsRequest(_Model):
    """One pod, or the pods of a Deployment or label set (unhealthy pods first, at most `max_pods`).

    `previous`: None reads the running container and, where a container restarted, the previous one
    too (the seed's `kubectl logs --previous`); True only the previous; False only the current.
    """

    namespace: str
    pod: str | None = None
    deployment: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    container: str | None = None
    previous: bool | None = None
    tail_lines: int = 500
    since_seconds: int | None = None
    pattern: str = Field("error|exception|fatal", description="case-insensitive, as the seed's grep -i")
    max_pods: int = 5
    max_matches: int = 50


class LogStream(_Model):
    pod: str
    container: str
    previous: bool
    lines: int = 0
    matches: list[str] = Field(default_factory=list)
    truncated: bool = False
    unavailable: str | None = Field(None, description="why there is nothing to read (not started, no previous)")


class LogsReport(_Model):
    namespace: str
    pattern: str
    total_matches: int = 0
    streams: list[LogStream] = Field(default_factory=list)


class RolloutStatusRequest(_Model):
    namespace: str
    deployment: str
    revision: int = Field(0, description="fail unless this revision is the one rolling out (0: any)")
    wait: bool = True
    timeout_seconds: float = 300.0
    poll_seconds: float = 2.0


class RolloutStatusReport(_Model):
    namespace: str
    deployment: str
    done: bool
    outcome: Literal["complete", "progressing", "failed", "timed_out"]
    message: str
    revision: int | None = None
    replicas: int = 0
    updated: int = 0
    available: int = 0
    polls: int = 1


class RolloutHistory(_Model):
    namespace: str
    deployment: str
    current_revision: int | None = None
    revisions: list[RevisionInfo] = Field(default_factory=list)


class RollbackRequest(_Model):
    """`kubectl rollout undo` [--to-revision=N] [--dry-run=server].

    `expected_revision`: the revision the decision was made on; if another rollout happened since,
    refuse (RevisionChanged) rather than undo something nobody looked at.
    """

    namespace: str
    deployment: str
    to_revision: int = 0
    expected_revision: int | None = None
    dry_run: bool = False
    allow_contraindicated: bool = Field(False, description="roll back even past an applied DB migration")
    idempotency_key: str | None = Field(
        None,
        description="names the decision (incident/step); written with the patch so any retry recognises its own write",
    )


class RollbackResult(_Model):
    namespace: str
    deployment: str
    outcome: Literal["rolled_back", "skipped", "dry_run"]
    message: str = Field(..., description="kubectl's line, e.g. 'deployment.apps/order-api rolled back'")
    from_revision: int | None = None
    target_revision: int
    target_replica_set: str
    images_before: dict[str, str] = Field(default_factory=dict)
    images_after: dict[str, str] = Field(default_factory=dict)
    resumed_attempt: bool = Field(False, description="a retry that reused the target an earlier attempt chose")


class ScaleRequest(_Model):
    namespace: str
    deployment: str
    replicas: int
    dry_run: bool = False


class ScaleResult(_Model):
    namespace: str
    deployment: str
    previous_replicas: int
    replicas: int
    message: str


class RecentDeploy(_Model):
    """What rolled out last, when, and what came before it (for the rollback rule)."""

    namespace: str
    deployment: str
    current_revision: int | None = None
    current_images: dict[str, str] = Field(default_factory=dict)
    current_change_cause: str | None = None
    deployed_at: datetime | None = None
    deployed_at_source: Literal["replicaset-created", "progressing-condition", "unknown"] = "unknown"
    previous_revision: int | None = None
    previous_images: dict[str, str] = Field(default_factory=dict)
    previous_change_cause: str | None = None
    rollout_done: bool = False
    rollout_message: str = ""
    paused: bool = False


class MigrationCheckRequest(_Model):
    namespace: str
    deployment: str
    to_revision: int = 0
    annotation: str | None = Field(None, description="default: the gateway's (warroom.io/db-migration-applied)")


class MigrationCheck(_Model):
    namespace: str
    deployment: str
    target_revision: int | None = None
    contraindicated: bool
    contraindications: list[str] = Field(default_factory=list, description="runbook names: db_migration_applied")
    reasons: list[str] = Field(default_factory=list)
    annotation: str


class ResourceUsageRequest(_Model):
    """`kubectl top pods` for a Deployment's pods (or `labels`), and `kubectl describe node` of the
    nodes they run on."""

    namespace: str
    deployment: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)


class ContainerUsage(_Model):
    """One container's usage in the metrics API's last window, against its own limits."""

    pod: str
    container: str
    node: str | None = None
    cpu_millicores: float
    memory_bytes: int
    cpu_limit_millicores: float | None = None
    memory_limit_bytes: int | None = None
    cpu_percent_of_limit: float | None = Field(None, description="None without a CPU limit")
    memory_percent_of_limit: float | None = Field(None, description="None without a memory limit")


class NodeAllocation(_Model):
    """`kubectl describe node`: allocatable, "Allocated resources" (requests of its non-terminated
    pods over allocatable) and the kubelet's conditions."""

    name: str
    ready: bool = False
    conditions: dict[str, str] = Field(default_factory=dict, description="type → status: MemoryPressure → False")
    pressure: list[str] = Field(default_factory=list, description="MemoryPressure, DiskPressure, PIDPressure when True")
    pods: int = 0
    allocatable_cpu_millicores: float = 0.0
    allocatable_memory_bytes: int = 0
    cpu_requests_millicores: float = 0.0
    memory_requests_bytes: int = 0
    cpu_requests_percent: float | None = None
    memory_requests_percent: float | None = None


class ResourceUsageReport(_Model):
    namespace: str
    selector: str
    metrics_available: bool = Field(..., description="whether the metrics API (metrics-server) answered")
    unavailable: list[str] = Field(default_factory=list, description="what could not be read, and why")
    containers: list[ContainerUsage] = Field(default_factory=list)
    nodes: list[NodeAllocation] = Field(default_factory=list)


# --- The activities -----------------------------------------------------------------------------

_CHECK = timedelta(minutes=3)
_READ = timedelta(seconds=30)

POD_HEALTH = ActivityContract("kube_pod_health", PodHealthRequest, PodHealthReport, _CHECK, CHECK_RETRY)
EVENTS = ActivityContract("kube_events", EventsRequest, EventsReport, _CHECK, CHECK_RETRY)
LOGS = ActivityContract("kube_logs", LogsRequest, LogsReport, _CHECK, CHECK_RETRY)
ROLLOUT_STATUS = ActivityContract(
    "kube_rollout_status",
    RolloutStatusRequest,
    RolloutStatusReport,
    # The request's own wait (default 300 s) plus a minute; callers that set the wait set this too.
    timedelta(minutes=6),
    READ_RETRY,
    heartbeat=timedelta(seconds=30),  # each poll heartbeats, so cancellation and a stuck rollout are seen
)
ROLLOUT_HISTORY = ActivityContract("kube_rollout_history", DeploymentTarget, RolloutHistory, _READ, READ_RETRY)
RECENT_DEPLOY = ActivityContract("kube_recent_deploy", DeploymentTarget, RecentDeploy, _READ, READ_RETRY)
MIGRATION_CHECK = ActivityContract("kube_migration_check", MigrationCheckRequest, MigrationCheck, _READ, READ_RETRY)
ROLLBACK = ActivityContract(
    "kube_rollback",
    RollbackRequest,
    RollbackResult,
    timedelta(minutes=2),
    WRITE_RETRY,  # safe: a retry restores the target its first attempt heartbeated, or finds its own key
    heartbeat=timedelta(seconds=30),
)
SCALE = ActivityContract("kube_scale", ScaleRequest, ScaleResult, timedelta(minutes=1), WRITE_RETRY)
# A few reads beside the diagnosis' other checks: a worker that dies mid-call is noticed after 15 s
# (as a playbook's missed heartbeat is), not after a check's 3 minutes that a rollback would overtake.
RESOURCE_USAGE = ActivityContract(
    "kube_resource_usage", ResourceUsageRequest, ResourceUsageReport, timedelta(seconds=15), CHECK_RETRY
)

ALL: tuple[AnyContract, ...] = (
    POD_HEALTH,
    EVENTS,
    LOGS,
    ROLLOUT_STATUS,
    ROLLOUT_HISTORY,
    RECENT_DEPLOY,
    MIGRATION_CHECK,
    ROLLBACK,
    SCALE,
    RESOURCE_USAGE,
)
"""Every Kubernetes activity, in the order the worker registers them."""
