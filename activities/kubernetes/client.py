"""The connection to the API server: settings, the ApiClient, client-go's request budget, and the
plumbing every gateway call goes through (budget, timeout, errors typed, JSON out)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Self, TypeVar

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from pydantic import BaseModel, ConfigDict, Field
from temporalio import activity

from activities.kubernetes.errors import POLICY_ERRORS, KubeInvalidRequest, KubeUnavailable, from_api_exception
from activities.kubernetes.names import dns_label, dns_subdomain, label_selector
from activities.kubernetes.tracing import api_call_span
from warroom.policy import rollout as policy
from warroom.policy.rollout import DEFAULT_MIGRATION_ANNOTATION
from warroom.telemetry import tracing

T = TypeVar("T")
Obj = dict[str, Any]
ACTIVITY_HEADER = "X-Warroom-Activity"
"""Names the activity behind each request: a proxy or an audit webhook can tell them apart, and the
test of the deployment's Role derives the permissions each activity uses from the emulator's log."""


class KubeSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

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
        config.load_incluster_config(client_configuration=cfg)  # type: ignore[no-untyped-call, unused-ignore]
    else:
        config.load_kube_config(  # type: ignore[no-untyped-call, unused-ignore]
            config_file=settings.kubeconfig, context=settings.context, client_configuration=cfg, persist_config=False
        )
    # Temporal owns retries: urllib3 may re-dial a refused connection, but must not sleep on a 429's
    # Retry-After inside the activity (that hint becomes next_retry_delay instead) nor resend reads.
    cfg.retries = urllib3.util.Retry(
        total=2, connect=2, read=0, status=0, redirect=0, raise_on_status=False, respect_retry_after_header=False
    )
    return client.ApiClient(cfg)


class TokenBucket:
    """client-go's client-side budget (QPS 5, burst 10 by default), thread-safe. `acquire` reserves
    a token and sleeps until it is due, so concurrent callers queue up in arrival order as with
    golang.org/x/time/rate."""

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


class KubeApi:
    """The API server as the gateway uses it: synchronous, thread-safe, one per worker."""

    def __init__(
        self, api_client: client.ApiClient, settings: KubeSettings | None = None, bucket: TokenBucket | None = None
    ) -> None:
        self.settings = settings or KubeSettings()
        self.api_client = api_client
        self.core = client.CoreV1Api(api_client)
        self.apps = client.AppsV1Api(api_client)
        self.bucket = bucket or TokenBucket(self.settings.qps, self.settings.burst)
        self._timeout = (self.settings.connect_timeout, self.settings.read_timeout)
        self._counted = threading.local()

    @classmethod
    def from_settings(cls, settings: KubeSettings | None = None) -> Self:
        settings = settings or KubeSettings()
        return cls(build_api_client(settings), settings)

    def close(self) -> None:
        self.api_client.close()  # type: ignore[no-untyped-call, unused-ignore]

    @contextmanager
    def counting(self) -> Iterator[list[int]]:
        """Count the requests this thread sends inside the block (`[n]`): a step's apply reports
        them. Thread-local, because the worker's activities share one gateway."""
        counter = [0]
        outer = getattr(self._counted, "counter", None)
        self._counted.counter = counter
        try:
            yield counter
        finally:
            self._counted.counter = outer
            if outer is not None:
                outer[0] += counter[0]

    def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        with tracing.described_span(lambda: api_call_span(fn, args, kwargs)) as span:
            self.bucket.acquire()
            counter = getattr(self._counted, "counter", None)
            if counter is not None:
                counter[0] += 1
            if activity.in_activity():
                kwargs["_headers"] = {ACTIVITY_HEADER: activity.info().activity_type}
            try:
                return fn(*args, _request_timeout=self._timeout, **kwargs)
            except ApiException as exc:
                span.set_attribute("http.response.status_code", exc.status or 0)
                raise from_api_exception(exc) from exc
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                raise KubeUnavailable(f"cannot reach the API server: {exc}") from exc

    def _json(self, obj: Any) -> Obj:
        data: Obj = self.api_client.sanitize_for_serialization(obj)  # type: ignore[no-untyped-call, unused-ignore]
        return data

    def _deployment(self, namespace: str, name: str) -> Obj:
        dns_label(namespace, "namespace")
        dns_subdomain(name, "deployment")
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
        dns_label(namespace, "namespace")
        if deployment:
            d = self._deployment(namespace, deployment)
            return policy.selector_string((d.get("spec") or {}).get("selector"))
        return label_selector(labels)

    def _pods(self, namespace: str, selector: str) -> list[Obj]:
        result = self._call(
            self.core.list_namespaced_pod, namespace, label_selector=selector or None, limit=self.settings.list_limit
        )
        return [self._json(p) for p in result.items or []]

    @staticmethod
    def _policy(fn: Callable[..., T], *args: Any) -> T:
        """A rollout-policy decision; its refusals become the gateway's typed errors."""
        try:
            return fn(*args)
        except policy.RolloutPolicyError as exc:
            raise POLICY_ERRORS.get(type(exc), KubeInvalidRequest)(str(exc)) from exc
