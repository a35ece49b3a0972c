"""Kubernetes activities: pod health, Warning events, logs, rollout status and history, rollback, scale.

The official `kubernetes` client is synchronous, so these are threaded activities (the worker needs
`activity_executor=ThreadPoolExecutor(...)`). `KubeGateway` does the I/O and the decisions come from
`warroom.policy.rollout`, a port of kubectl's own algorithms, so a rollback by warroom and
`kubectl rollout undo` write the same thing. The gateway keeps client-go's client-side budget
(5 requests/s, bursts of 10) shared by every activity of the worker.

Names from alerts reach this module as plain strings and are checked here, before any URL path or
selector is built: a malformed request model would otherwise fail the *workflow task* (retried
forever), whereas an `InvalidName` activity failure is non-retryable and visible.

Errors leave as `ApplicationError(type=...)`; callers branch on `.type`:

    NotFound, InvalidName, InvalidRequest, Invalid, Forbidden,      non-retryable
    Paused, NoHistory, RevisionNotFound, RevisionChanged,           non-retryable
    Contraindicated                                                 non-retryable
    Unavailable (5xx, 429, connection), Conflict                    retryable
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypeVar

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from pydantic import BaseModel, ConfigDict, Field
from temporalio import activity
from temporalio.exceptions import ApplicationError

from warroom.policy import rollout as policy
from warroom.policy.rollout import DEFAULT_MIGRATION_ANNOTATION, RevisionInfo

T = TypeVar("T")
Obj = dict[str, Any]

# =============================================================================================
# Models: one in and one out per activity. Plain types only, so workflows can import them.
# =============================================================================================


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DeploymentRef(_Model):
    namespace: str
    deployment: str


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


class EventsRequest(_Model):
    """Events of a Deployment and everything it owns, or of one object, or of the namespace."""

    namespace: str
    deployment: str | None = None
    kind: str | None = None
    name: str | None = None
    types: list[Literal["Warning", "Normal"]] = Field(default_factory=lambda: ["Warning"])
    limit: int = Field(20, description="the most recent N, like `--sort-by=.lastTimestamp | tail -N`")


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


# =============================================================================================
# Errors: the retry meaning lives in the type (kopf's Permanent/Temporary split).
# =============================================================================================


class KubeError(Exception):
    """Base of the gateway's errors. `type` becomes ApplicationError.type; `retryable` says whether
    asking again, unchanged, can succeed (a transient server state) or not (the request or the
    cluster's state must change first)."""

    type = "KubeError"
    retryable = False

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after

    def to_application_error(self) -> ApplicationError:
        delay = timedelta(seconds=self.retry_after) if self.retry_after else None
        return ApplicationError(str(self), type=self.type, non_retryable=not self.retryable, next_retry_delay=delay)


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


_POLICY_ERRORS: dict[type[policy.RolloutPolicyError], type[KubeError]] = {
    policy.DeploymentPaused: KubePaused,
    policy.NoRolloutHistory: KubeNoHistory,
    policy.RevisionNotFound: KubeRevisionNotFound,
}


def _from_api_exception(exc: ApiException) -> KubeError:
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


# =============================================================================================
# Validation of names before they reach a path or a selector
# =============================================================================================

# Checked with fullmatch: `re.match` with `$` also accepts a trailing newline ("web\n").
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")
_KINDS = re.compile(r"^[A-Z][A-Za-z0-9]{0,62}$")
_ROLLBACK_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,199}$")


def _shown(value: object) -> str:
    """A refused value as the error quotes it: escaped, and cut, so a megabyte name is not the
    megabyte failure message recorded in the workflow's history."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _dns_label(value: str, what: str) -> str:
    if not isinstance(value, str) or len(value) > 63 or not _DNS_LABEL.fullmatch(value):
        raise KubeInvalidName(f"{what} {_shown(value)} is not a DNS-1123 label (a-z, 0-9, '-', at most 63)")
    return value


def _dns_subdomain(value: str, what: str) -> str:
    if not isinstance(value, str) or len(value) > 253 or not _DNS_SUBDOMAIN.fullmatch(value):
        raise KubeInvalidName(f"{what} {_shown(value)} is not a DNS-1123 subdomain (a-z, 0-9, '-', '.', at most 253)")
    return value


def _label_selector(labels: dict[str, str]) -> str:
    parts = []
    for key, value in sorted(labels.items()):
        prefix, _, name = key.rpartition("/")
        if (
            (prefix and (len(prefix) > 253 or not _DNS_SUBDOMAIN.fullmatch(prefix)))
            or len(name) > 63
            or not _LABEL_NAME.fullmatch(name)
        ):
            raise KubeInvalidName(f"label key {_shown(key)} is not a valid qualified name")
        if len(value) > 63 or not _LABEL_VALUE.fullmatch(value):
            raise KubeInvalidName(f"label value {_shown(value)} is not a valid label value")
        parts.append(f"{key}={value}")
    return ",".join(parts)


def _positive(value: float | int, what: str, upper: float) -> None:
    if not 0 < value <= upper:
        raise KubeInvalidRequest(f"{what} must be in (0, {upper}], got {value}")


# =============================================================================================
# Client-side budget: client-go's token bucket (QPS 5, burst 10)
# =============================================================================================


class TokenBucket:
    """A thread-safe token bucket; `acquire` reserves a token and sleeps until it is due, so
    concurrent callers queue up in arrival order as with golang.org/x/time/rate."""

    def __init__(
        self,
        qps: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if qps <= 0 or burst < 1:
            raise ValueError("qps must be > 0 and burst >= 1")
        self.qps, self.burst = qps, burst
        self._clock, self._sleep = clock, sleep
        self._tokens = float(burst)
        self._stamp = clock()
        self._lock = threading.Lock()

    def reserve(self) -> float:
        """Take a token; returns how long the caller must wait before using it."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.qps)
            self._stamp = now
            self._tokens -= 1
            return 0.0 if self._tokens >= 0 else -self._tokens / self.qps

    def acquire(self) -> float:
        wait = self.reserve()
        if wait > 0:
            self._sleep(wait)
        return wait


# =============================================================================================
# The gateway
# =============================================================================================


class KubeSettings(_Model):
    kubeconfig: str | None = Field(None, description="path; default: $KUBECONFIG or ~/.kube/config")
    context: str | None = None
    in_cluster: bool | None = Field(
        None, description="None: in-cluster when KUBERNETES_SERVICE_HOST is set and no kubeconfig is given"
    )
    qps: float = 5.0
    burst: int = 10
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    migration_annotation: str = DEFAULT_MIGRATION_ANNOTATION
    list_limit: int = Field(500, description="most pods/events/ReplicaSets read per list call")


def build_api_client(settings: KubeSettings) -> client.ApiClient:
    """An ApiClient of its own (never the module-wide default), from in-cluster config or a kubeconfig."""
    cfg = client.Configuration()
    in_cluster = settings.in_cluster
    if in_cluster is None:
        in_cluster = (
            bool(os.environ.get("KUBERNETES_SERVICE_HOST"))
            and not settings.kubeconfig
            and not os.environ.get("KUBECONFIG")
        )
    if in_cluster:
        config.load_incluster_config(client_configuration=cfg)
    else:
        config.load_kube_config(
            config_file=settings.kubeconfig, context=settings.context, client_configuration=cfg, persist_config=False
        )
    # Temporal owns retries: urllib3 may re-dial a refused connection, but must not sleep on a 429's
    # Retry-After inside the activity (that hint becomes next_retry_delay instead) nor resend reads.
    cfg.retries = urllib3.util.Retry(
        total=2, connect=2, read=0, status=0, redirect=0, raise_on_status=False, respect_retry_after_header=False
    )
    return client.ApiClient(cfg)


_CONTAINER_PROBLEMS = (
    "CrashLoopBackOff",
    "ImagePullBackOff",
    "ErrImagePull",
    "CreateContainerConfigError",
    "CreateContainerError",
    "InvalidImageName",
    "RunContainerError",
)


class KubeGateway:
    """The Kubernetes side of warroom: synchronous, thread-safe, one per worker."""

    def __init__(
        self, api_client: client.ApiClient, settings: KubeSettings | None = None, bucket: TokenBucket | None = None
    ) -> None:
        self.settings = settings or KubeSettings()
        self.api_client = api_client
        self.core = client.CoreV1Api(api_client)
        self.apps = client.AppsV1Api(api_client)
        self.bucket = bucket or TokenBucket(self.settings.qps, self.settings.burst)
        self._timeout = (self.settings.connect_timeout, self.settings.read_timeout)

    @classmethod
    def from_settings(cls, settings: KubeSettings | None = None) -> KubeGateway:
        settings = settings or KubeSettings()
        return cls(build_api_client(settings), settings)

    def close(self) -> None:
        self.api_client.close()

    # --- plumbing ------------------------------------------------------------------------

    def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        self.bucket.acquire()
        try:
            return fn(*args, _request_timeout=self._timeout, **kwargs)
        except ApiException as exc:
            raise _from_api_exception(exc) from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise KubeUnavailable(f"cannot reach the API server: {exc}") from exc

    def _json(self, obj: Any) -> Obj:
        return self.api_client.sanitize_for_serialization(obj)

    def _deployment(self, namespace: str, name: str) -> Obj:
        _dns_label(namespace, "namespace")
        _dns_subdomain(name, "deployment")
        return self._json(self._call(self.apps.read_namespaced_deployment, name, namespace))

    def _replica_sets(self, deployment: Obj) -> list[Obj]:
        selector = policy.selector_string((deployment.get("spec") or {}).get("selector"))
        result = self._call(
            self.apps.list_namespaced_replica_set,
            deployment["metadata"]["namespace"],
            label_selector=selector,
            limit=self.settings.list_limit,
        )
        return [self._json(rs) for rs in result.items or []]

    def _selector(self, namespace: str, deployment: str | None, labels: dict[str, str]) -> str:
        _dns_label(namespace, "namespace")
        if deployment:
            d = self._deployment(namespace, deployment)
            return policy.selector_string((d.get("spec") or {}).get("selector"))
        return _label_selector(labels)

    def _pods(self, namespace: str, selector: str) -> list[Obj]:
        result = self._call(
            self.core.list_namespaced_pod, namespace, label_selector=selector or None, limit=self.settings.list_limit
        )
        return [self._json(p) for p in result.items or []]

    # --- diagnostics ---------------------------------------------------------------------

    def pod_health(self, req: PodHealthRequest) -> PodHealthReport:
        """`kubectl get pods | grep -v Running` and `describe pod`, as data."""
        selector = self._selector(req.namespace, req.deployment, req.labels)
        pods = [pod_health(p, req.restart_threshold) for p in self._pods(req.namespace, selector)]
        findings: dict[str, int] = {}
        for pod in pods:
            for problem in pod.problems:
                findings[problem] = findings.get(problem, 0) + 1
        return PodHealthReport(
            namespace=req.namespace,
            selector=selector,
            total=len(pods),
            unhealthy=[p.name for p in pods if p.problems],
            findings=findings,
            pods=sorted(pods, key=lambda p: (not p.problems, p.name)),
        )

    def events(self, req: EventsRequest) -> EventsReport:
        """`kubectl get events --sort-by=.lastTimestamp | tail -N`, narrowed to what matters."""
        _dns_label(req.namespace, "namespace")
        if not 0 < req.limit <= 500:
            raise KubeInvalidRequest(f"limit must be in 1..500, got {req.limit}")
        fields = []
        if req.kind is not None:
            if not _KINDS.fullmatch(req.kind):
                raise KubeInvalidName(f"kind {_shown(req.kind)} is not a Kubernetes kind")
            fields.append(f"involvedObject.kind={req.kind}")
        if req.name is not None:
            fields.append(f"involvedObject.name={_dns_subdomain(req.name, 'object name')}")
        if len(set(req.types)) == 1:
            fields.append(f"type={req.types[0]}")
        related: set[tuple[str, str]] | None = None
        if req.deployment:
            related = self._related_objects(req.namespace, req.deployment)
        result = self._call(
            self.core.list_namespaced_event,
            req.namespace,
            field_selector=",".join(fields) or None,
            limit=self.settings.list_limit,
        )
        events = []
        for item in result.items or []:
            e = self._json(item)
            involved = e.get("involvedObject") or {}
            if e.get("type") not in req.types:
                continue
            if related is not None and (involved.get("kind"), involved.get("name")) not in related:
                continue
            events.append(e)
        events.sort(key=_event_time)
        summaries = [_event_summary(e) for e in events[-req.limit :]]
        return EventsReport(namespace=req.namespace, total=len(events), events=summaries)

    def _related_objects(self, namespace: str, deployment: str) -> set[tuple[str, str]]:
        d = self._deployment(namespace, deployment)
        related = {("Deployment", deployment)}
        owned = [rs for rs in self._replica_sets(d) if policy.is_controlled_by(rs, d)]
        related |= {("ReplicaSet", rs["metadata"]["name"]) for rs in owned}
        uids = {rs["metadata"]["uid"] for rs in owned}
        selector = policy.selector_string((d.get("spec") or {}).get("selector"))
        for pod in self._pods(namespace, selector):
            if any(ref.get("uid") in uids for ref in pod["metadata"].get("ownerReferences") or []):
                related.add(("Pod", pod["metadata"]["name"]))
        return related

    def logs(self, req: LogsRequest) -> LogsReport:
        """`kubectl logs [--previous] ... | grep -i "error\\|exception\\|fatal"`, bounded."""
        if len(req.pattern) > 200:
            raise KubeInvalidRequest("the log pattern is longer than 200 characters")
        try:
            pattern = re.compile(req.pattern, re.IGNORECASE)
        except re.error as exc:
            raise KubeInvalidRequest(f"the log pattern is not a regular expression: {exc}") from exc
        if not 0 < req.tail_lines <= 10_000 or not 0 < req.max_pods <= 50 or not 0 < req.max_matches <= 1000:
            raise KubeInvalidRequest("tail_lines must be in 1..10000, max_pods in 1..50, max_matches in 1..1000")
        if req.since_seconds is not None and req.since_seconds <= 0:
            raise KubeInvalidRequest("since_seconds must be positive")
        _dns_label(req.namespace, "namespace")
        if req.container is not None:
            _dns_label(req.container, "container")
        if req.pod:
            _dns_subdomain(req.pod, "pod")
            pods = [self._json(self._call(self.core.read_namespaced_pod, req.pod, req.namespace))]
        else:
            pods = self._pods(req.namespace, self._selector(req.namespace, req.deployment, req.labels))
            pods.sort(key=lambda p: (-_restarts(p), p["metadata"]["name"]))
            pods = pods[: req.max_pods]
        report = LogsReport(namespace=req.namespace, pattern=req.pattern)
        for pod in pods:
            statuses = {s["name"]: s for s in (pod.get("status") or {}).get("containerStatuses") or []}
            for container in (c["name"] for c in pod["spec"]["containers"]):
                if req.container and container != req.container:
                    continue
                restarted = statuses.get(container, {}).get("restartCount", 0) > 0
                wanted = [False, True] if req.previous is None and restarted else [True] if req.previous else [False]
                for previous in wanted:
                    stream = self._log_stream(pod, container, previous, req, pattern)
                    report.streams.append(stream)
                    report.total_matches += len(stream.matches)
        return report

    def _log_stream(
        self, pod: Obj, container: str, previous: bool, req: LogsRequest, pattern: re.Pattern[str]
    ) -> LogStream:
        name = pod["metadata"]["name"]
        stream = LogStream(pod=name, container=container, previous=previous)
        try:
            text = self._call(
                self.core.read_namespaced_pod_log,
                name,
                req.namespace,
                container=container,
                previous=previous,
                tail_lines=req.tail_lines,
                since_seconds=req.since_seconds,
            )
        except KubeInvalid as exc:  # 400: not started yet, or no previous container: an answer, not a failure
            stream.unavailable = str(exc)
            return stream
        lines = (text or "").splitlines()
        stream.lines = len(lines)
        matches = [line[:500] for line in lines if pattern.search(line)]
        stream.truncated = len(matches) > req.max_matches
        stream.matches = matches[-req.max_matches :]
        return stream

    # --- rollouts ------------------------------------------------------------------------

    def rollout_status(
        self,
        req: RolloutStatusRequest,
        progress: Callable[[RolloutStatusReport], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> RolloutStatusReport:
        """`kubectl rollout status`: poll until complete, failed, or `timeout_seconds` (then `timed_out`)."""
        if req.wait:
            _positive(req.timeout_seconds, "timeout_seconds", 6 * 3600)
            _positive(req.poll_seconds, "poll_seconds", 300)
        deadline = time.monotonic() + req.timeout_seconds
        polls = 0
        while True:
            d = self._deployment(req.namespace, req.deployment)
            polls += 1
            verdict = policy.rollout_status(d, req.revision)
            status = d.get("status") or {}
            outcome = "complete" if verdict.done else "failed" if verdict.error else "progressing"
            if outcome == "progressing" and req.wait and time.monotonic() >= deadline:
                outcome = "timed_out"
            report = RolloutStatusReport(
                namespace=req.namespace,
                deployment=req.deployment,
                done=verdict.done,
                outcome=outcome,
                message=verdict.message,
                revision=_revision(d),
                replicas=status.get("replicas", 0),
                updated=status.get("updatedReplicas", 0),
                available=status.get("availableReplicas", 0),
                polls=polls,
            )
            if outcome != "progressing" or not req.wait:
                return report
            if progress is not None:
                progress(report)
            sleep(min(req.poll_seconds, max(0.0, deadline - time.monotonic())))

    def rollout_history(self, req: DeploymentRef) -> RolloutHistory:
        d = self._deployment(req.namespace, req.deployment)
        return RolloutHistory(
            namespace=req.namespace,
            deployment=req.deployment,
            current_revision=_revision(d),
            revisions=policy.rollout_history(d, self._replica_sets(d)),
        )

    def recent_deploy(self, req: DeploymentRef) -> RecentDeploy:
        d = self._deployment(req.namespace, req.deployment)
        rss = self._replica_sets(d)
        _, new = policy.split_replica_sets(d, rss)
        timing = policy.deploy_timing(d, rss)
        verdict = policy.rollout_status(d)
        result = RecentDeploy(
            namespace=req.namespace,
            deployment=req.deployment,
            current_revision=_revision(d),
            current_images=policy.images((d.get("spec") or {}).get("template") or {}),
            current_change_cause=_annotation(new or d, policy.CHANGE_CAUSE_ANNOTATION),
            deployed_at=timing.deployed_at,
            deployed_at_source=timing.source,
            rollout_done=verdict.done,
            rollout_message=verdict.message,
            paused=bool((d.get("spec") or {}).get("paused")),
        )
        try:
            previous = policy.rollback_target(d, rss, 0)
        except policy.RolloutPolicyError:
            return result
        result.previous_revision = _revision(previous)
        result.previous_images = policy.images((previous.get("spec") or {}).get("template") or {})
        result.previous_change_cause = _annotation(previous, policy.CHANGE_CAUSE_ANNOTATION)
        return result

    def migration_check(self, req: MigrationCheckRequest) -> MigrationCheck:
        annotation = req.annotation or self.settings.migration_annotation
        d = self._deployment(req.namespace, req.deployment)
        rss = self._replica_sets(d)
        target = self._policy(policy.rollback_target, d, rss, req.to_revision)
        _, new = policy.split_replica_sets(d, rss)
        reason = policy.migration_contraindication(d, new, target, annotation)
        return MigrationCheck(
            namespace=req.namespace,
            deployment=req.deployment,
            target_revision=_revision(target),
            contraindicated=reason is not None,
            annotation=annotation,
            contraindications=["db_migration_applied"] if reason else [],
            reasons=[reason] if reason else [],
        )

    def rollback(
        self, req: RollbackRequest, pinned_target: str | None = None, on_target: Callable[[str], None] | None = None
    ) -> RollbackResult:
        """`kubectl rollout undo`, safe to retry.

        The first attempt reports its chosen ReplicaSet through `on_target` before writing; a retry
        passes it back as `pinned_target` and restores that same template — which, once the first
        attempt went through, is a no-op ("already matches") instead of a second undo. A heartbeat
        can be lost with the worker that sent it, so the write also carries `idempotency_key`: a retry
        that finds its key on the Deployment knows the rollback is done, pinned target or not.
        """
        if req.idempotency_key is not None and not _ROLLBACK_KEY.fullmatch(req.idempotency_key):
            raise KubeInvalidRequest("idempotency_key: 1-200 of [A-Za-z0-9._/-], starting with a letter or digit")
        d = self._deployment(req.namespace, req.deployment)
        rss = self._replica_sets(d)
        current = policy.images((d.get("spec") or {}).get("template") or {})
        if (
            req.idempotency_key is not None
            and _annotation(d, policy.ROLLBACK_KEY_ANNOTATION) == req.idempotency_key
            and not req.dry_run
        ):
            # An earlier attempt of this very decision wrote it (its heartbeat may never have arrived).
            _, new = policy.split_replica_sets(d, rss)
            return RollbackResult(
                namespace=req.namespace,
                deployment=req.deployment,
                outcome="skipped",
                message=f"deployment.apps/{req.deployment} already rolled back by {req.idempotency_key}",
                target_revision=_revision(d) or 0,
                target_replica_set=new["metadata"]["name"] if new else "",
                images_before=current,
                images_after=current,
                resumed_attempt=True,
            )
        target = None
        if pinned_target is not None:
            target = next(
                (rs for rs in rss if rs["metadata"]["name"] == pinned_target and policy.is_controlled_by(rs, d)), None
            )
            if target is None:
                raise KubeRevisionNotFound(f"replica set {pinned_target!r} chosen by an earlier attempt is gone")
        elif req.expected_revision is not None and _revision(d) != req.expected_revision:
            raise KubeRevisionChanged(
                f'deployment "{req.deployment}" is at revision {_revision(d)}, not '
                f"{req.expected_revision}: another rollout happened; decide again"
            )
        plan = self._policy(policy.plan_rollback, d, rss, req.to_revision, target, req.idempotency_key)
        if on_target is not None:
            on_target(plan.target_replica_set)
        common = dict(
            namespace=req.namespace,
            deployment=req.deployment,
            from_revision=plan.from_revision,
            target_revision=plan.target_revision,
            target_replica_set=plan.target_replica_set,
            images_before=current,
            resumed_attempt=pinned_target is not None,
        )
        if plan.action == "skip":
            return RollbackResult(
                outcome="skipped",
                message=f"deployment.apps/{req.deployment} {plan.message}",
                images_after=current,
                **common,
            )
        if not req.allow_contraindicated:
            target_rs = next(rs for rs in rss if rs["metadata"]["name"] == plan.target_replica_set)
            _, new = policy.split_replica_sets(d, rss)
            reason = policy.migration_contraindication(d, new, target_rs, self.settings.migration_annotation)
            if reason:
                raise KubeContraindicated(f"not rolling back deployment {req.deployment!r}: {reason}")
        self._call(
            self.apps.patch_namespaced_deployment,
            req.deployment,
            req.namespace,
            body=plan.patch,
            dry_run="All" if req.dry_run else None,
            _content_type="application/json-patch+json",
        )
        suffix = " (server dry run)" if req.dry_run else ""
        return RollbackResult(
            outcome="dry_run" if req.dry_run else "rolled_back",
            message=f"deployment.apps/{req.deployment} {plan.message}{suffix}",
            images_after=plan.images,
            **common,
        )

    def scale(self, req: ScaleRequest) -> ScaleResult:
        """`kubectl scale deployment/x --replicas=N` (a merge patch of the scale subresource)."""
        _dns_label(req.namespace, "namespace")
        _dns_subdomain(req.deployment, "deployment")
        if not 0 <= req.replicas <= 1000:
            raise KubeInvalidRequest(f"replicas must be in 0..1000, got {req.replicas}")
        before = self._json(self._call(self.apps.read_namespaced_deployment_scale, req.deployment, req.namespace))
        after = self._json(
            self._call(
                self.apps.patch_namespaced_deployment_scale,
                req.deployment,
                req.namespace,
                body={"spec": {"replicas": req.replicas}},
                dry_run="All" if req.dry_run else None,
                _content_type="application/merge-patch+json",
            )
        )
        previous = (before.get("spec") or {}).get("replicas", 0)
        suffix = " (server dry run)" if req.dry_run else ""
        return ScaleResult(
            namespace=req.namespace,
            deployment=req.deployment,
            previous_replicas=previous,
            replicas=(after.get("spec") or {}).get("replicas", req.replicas),
            message=f"deployment.apps/{req.deployment} scaled{suffix}",
        )

    @staticmethod
    def _policy(fn: Callable[..., T], *args: Any) -> T:
        try:
            return fn(*args)
        except policy.RolloutPolicyError as exc:
            raise _POLICY_ERRORS.get(type(exc), KubeInvalidRequest)(str(exc)) from exc


# --- pure helpers over pod/event JSON ---------------------------------------------------------


def _revision(obj: Obj) -> int | None:
    try:
        return policy.revision(obj)
    except ValueError:
        return None


def _annotation(obj: Obj, key: str) -> str | None:
    return ((obj.get("metadata") or {}).get("annotations") or {}).get(key)


def _restarts(pod: Obj) -> int:
    return sum(s.get("restartCount", 0) for s in (pod.get("status") or {}).get("containerStatuses") or [])


def _time(value: Any) -> datetime | None:
    if not value:
        return None
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def pod_health(pod: Obj, restart_threshold: int = 1) -> PodHealth:
    """A pod's health; `status` is computed as kubectl's STATUS column (printers.go printPod)."""
    status = pod.get("status") or {}
    phase = status.get("phase") or ""
    reason = status.get("reason") or phase
    containers, problems = [], []
    ready_count = 0
    for c in reversed(status.get("containerStatuses") or []):
        state, last = c.get("state") or {}, (c.get("lastState") or {}).get("terminated") or {}
        health = ContainerHealth(
            name=c["name"],
            image=c.get("image", ""),
            ready=bool(c.get("ready")),
            restart_count=c.get("restartCount", 0),
            last_terminated_reason=last.get("reason"),
            last_exit_code=last.get("exitCode"),
            last_finished_at=_time(last.get("finishedAt")),
        )
        if "waiting" in state:
            health.state, health.reason = "waiting", (state["waiting"] or {}).get("reason")
            health.message = ((state["waiting"] or {}).get("message") or "")[:300] or None
            reason = health.reason or reason
        elif "terminated" in state:
            term = state["terminated"] or {}
            health.state, health.reason = "terminated", term.get("reason")
            reason = term.get("reason") or (
                f"Signal:{term['signal']}" if term.get("signal") else f"ExitCode:{term.get('exitCode', 0)}"
            )
        elif "running" in state:
            health.state = "running"
            ready_count += bool(c.get("ready"))
        containers.insert(0, health)
        for found in (health.reason, health.last_terminated_reason):
            if found in _CONTAINER_PROBLEMS or found == "OOMKilled" or (health.state == "terminated" and found):
                problems.append(found)
        if health.restart_count >= restart_threshold > 0:
            problems.append("Restarts")
    ready = any(cond.get("type") == "Ready" and cond.get("status") == "True" for cond in status.get("conditions") or [])
    if phase not in ("Running", "Succeeded"):
        problems.insert(0, "NotRunning")
    if not ready and phase != "Succeeded":
        problems.insert(0, "NotReady")
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        reason = "Terminating"
    return PodHealth(
        name=pod["metadata"]["name"],
        phase=phase,
        status=reason,
        ready=ready,
        ready_containers=f"{ready_count}/{len((pod.get('spec') or {}).get('containers') or [])}",
        restarts=sum(c.restart_count for c in containers),
        node=(pod.get("spec") or {}).get("nodeName"),
        created_at=_time((pod.get("metadata") or {}).get("creationTimestamp")),
        containers=containers,
        problems=list(dict.fromkeys(problems)),
    )


def _event_time(e: Obj) -> datetime:
    stamp = _time(e.get("lastTimestamp")) or _time(e.get("eventTime")) or _time(e.get("firstTimestamp"))
    return stamp or datetime.min.replace(tzinfo=UTC)


def _event_summary(e: Obj) -> EventSummary:
    involved = e.get("involvedObject") or {}
    return EventSummary(
        type=e.get("type", ""),
        reason=e.get("reason", ""),
        object=f"{(involved.get('kind') or '').lower()}/{involved.get('name', '')}",
        message=(e.get("message") or "").strip()[:1000],
        count=e.get("count") or 1,
        first_seen=_time(e.get("firstTimestamp")) or _time(e.get("eventTime")),
        last_seen=_time(e.get("lastTimestamp")) or _time(e.get("eventTime")),
    )


# =============================================================================================
# Activities
# =============================================================================================


def _boundary(fn: Callable[[], T]) -> T:
    """The one place gateway errors become Temporal failures with a type and a retry verdict."""
    try:
        return fn()
    except KubeError as exc:
        raise exc.to_application_error() from exc


class KubeActivities:
    """Activity holder: the worker builds one gateway (its budget is shared) and registers `all()`."""

    def __init__(self, gateway: KubeGateway) -> None:
        self.gateway = gateway

    @activity.defn(name="kube_pod_health")
    def pod_health(self, req: PodHealthRequest) -> PodHealthReport:
        return _boundary(lambda: self.gateway.pod_health(req))

    @activity.defn(name="kube_events")
    def events(self, req: EventsRequest) -> EventsReport:
        return _boundary(lambda: self.gateway.events(req))

    @activity.defn(name="kube_logs")
    def logs(self, req: LogsRequest) -> LogsReport:
        return _boundary(lambda: self.gateway.logs(req))

    @activity.defn(name="kube_rollout_status")
    def rollout_status(self, req: RolloutStatusRequest) -> RolloutStatusReport:
        # Each poll heartbeats its report: cancellation arrives through heartbeats, and a stuck
        # rollout stays visible in the UI while the activity waits.
        return _boundary(
            lambda: self.gateway.rollout_status(
                req, progress=lambda report: activity.heartbeat(report.model_dump(mode="json"))
            )
        )

    @activity.defn(name="kube_rollout_history")
    def rollout_history(self, req: DeploymentRef) -> RolloutHistory:
        return _boundary(lambda: self.gateway.rollout_history(req))

    @activity.defn(name="kube_recent_deploy")
    def recent_deploy(self, req: DeploymentRef) -> RecentDeploy:
        return _boundary(lambda: self.gateway.recent_deploy(req))

    @activity.defn(name="kube_migration_check")
    def migration_check(self, req: MigrationCheckRequest) -> MigrationCheck:
        return _boundary(lambda: self.gateway.migration_check(req))

    @activity.defn(name="kube_rollback")
    def rollback(self, req: RollbackRequest) -> RollbackResult:
        # The chosen ReplicaSet is heartbeated before the write; Temporal hands the last heartbeat
        # to the next attempt, which therefore restores the same template instead of choosing anew.
        details = activity.info().heartbeat_details
        pinned = details[0].get("target_replica_set") if details and isinstance(details[0], dict) else None
        return _boundary(
            lambda: self.gateway.rollback(
                req, pinned_target=pinned, on_target=lambda name: activity.heartbeat({"target_replica_set": name})
            )
        )

    @activity.defn(name="kube_scale")
    def scale(self, req: ScaleRequest) -> ScaleResult:
        return _boundary(lambda: self.gateway.scale(req))

    def all(self) -> list[Callable[..., Any]]:
        return [
            self.pod_health,
            self.events,
            self.logs,
            self.rollout_status,
            self.rollout_history,
            self.recent_deploy,
            self.migration_check,
            self.rollback,
            self.scale,
        ]
