"""Each Kubernetes activity through temporalio's ActivityEnvironment, against the sandbox cluster
over HTTP: results, heartbeats, cancellation, and the error types callers branch on."""

from __future__ import annotations

import dataclasses
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError, CancelledError
from temporalio.testing import ActivityEnvironment

from activities.kubernetes import KubeActivities, KubeGateway, KubeSettings, TokenBucket, build_api_client
from sandbox.cluster import RunningCluster
from sandbox.cluster.resources import DEPLOYMENTS
from tests.kubernetes.conftest import NS
from warroom.contracts.kubernetes import (
    EventsRequest,
    LogsRequest,
    MigrationCheckRequest,
    PodHealthRequest,
    RollbackRequest,
    RolloutStatusRequest,
    ScaleRequest,
)
from warroom.models import DeploymentTarget


@pytest.fixture
def acts(gateway: KubeGateway) -> KubeActivities:
    return KubeActivities(gateway)


def run(fn: Any, req: Any, env: ActivityEnvironment | None = None) -> Any:
    return (env or ActivityEnvironment()).run(fn, req)


def failure(fn: Any, req: Any) -> ApplicationError:
    with pytest.raises(ApplicationError) as err:
        run(fn, req)
    return err.value


def deployment_reads(running: RunningCluster, name: str, since: int) -> int:
    """GETs of one Deployment the API server received after request number `since`: the polls."""
    path = f"/apis/apps/v1/namespaces/{NS}/deployments/{name}"
    return sum(1 for r in running.requests[since:] if r.method == "GET" and r.path == path)


def image_of(running: RunningCluster, name: str) -> str:
    return running.cluster.get(DEPLOYMENTS, NS, name)["spec"]["template"]["spec"]["containers"][0]["image"]


# --- diagnostics ---------------------------------------------------------------------------------


def test_pod_health_finds_the_crash_loop_and_the_oom_kill(acts: KubeActivities) -> None:
    report = run(acts.pod_health, PodHealthRequest(namespace=NS, deployment="worker"))
    assert (report.selector, report.total, len(report.unhealthy)) == ("app=worker", 3, 2)
    assert report.findings == {"NotReady": 2, "CrashLoopBackOff": 2, "OOMKilled": 2, "Restarts": 2}
    sick = report.pods[0]
    assert sick.status == "CrashLoopBackOff" and sick.ready_containers == "0/1" and sick.restarts > 5
    container = sick.containers[0]
    assert (container.state, container.reason, container.last_terminated_reason, container.last_exit_code) == (
        "waiting",
        "CrashLoopBackOff",
        "OOMKilled",
        137,
    )
    assert report.pods[-1].problems == [] and report.pods[-1].status == "Running"


def test_pod_health_by_labels_namespace_and_image_pull(acts: KubeActivities) -> None:
    assert run(acts.pod_health, PodHealthRequest(namespace=NS, labels={"app": "web"})).healthy
    pull = run(acts.pod_health, PodHealthRequest(namespace=NS, deployment="pull")).pods[0]
    assert pull.phase == "Pending" and {"NotRunning", "NotReady"} <= set(pull.problems)
    assert {"ImagePullBackOff", "ErrImagePull"} & set(pull.problems)
    everything = run(acts.pod_health, PodHealthRequest(namespace=NS))
    assert everything.selector == "" and everything.total == 10
    assert sorted(everything.unhealthy)[0].startswith("pull-")


def test_warning_events_of_a_deployment_and_what_it_owns(acts: KubeActivities) -> None:
    report = run(acts.events, EventsRequest(namespace=NS, deployment="worker", limit=3))
    assert report.total >= 2 and len(report.events) <= 3
    assert {e.reason for e in report.events} == {"BackOff"} and all(e.type == "Warning" for e in report.events)
    assert all(e.object.startswith("pod/worker-") for e in report.events) and report.events[-1].count > 5
    assert [e.last_seen for e in report.events] == sorted(e.last_seen for e in report.events)
    assert run(acts.events, EventsRequest(namespace=NS, deployment="web")).events == []
    scaling = run(acts.events, EventsRequest(namespace=NS, kind="Deployment", name="web", types=["Normal"], limit=50))
    assert {e.reason for e in scaling.events} == {"ScalingReplicaSet"} and scaling.total == len(scaling.events)


def test_logs_read_the_previous_container_and_grep_like_the_seed(acts: KubeActivities) -> None:
    report = run(acts.logs, LogsRequest(namespace=NS, deployment="worker"))
    previous = [s for s in report.streams if s.previous]
    assert len(previous) == 2 and all(
        s.matches == ["FATAL java.lang.OutOfMemoryError: Java heap space"] for s in previous
    )
    healthy = next(
        s for s in report.streams if s.pod.startswith("worker-") and not s.previous and s.lines > 1 and not s.matches
    )
    assert healthy.unavailable is None
    only_current = run(acts.logs, LogsRequest(namespace=NS, deployment="worker", previous=False, max_pods=1))
    assert [s.previous for s in only_current.streams] == [False]


def test_logs_of_a_5xx_deploy_and_of_a_pod_that_never_started(acts: KubeActivities, running: RunningCluster) -> None:
    report = run(acts.logs, LogsRequest(namespace=NS, deployment="api", tail_lines=40))
    matches = [m for s in report.streams for m in s.matches]
    assert any("503" in m for m in matches) and any(m.startswith("Exception in thread") for m in matches)
    assert all("WARN" not in m and "201" not in m for m in matches)
    bounded = run(acts.logs, LogsRequest(namespace=NS, deployment="api", max_matches=2, since_seconds=60))
    assert all(len(s.matches) <= 2 for s in bounded.streams) and any(s.truncated for s in bounded.streams)
    pull_pod = run(acts.pod_health, PodHealthRequest(namespace=NS, deployment="pull")).pods[0].name
    waiting = run(acts.logs, LogsRequest(namespace=NS, pod=pull_pod))
    assert "is waiting to start" in (waiting.streams[0].unavailable or "")
    bad = failure(acts.logs, LogsRequest(namespace=NS, deployment="api", pattern="(unclosed"))
    assert (bad.type, bad.non_retryable) == ("InvalidRequest", True)


# --- rollouts -------------------------------------------------------------------------------------


def test_rollout_status_polls_with_heartbeats_until_complete(acts: KubeActivities, running: RunningCluster) -> None:
    running.cluster.set_image(NS, "web", "example.com/web:slow")  # ready 0.3 s after start
    env = ActivityEnvironment()
    beats: list[Any] = []
    env.on_heartbeat = lambda *details: beats.append(details[0])
    report = run(acts.rollout_status, RolloutStatusRequest(namespace=NS, deployment="web", poll_seconds=0.05), env)
    assert (report.done, report.outcome, report.revision, report.available) == (True, "complete", 4, 2)
    assert report.message == 'deployment "web" successfully rolled out' and report.polls > 3
    assert beats and all(b["outcome"] == "progressing" for b in beats)
    assert any('Waiting for deployment "web" rollout to finish' in b["message"] for b in beats)


def test_rollout_status_failed_timed_out_and_not_waiting(acts: KubeActivities, running: RunningCluster) -> None:
    failed = run(acts.rollout_status, RolloutStatusRequest(namespace=NS, deployment="worker"))
    assert (failed.outcome, failed.message) == ("failed", 'deployment "worker" exceeded its progress deadline')
    wrong = run(acts.rollout_status, RolloutStatusRequest(namespace=NS, deployment="web", revision=7))
    assert wrong.outcome == "failed" and "desired revision (7)" in wrong.message
    running.cluster.set_image(NS, "web", "example.com/web:missing")
    snapshot = run(acts.rollout_status, RolloutStatusRequest(namespace=NS, deployment="web", wait=False))
    assert snapshot.outcome == "progressing" and snapshot.polls == 1
    before = len(running.requests)
    timed_out = run(
        acts.rollout_status,
        RolloutStatusRequest(namespace=NS, deployment="web", timeout_seconds=0.3, poll_seconds=0.05),
    )
    assert timed_out.outcome == "timed_out" and not timed_out.done and timed_out.polls > 1
    assert deployment_reads(running, "web", since=before) == timed_out.polls, "it stopped polling at the timeout"


def test_rollout_status_is_cancelled_through_the_activity(acts: KubeActivities, running: RunningCluster) -> None:
    """Cancelled mid-wait, after its first poll: Temporal delivers a cancellation as the answer to a
    heartbeat, so the first poll's heartbeat is answered with one. The activity ends there."""
    running.cluster.set_image(NS, "web", "example.com/web:missing")
    env = ActivityEnvironment()
    beats: list[dict[str, Any]] = []

    def heartbeat(*details: Any) -> None:
        beats.append(details[0])
        env.cancel()

    env.on_heartbeat = heartbeat
    before = len(running.requests)
    with pytest.raises(CancelledError):
        env.run(
            acts.rollout_status,
            RolloutStatusRequest(namespace=NS, deployment="web", poll_seconds=0.05, timeout_seconds=5),
        )
    assert [(b["polls"], b["outcome"]) for b in beats] == [(1, "progressing")], "cancelled at the first poll"
    assert deployment_reads(running, "web", since=before) == 1, "and no poll after it"


def test_history_and_recent_deploy(acts: KubeActivities, gateway: KubeGateway) -> None:
    history = run(acts.rollout_history, DeploymentTarget(namespace=NS, deployment="web"))
    assert history.current_revision == 3
    assert [(r.revision, r.change_cause, r.current) for r in history.revisions] == [
        (1, "deploy web v1", False),
        (2, "deploy web v2", False),
        (3, "deploy web v3", True),
    ]
    recent = run(acts.recent_deploy, DeploymentTarget(namespace=NS, deployment="web"))
    age = datetime.now(UTC) - recent.deployed_at
    assert timedelta(minutes=19) < age < timedelta(minutes=25) and recent.deployed_at_source == "replicaset-created"
    assert (recent.current_revision, recent.previous_revision) == (3, 2)
    assert recent.previous_images == {"app": "example.com/web:v2"} and recent.previous_change_cause == "deploy web v2"
    assert recent.rollout_done and not recent.paused
    solo = run(acts.recent_deploy, DeploymentTarget(namespace=NS, deployment="solo"))
    assert solo.previous_revision is None and solo.current_revision == 1

    gateway.rollback(RollbackRequest(namespace=NS, deployment="web"))  # back to v2's (old) ReplicaSet
    gateway.rollout_status(RolloutStatusRequest(namespace=NS, deployment="web", poll_seconds=0.05))
    after = run(acts.recent_deploy, DeploymentTarget(namespace=NS, deployment="web"))
    assert after.deployed_at_source == "progressing-condition"
    assert datetime.now(UTC) - after.deployed_at < timedelta(seconds=30)
    assert (after.current_revision, after.previous_revision, after.current_change_cause) == (4, 3, "deploy web v2")


def test_migration_contraindication(acts: KubeActivities) -> None:
    check = run(acts.migration_check, MigrationCheckRequest(namespace=NS, deployment="worker"))
    assert check.contraindicated and check.contraindications == ["db_migration_applied"]
    assert check.target_revision == 1 and "2024-11-28-jobs-v2" in check.reasons[0]
    assert not run(acts.migration_check, MigrationCheckRequest(namespace=NS, deployment="web")).contraindicated
    custom = run(acts.migration_check, MigrationCheckRequest(namespace=NS, deployment="worker", annotation="x.io/m"))
    assert not custom.contraindicated and custom.annotation == "x.io/m"


def test_rollback_then_a_retry_is_a_no_op(acts: KubeActivities, running: RunningCluster, gateway: KubeGateway) -> None:
    first_env = ActivityEnvironment()
    beats: list[Any] = []
    first_env.on_heartbeat = lambda *details: beats.append(details[0])
    first = run(acts.rollback, RollbackRequest(namespace=NS, deployment="web"), first_env)
    assert (first.outcome, first.from_revision, first.target_revision) == ("rolled_back", 3, 2)
    assert first.images_before == {"app": "example.com/web:v3"} and first.images_after == {"app": "example.com/web:v2"}
    assert beats == [{"target_replica_set": first.target_replica_set}]
    running.cluster.wait_for(lambda: running.cluster.rollout_complete(NS, "web"))

    # Temporal retries with the last heartbeat (say the worker died before reporting success).
    retry_env = ActivityEnvironment()
    retry_env.info = dataclasses.replace(retry_env.info, attempt=2, heartbeat_details=[beats[-1]])
    retry = run(acts.rollback, RollbackRequest(namespace=NS, deployment="web"), retry_env)
    assert (retry.outcome, retry.resumed_attempt) == ("skipped", True)
    assert image_of(running, "web") == "example.com/web:v2"
    # Without the pin, "previous" now means v3 again: exactly the flip-flop the pin prevents.
    assert gateway.rollback(RollbackRequest(namespace=NS, deployment="web", dry_run=True)).images_after == {
        "app": "example.com/web:v3"
    }


def test_a_retry_whose_heartbeat_was_lost_finds_its_own_write_by_key(
    acts: KubeActivities, running: RunningCluster
) -> None:
    """The worker died between the PATCH and the heartbeat reaching Temporal: no pinned target, and the
    revision moved. The key written with the patch still tells the retry the rollback is done."""
    request = RollbackRequest(namespace=NS, deployment="web", expected_revision=3, idempotency_key="INC-7/rb1")
    assert run(acts.rollback, request).outcome == "rolled_back"
    retry_env = ActivityEnvironment()
    retry_env.info = dataclasses.replace(retry_env.info, attempt=2, heartbeat_details=[])
    retry = run(acts.rollback, request, retry_env)
    assert (retry.outcome, retry.resumed_attempt) == ("skipped", True) and "INC-7/rb1" in retry.message
    assert sum(1 for r in running.requests if r.method == "PATCH") == 1
    assert image_of(running, "web") == "example.com/web:v2"
    # Another decision on the same deployment is not fooled by the old key: it sees the revision moved.
    other = failure(
        acts.rollback, RollbackRequest(namespace=NS, deployment="web", expected_revision=3, idempotency_key="INC-8/rb1")
    )
    assert other.type == "RevisionChanged"
    hostile = failure(acts.rollback, RollbackRequest(namespace=NS, deployment="web", idempotency_key="../x\n"))
    assert (hostile.type, hostile.non_retryable) == ("InvalidRequest", True)


@pytest.mark.parametrize(
    "deployment, fields, error_type",
    [
        ("frozen", {}, "Paused"),
        ("solo", {}, "NoHistory"),
        ("web", {"to_revision": 9}, "RevisionNotFound"),
        ("web", {"expected_revision": 2}, "RevisionChanged"),
        ("worker", {}, "Contraindicated"),
        ("ghost", {}, "NotFound"),
    ],
)
def test_rollback_refusals_are_typed_and_final(
    acts: KubeActivities, deployment: str, fields: dict[str, Any], error_type: str
) -> None:
    err = failure(acts.rollback, RollbackRequest(namespace=NS, deployment=deployment, **fields))
    assert (err.type, err.non_retryable) == (error_type, True)


def test_rollback_with_the_expected_revision_and_dry_run(acts: KubeActivities, running: RunningCluster) -> None:
    dry = run(acts.rollback, RollbackRequest(namespace=NS, deployment="web", expected_revision=3, dry_run=True))
    assert dry.outcome == "dry_run" and image_of(running, "web") == "example.com/web:v3"
    done = run(acts.rollback, RollbackRequest(namespace=NS, deployment="web", expected_revision=3))
    assert done.outcome == "rolled_back" and image_of(running, "web") == "example.com/web:v2"


def test_scale(acts: KubeActivities, running: RunningCluster) -> None:
    dry = run(acts.scale, ScaleRequest(namespace=NS, deployment="web", replicas=5, dry_run=True))
    assert (dry.previous_replicas, dry.replicas) == (2, 5) and dry.message.endswith("scaled (server dry run)")
    assert running.cluster.get(DEPLOYMENTS, NS, "web")["spec"]["replicas"] == 2
    result = run(acts.scale, ScaleRequest(namespace=NS, deployment="web", replicas=3))
    assert (result.previous_replicas, result.replicas) == (2, 3)
    running.cluster.wait_for(lambda: running.cluster.get(DEPLOYMENTS, NS, "web")["status"].get("readyReplicas") == 3)
    assert failure(acts.scale, ScaleRequest(namespace=NS, deployment="web", replicas=-1)).type == "InvalidRequest"


# --- errors and the budget ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "request_model",
    [
        PodHealthRequest(namespace="Prod"),
        PodHealthRequest(namespace="../../api"),
        PodHealthRequest(namespace=NS, deployment="web?watch=true"),
        PodHealthRequest(namespace=NS, labels={"app": "web,tier!=x"}),
        PodHealthRequest(namespace=NS, labels={"bad key": "x"}),
        PodHealthRequest(namespace="a" * 64),
        LogsRequest(namespace=NS, pod="x/../../secrets"),
        EventsRequest(namespace=NS, kind="Pod,involvedObject.name=x"),
    ],
)
def test_invalid_names_fail_before_any_request(
    acts: KubeActivities, running: RunningCluster, request_model: Any
) -> None:
    fn = {PodHealthRequest: acts.pod_health, LogsRequest: acts.logs, EventsRequest: acts.events}[type(request_model)]
    sent = len(running.requests)
    err = failure(fn, request_model)
    assert (err.type, err.non_retryable) == ("InvalidName", True)
    assert len(running.requests) == sent


@pytest.mark.parametrize(
    "status, retry_after, error_type, retryable",
    [
        (503, None, "Unavailable", True),
        (500, None, "Unavailable", True),
        (429, 3, "Unavailable", True),
        (409, None, "Conflict", True),
        (403, None, "Forbidden", False),
        (422, None, "Invalid", False),
    ],
)
def test_api_errors_carry_their_retry_verdict(
    acts: KubeActivities,
    running: RunningCluster,
    status: int,
    retry_after: int | None,
    error_type: str,
    retryable: bool,
) -> None:
    running.inject_fault(status, path="/deployments/web$", retry_after=retry_after)
    err = failure(acts.recent_deploy, DeploymentTarget(namespace=NS, deployment="web"))
    assert (err.type, err.non_retryable) == (error_type, not retryable)
    assert err.next_retry_delay == (timedelta(seconds=retry_after) if retry_after else None)
    assert run(acts.recent_deploy, DeploymentTarget(namespace=NS, deployment="web")).current_revision == 3


def test_an_unreachable_server_is_retryable(tmp_path: Path, running: RunningCluster) -> None:
    kubeconfig = running.write_kubeconfig(tmp_path / "kc")
    running.stop()
    gateway = KubeGateway.from_settings(KubeSettings(kubeconfig=str(kubeconfig), connect_timeout=1))
    err = failure(KubeActivities(gateway).pod_health, PodHealthRequest(namespace=NS))
    assert (err.type, err.non_retryable) == ("Unavailable", False)


def test_in_cluster_config_is_chosen_inside_a_pod(monkeypatch: pytest.MonkeyPatch) -> None:
    from kubernetes.config import ConfigException

    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    monkeypatch.delenv("KUBECONFIG", raising=False)
    with pytest.raises(ConfigException, match="Service token file does not exist"):
        build_api_client(KubeSettings())


def test_the_budget_is_client_go_s_token_bucket() -> None:
    assert (KubeSettings().qps, KubeSettings().burst) == (5.0, 10)
    now = [0.0]
    waits: list[float] = []
    bucket = TokenBucket(5, 10, clock=lambda: now[0], sleep=lambda s: (waits.append(s), now.__setitem__(0, now[0] + s)))
    assert [bucket.acquire() for _ in range(10)] == [0.0] * 10
    assert bucket.acquire() == pytest.approx(0.2) and bucket.acquire() == pytest.approx(0.2)
    now[0] += 10  # idle: the bucket refills, but never above the burst
    assert [bucket.acquire() for _ in range(10)] == [0.0] * 10 and bucket.acquire() == pytest.approx(0.2)


def test_the_budget_throttles_real_requests(kubeconfig: Path, running: RunningCluster) -> None:
    gateway = KubeGateway.from_settings(KubeSettings(kubeconfig=str(kubeconfig), qps=40, burst=2))
    started = time.monotonic()
    for _ in range(6):  # 6 requests: 2 from the burst, then one per 25 ms
        gateway.rollout_status(RolloutStatusRequest(namespace=NS, deployment="web", wait=False))
    assert time.monotonic() - started >= 0.09
    gateway.close()


def test_every_activity_is_a_named_threaded_activity(acts: KubeActivities) -> None:
    from temporalio import activity

    names = [activity._Definition.must_from_callable(fn).name for fn in acts.all()]
    assert names == [
        "kube_pod_health",
        "kube_events",
        "kube_logs",
        "kube_rollout_status",
        "kube_rollout_history",
        "kube_recent_deploy",
        "kube_migration_check",
        "kube_rollback",
        "kube_scale",
        "kube_resource_usage",
        "kube_step_preview",
        "kube_step_apply",
    ]
    assert not any(activity._Definition.must_from_callable(fn).is_async for fn in acts.all())
