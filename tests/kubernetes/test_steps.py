"""The step catalog's Kubernetes steps against the sandbox cluster over HTTP: each action's preview (a
server-side dry run that changes nothing) and apply; parity with the real kubectl for restart, scale,
pause and resume (same single PATCH, same Deployment afterwards); a stale preview refused with no
write; a retried apply acting once; hostile input refused before any request."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.kubernetes import (
    KubeError,
    KubeGateway,
    KubeInvalidName,
    KubeInvalidRequest,
    KubePaused,
    KubeUnavailable,
)
from activities.kubernetes.steps import RESTARTED_AT, KubeStepActivities, staleness
from sandbox.cluster import RunningCluster
from sandbox.cluster.resources import DEPLOYMENTS
from tests.kubernetes.conftest import NS, Kubectl
from warroom.contracts.errors import PreviewStale
from warroom.contracts.steps import KubeStepRequest, StepPreview

AT = "2026-12-06T10:00:00Z"
DEPLOYMENT_PATH = f"/apis/apps/v1/namespaces/{NS}/deployments/web"


def step(action: str, name: str = "web", **fields: Any) -> KubeStepRequest:
    if action == "restart":
        fields.setdefault("restarted_at", AT)
    return KubeStepRequest(action=action, namespace=NS, deployment=name, **fields)  # type: ignore[arg-type]


def patches(running: RunningCluster, since: int) -> list[tuple[str, str, str, Any]]:
    return [(r.path, r.query, r.content_type, r.body) for r in running.requests[since:] if r.method == "PATCH"]


def world(running: RunningCluster, name: str = "web") -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The Deployment and its ReplicaSets, as the store holds them."""
    cluster = running.cluster
    return cluster.get(DEPLOYMENTS, NS, name), sorted(
        cluster.replica_sets(NS, name), key=lambda rs: rs["metadata"]["name"]
    )


def comparable(d: dict[str, Any]) -> dict[str, Any]:
    """A Deployment minus what differs between two identical writes (resourceVersion, uid, timestamps)."""
    meta = {
        k: v
        for k, v in d["metadata"].items()
        if k not in ("resourceVersion", "uid", "creationTimestamp", "managedFields")
    }
    return {"metadata": meta, "spec": d["spec"]}


# --- parity with kubectl -------------------------------------------------------------------------


def kubectl_then_warroom(
    running: RunningCluster, kubectl: Kubectl, gateway: KubeGateway, args: list[str], request: KubeStepRequest
) -> tuple[tuple[Any, list[Any], dict[str, Any]], tuple[Any, list[Any], dict[str, Any]]]:
    """From one state (controllers held), kubectl's command, then (state restored) warroom's apply:
    each side's result line, PATCH requests and Deployment; the write changed the Deployment."""
    cluster = running.cluster
    with cluster.held():
        before = cluster.snapshot()
        original = cluster.get(DEPLOYMENTS, NS, request.deployment)
        mark = len(running.requests)
        result = kubectl(*args)
        assert result.returncode == 0, result.stderr
        by_kubectl = (result.stdout.strip(), patches(running, mark), cluster.get(DEPLOYMENTS, NS, request.deployment))
        if request.action == "restart":  # kubectl's clock → ours: the same value lets the bodies compare whole
            sent = by_kubectl[1][0][3]["spec"]["template"]["metadata"]["annotations"][RESTARTED_AT]
            request = request.model_copy(update={"restarted_at": sent})
        cluster.restore(before)
        mark = len(running.requests)
        outcome = gateway.step_apply(request)
        by_warroom = (outcome.summary, patches(running, mark), cluster.get(DEPLOYMENTS, NS, request.deployment))
    assert outcome.outcome == "applied" and outcome.api_calls == 2
    assert comparable(by_warroom[2]) != comparable(original)
    return by_kubectl, by_warroom


def body_and_type(recorded: list[tuple[str, str, str, Any]]) -> list[tuple[str, str, Any]]:
    return [(path, ctype, body) for path, _query, ctype, body in recorded]


@pytest.mark.system("kubectl")
@pytest.mark.parametrize(
    "args, request_, field_manager",
    [
        (["rollout", "restart", "deployment/web"], step("restart"), "kubectl-rollout"),
        (["scale", "deployment/web", "--replicas=5"], step("scale", replicas=5), ""),
        (["scale", "deployment/web", "--replicas=0"], step("scale", replicas=0), ""),
        (["rollout", "pause", "deployment/web"], step("pause-rollout"), "kubectl-rollout"),
    ],
    ids=["restart", "scale", "scale-to-zero", "pause"],
)
def test_apply_sends_kubectls_patch_and_leaves_the_same_deployment(
    running: RunningCluster,
    kubectl: Kubectl,
    gateway: KubeGateway,
    args: list[str],
    request_: KubeStepRequest,
    field_manager: str,
) -> None:
    (k_line, k_patches, k_obj), (w_line, w_patches, w_obj) = kubectl_then_warroom(
        running, kubectl, gateway, args, request_
    )
    assert k_line == w_line  # "deployment.apps/web restarted", "... scaled", "... paused"
    assert len(k_patches) == len(w_patches) == 1
    assert body_and_type(w_patches) == body_and_type(k_patches)
    # The one intended difference: warroom writes under its own field manager.
    assert k_patches[0][1] == (f"fieldManager={field_manager}" if field_manager else "")
    assert w_patches[0][1] == ("fieldManager=warroom" if field_manager else "")
    assert comparable(w_obj) == comparable(k_obj)


@pytest.mark.system("kubectl")
def test_resume_sends_kubectls_null_and_clears_paused(
    running: RunningCluster, kubectl: Kubectl, gateway: KubeGateway
) -> None:
    (k_line, k_patches, k_obj), (w_line, w_patches, w_obj) = kubectl_then_warroom(
        running, kubectl, gateway, ["rollout", "resume", "deployment/frozen"], step("resume-rollout", "frozen")
    )
    assert k_line == w_line == "deployment.apps/frozen resumed"
    assert body_and_type(w_patches) == body_and_type(k_patches)
    assert w_patches[0][3] == {"spec": {"paused": None}}
    assert comparable(w_obj) == comparable(k_obj) and not w_obj["spec"].get("paused")


@pytest.mark.system("kubectl")
def test_restart_of_a_paused_deployment_is_refused_as_kubectl_refuses(
    running: RunningCluster, kubectl: Kubectl, gateway: KubeGateway
) -> None:
    mark = len(running.requests)
    refused = kubectl("rollout", "restart", "deployment/frozen")
    assert refused.returncode == 1
    for call in (gateway.step_preview, gateway.step_apply):
        with pytest.raises(KubePaused) as err:
            call(step("restart", "frozen"))
        assert refused.stderr.strip() == f"error: {err.value}"
    assert patches(running, mark) == []


# --- preview: a dry run of exactly the apply's patch ---------------------------------------------


@pytest.mark.parametrize(
    "request_, summary, changed",
    [
        (
            step("restart"),
            f"restart deployment/web: a new rollout of its 2 pods (restartedAt {AT})",
            {f"spec.template.metadata.annotations[{RESTARTED_AT}]": (None, AT)},
        ),
        (step("scale", replicas=6), "scale deployment/web from 2 to 6 replicas", {"spec.replicas": ("2", "6")}),
        (step("pause-rollout"), "pause rollouts of deployment/web", {"spec.paused": ("false", "true")}),
        (
            step("rollback"),
            "roll back deployment/web from revision 3 to revision 2 (app=example.com/web:v2)",
            {
                "spec.template.spec.containers[app].image": ("example.com/web:v3", "example.com/web:v2"),
                "metadata.annotations[kubernetes.io/change-cause]": ("deploy web v3", "deploy web v2"),
            },
        ),
    ],
    ids=["restart", "scale", "pause", "rollback"],
)
def test_preview_dry_runs_the_apply_patch_and_changes_nothing(
    running: RunningCluster,
    gateway: KubeGateway,
    request_: KubeStepRequest,
    summary: str,
    changed: dict[str, tuple[str | None, str | None]],
) -> None:
    before = world(running)
    generation = before[0]["metadata"]["generation"]
    mark = len(running.requests)
    preview = gateway.step_preview(request_)
    sent = patches(running, mark)
    assert preview.summary == summary and preview.would_change
    assert {c.path: (c.before, c.after) for c in preview.changes} == changed
    assert preview.observed == f"revision=3 generation={generation} replicas=2 paused=false"
    assert len(sent) == 1 and sent[0][1].startswith("dryRun=All")
    running.cluster.reconcile()  # had anything been written, the controllers would act on it now
    assert world(running) == before
    # The apply then sends the very patch the preview showed, without dryRun.
    path, _query, ctype, body = sent[0]
    assert preview.request.splitlines()[:2] == [f"PATCH {path}", f"Content-Type: {ctype}"]
    mark = len(running.requests)
    outcome = gateway.step_apply(request_.model_copy(update={"expected": preview.observed}))
    assert outcome.outcome == "applied"
    assert [(p, c, b) for p, q, c, b in patches(running, mark)] == [(path, ctype, body)]
    assert "dryRun" not in patches(running, mark)[0][1]
    assert outcome.api_calls == (3 if request_.action == "rollback" else 2)


def test_resume_preview_shows_paused_going_false(running: RunningCluster, gateway: KubeGateway) -> None:
    before = world(running, "frozen")
    preview = gateway.step_preview(step("resume-rollout", "frozen"))
    assert preview.summary == "resume rollouts of deployment/frozen" and preview.would_change
    assert [(c.path, c.before, c.after) for c in preview.changes] == [("spec.paused", "true", "false")]
    assert preview.observed.startswith("revision=2 ") and preview.observed.endswith(" replicas=1 paused=true")
    assert preview.request.endswith('\n\n{"spec":{"paused":null}}')
    assert world(running, "frozen") == before


def test_a_missing_deployment_is_not_found(gateway: KubeGateway) -> None:
    with pytest.raises(KubeError) as err:
        gateway.step_preview(step("scale", "nope", replicas=1))
    assert type(err.value).__name__ == "KubeNotFound" and not err.value.retryable


def test_staleness_names_what_moved_and_tolerates_a_mangled_expectation() -> None:
    now = "revision=4 generation=8 replicas=3 paused=false"
    assert staleness("", now) is None and staleness(now, now) is None
    assert staleness("revision=3 generation=7 replicas=3 paused=false", now) == "revision 3 → 4, generation 7 → 8"
    assert staleness("garbage", now) == "revision ? → 4, generation ? → 8, replicas ? → 3, paused ? → false"


def test_preview_of_a_step_already_done_would_change_nothing(running: RunningCluster, gateway: KubeGateway) -> None:
    mark = len(running.requests)
    for request_ in (step("pause-rollout", "frozen"), step("scale", replicas=2), step("rollback", to_revision=3)):
        preview = gateway.step_preview(request_)
        assert not preview.would_change and preview.changes == [] and preview.request == ""
    assert patches(running, mark) == []
    assert gateway.step_preview(step("resume-rollout")).summary == "deployment/web: is not paused; nothing to do"


# --- apply ---------------------------------------------------------------------------------------


def test_each_apply_takes_effect_once_the_controllers_act(running: RunningCluster, gateway: KubeGateway) -> None:
    cluster = running.cluster
    restarted = gateway.step_apply(step("restart"))
    assert restarted.summary == "deployment.apps/web restarted"
    cluster.wait_for(lambda: cluster.rollout_complete(NS, "web"))
    d, rss = world(running)
    assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "4"
    newest = max(rss, key=lambda rs: int(rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]))
    assert newest["spec"]["template"]["metadata"]["annotations"][RESTARTED_AT] == AT
    assert newest["spec"]["template"]["spec"]["containers"][0]["image"] == "example.com/web:v3"

    assert gateway.step_apply(step("scale", replicas=4)).summary == "deployment.apps/web scaled"
    cluster.wait_for(lambda: cluster.rollout_complete(NS, "web") and world(running)[0]["status"]["replicas"] == 4)

    rolled = gateway.step_apply(step("rollback", idempotency_key="inc-1/rollback"))
    assert (rolled.outcome, rolled.summary) == ("applied", "deployment.apps/web rolled back")
    assert world(running)[0]["spec"]["template"]["spec"]["containers"][0]["image"] == "example.com/web:v3"  # v4 → v3

    assert gateway.step_apply(step("pause-rollout")).outcome == "applied"
    assert world(running)[0]["spec"]["paused"] is True
    assert gateway.step_apply(step("resume-rollout")).outcome == "applied"
    assert not world(running)[0]["spec"].get("paused")


def test_pause_twice_and_resume_unpaused_change_nothing(running: RunningCluster, gateway: KubeGateway) -> None:
    """kubectl errors with 'already paused' / 'not paused'; a step reports no_change and writes nothing."""
    mark = len(running.requests)
    paused = gateway.step_apply(step("pause-rollout", "frozen"))
    resumed = gateway.step_apply(step("resume-rollout"))
    assert (paused.outcome, paused.summary) == ("no_change", "deployment.apps/frozen is already paused")
    assert (resumed.outcome, resumed.summary) == ("no_change", "deployment.apps/web is not paused")
    assert paused.api_calls == resumed.api_calls == 1
    assert patches(running, mark) == []


# --- stale previews ------------------------------------------------------------------------------


@pytest.mark.parametrize("action", ["scale", "restart", "rollback"])
def test_a_new_revision_since_the_preview_is_refused_with_no_write(
    running: RunningCluster, gateway: KubeGateway, action: str
) -> None:
    cluster = running.cluster
    request_ = step(action, replicas=5) if action == "scale" else step(action)
    preview = gateway.step_preview(request_)
    cluster.set_image(NS, "web", "example.com/web:v4")
    cluster.wait_for(lambda: cluster.rollout_complete(NS, "web"))
    before = world(running)
    mark = len(running.requests)
    with pytest.raises(PreviewStale) as err:
        gateway.step_apply(request_.model_copy(update={"expected": preview.observed}))
    assert str(err.value).startswith("deployment.apps/web: revision 3 → 4, generation ")
    assert "since the preview" in str(err.value)
    assert patches(running, mark) == [] and world(running) == before


def test_another_scale_since_the_preview_is_refused(running: RunningCluster, gateway: KubeGateway) -> None:
    cluster = running.cluster
    preview = gateway.step_preview(step("restart"))
    cluster.patch(DEPLOYMENTS, NS, "web", "application/merge-patch+json", {"spec": {"replicas": 3}})
    mark = len(running.requests)
    with pytest.raises(PreviewStale, match=r"replicas 2 → 3 since the preview"):
        gateway.step_apply(step("restart", expected=preview.observed))
    assert patches(running, mark) == []


# --- retries: one effect -------------------------------------------------------------------------


def test_restart_retried_after_a_lost_reply_restarts_once(running: RunningCluster, gateway: KubeGateway) -> None:
    """The write happens, the reply is lost (the worker died): the retry finds its own timestamp."""
    cluster = running.cluster
    preview = gateway.step_preview(step("restart"))
    request_ = step("restart", expected=preview.observed)
    running.inject_fault(503, method="PATCH", path="/deployments/web$", lost_response=True)
    with pytest.raises(KubeUnavailable):
        gateway.step_apply(request_)
    cluster.wait_for(lambda: cluster.rollout_complete(NS, "web"))
    after_first = world(running)
    mark = len(running.requests)
    retry = gateway.step_apply(request_)
    assert (retry.outcome, retry.summary) == ("already_applied", f"deployment.apps/web already restarted at {AT}")
    assert retry.api_calls == 1 and patches(running, mark) == []
    cluster.reconcile()
    assert world(running) == after_first
    assert len(after_first[1]) == 4  # revisions 1-3 and the one restart


def test_scale_retried_reports_already_applied(running: RunningCluster, gateway: KubeGateway) -> None:
    preview = gateway.step_preview(step("scale", replicas=7))
    request_ = step("scale", replicas=7, expected=preview.observed)
    assert gateway.step_apply(request_).outcome == "applied"
    mark = len(running.requests)
    retry = gateway.step_apply(request_)
    assert (retry.outcome, retry.summary) == ("already_applied", "deployment.apps/web already has 7 replicas")
    assert patches(running, mark) == []


def test_rollback_retried_by_its_key_rolls_back_once(running: RunningCluster, gateway: KubeGateway) -> None:
    cluster = running.cluster
    preview = gateway.step_preview(step("rollback", idempotency_key="inc-7/rollback"))
    request_ = step("rollback", idempotency_key="inc-7/rollback", expected=preview.observed)
    assert gateway.step_apply(request_).outcome == "applied"
    cluster.wait_for(lambda: cluster.rollout_complete(NS, "web"))
    done = world(running)
    retry = gateway.step_apply(request_)  # the world moved (revision 4): it is our own write
    assert retry.outcome == "already_applied" and retry.summary.endswith("already rolled back by inc-7/rollback")
    assert world(running) == done and done[0]["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "4"


# --- hostile input -------------------------------------------------------------------------------

HOSTILE = ["../x", "a;rm -rf /", "web\x00", "x" * 100_000, "Web", "web\n", "", "a/b", "web?dryRun=All"]


@pytest.mark.parametrize("name", HOSTILE, ids=lambda n: repr(n[:12]))
@pytest.mark.parametrize("field", ["namespace", "deployment"])
def test_hostile_names_are_refused_before_any_request(
    running: RunningCluster, gateway: KubeGateway, name: str, field: str
) -> None:
    mark = len(running.requests)
    for action in ("restart", "scale", "pause-rollout", "resume-rollout", "rollback"):
        request_ = step(action, replicas=1).model_copy(update={field: name})
        for call in (gateway.step_preview, gateway.step_apply):
            with pytest.raises(KubeInvalidName) as err:
                call(request_)
            assert len(str(err.value)) < 200
    assert running.requests[mark:] == []


@pytest.mark.parametrize(
    "fields",
    [
        {"action": "scale", "replicas": -1},
        {"action": "scale", "replicas": 1001},
        {"action": "scale", "replicas": None},
        {"action": "restart", "restarted_at": None},
        {"action": "restart", "restarted_at": "now; rm -rf /"},
        {"action": "restart", "restarted_at": "2026-13-45T99:00:00Z"},
        {"action": "rollback", "to_revision": -1},
        {"action": "rollback", "idempotency_key": "../key"},
        {"action": "pause-rollout", "expected": "x" * 301},
    ],
)
def test_out_of_range_parameters_are_refused_before_any_request(
    running: RunningCluster, gateway: KubeGateway, fields: dict[str, Any]
) -> None:
    mark = len(running.requests)
    request_ = KubeStepRequest(namespace=NS, deployment="web", **fields)
    for call in (gateway.step_preview, gateway.step_apply):
        with pytest.raises(KubeInvalidRequest):
            call(request_)
    assert running.requests[mark:] == []


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.text(min_size=1, max_size=300).filter(lambda s: not s.isascii() or not s.islower() or not s.isalnum()))
def test_any_non_dns_name_is_refused_before_any_request(
    running: RunningCluster, gateway: KubeGateway, name: str
) -> None:
    mark = len(running.requests)
    try:
        gateway.step_preview(step("scale", name, replicas=1))
    except KubeInvalidName:
        assert running.requests[mark:] == []
    except KubeError as exc:  # a valid DNS name that simply does not exist (e.g. "a-b")
        assert type(exc).__name__ == "KubeNotFound", exc


# --- through Temporal's activity environment ----------------------------------------------------


def test_activities_register_under_the_contract_names_and_fail_typed(gateway: KubeGateway) -> None:
    acts = KubeStepActivities(gateway)
    names = [fn.__temporal_activity_definition.name for fn in acts.all()]  # type: ignore[attr-defined]
    assert names == ["kube_step_preview", "kube_step_apply"]
    env = ActivityEnvironment()
    preview: StepPreview = env.run(acts.kube_step_preview, step("scale", replicas=3))
    assert preview.would_change and preview.summary == "scale deployment/web from 2 to 3 replicas"
    stale = step("scale", replicas=3, expected=preview.observed.replace("replicas=2", "replicas=9"))
    with pytest.raises(ApplicationError) as err:
        env.run(acts.kube_step_apply, stale)
    assert err.value.type == "PreviewStale" and err.value.non_retryable
    assert "replicas 9 → 2" in str(err.value)
    done = env.run(acts.kube_step_apply, step("scale", replicas=3, expected=preview.observed))
    assert done.outcome == "applied" and done.api_calls == 2
    with pytest.raises(ApplicationError) as err:
        env.run(acts.kube_step_preview, step("scale", "../x", replicas=3))
    assert err.value.type == "InvalidName" and err.value.non_retryable


def test_rollback_apply_resumes_from_its_heartbeat(running: RunningCluster, gateway: KubeGateway) -> None:
    """No key, and the worker died after the PATCH: the retry gets the chosen ReplicaSet back from the
    heartbeat, finds its template already in place, and writes nothing (the revision moved: ours)."""
    acts = KubeStepActivities(gateway)
    preview = gateway.step_preview(step("rollback"))
    request_ = step("rollback", expected=preview.observed)
    first_env, beats = ActivityEnvironment(), []
    first_env.on_heartbeat = lambda *details: beats.append(details[0])
    first = first_env.run(acts.kube_step_apply, request_)
    assert (first.outcome, first.api_calls) == ("applied", 3)
    assert beats == [{"target_replica_set": first.details["target_replica_set"]}]
    running.cluster.wait_for(lambda: running.cluster.rollout_complete(NS, "web"))
    mark = len(running.requests)
    retry_env = ActivityEnvironment()
    retry_env.info = dataclasses.replace(retry_env.info, attempt=2, heartbeat_details=[beats[-1]])
    retry = retry_env.run(acts.kube_step_apply, request_)
    assert retry.outcome == "already_applied" and "already matches" in retry.summary
    assert patches(running, mark) == []
    assert world(running)[0]["spec"]["template"]["spec"]["containers"][0]["image"] == "example.com/web:v2"


def test_other_applies_heartbeat_before_their_write(gateway: KubeGateway) -> None:
    env, beats = ActivityEnvironment(), []
    env.on_heartbeat = lambda *details: beats.append(details[0])
    assert env.run(KubeStepActivities(gateway).kube_step_apply, step("pause-rollout")).outcome == "applied"
    assert beats == [{"action": "pause-rollout"}]
