"""warroom.policy.rollout, branch by branch, on plain dicts (no server)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from warroom.policy import rollout as p

UID = "dep-uid"


def template(image: str, hash_: str | None = None, **extra: Any) -> dict[str, Any]:
    labels = {"app": "web", **({p.POD_TEMPLATE_HASH_LABEL: hash_} if hash_ else {})}
    return {"metadata": {"labels": labels, **extra}, "spec": {"containers": [{"name": "app", "image": image}]}}


def deployment(
    image: str = "web:v3",
    revision: int | None = 3,
    *,
    paused: bool = False,
    annotations: dict[str, str] | None = None,
    generation: int = 4,
    status: dict[str, Any] | None = None,
    replicas: int = 3,
) -> dict[str, Any]:
    ann = dict(annotations or {})
    if revision is not None:
        ann[p.REVISION_ANNOTATION] = str(revision)
    return {
        "metadata": {"name": "web", "namespace": "prod", "uid": UID, "generation": generation, "annotations": ann},
        "spec": {
            "replicas": replicas,
            "paused": paused,
            "selector": {"matchLabels": {"app": "web"}},
            "template": template(image),
        },
        "status": status
        if status is not None
        else {
            "observedGeneration": generation,
            "replicas": replicas,
            "updatedReplicas": replicas,
            "availableReplicas": replicas,
        },
    }


def rs(
    image: str,
    revision: int | str | None,
    created: str,
    *,
    owner: str = UID,
    controller: bool = True,
    annotations: dict[str, str] | None = None,
    name: str | None = None,
) -> dict[str, Any]:
    ann = dict(annotations or {})
    if revision is not None:
        ann[p.REVISION_ANNOTATION] = str(revision)
    hash_ = image.replace(":", "-").replace(".", "")
    return {
        "metadata": {
            "name": name or f"web-{hash_}",
            "uid": f"rs-{hash_}",
            "creationTimestamp": created,
            "annotations": ann,
            "ownerReferences": [{"kind": "Deployment", "uid": owner, "controller": controller}],
        },
        "spec": {"replicas": 0, "template": template(image, hash_)},
    }


HISTORY = [
    rs("web:v1", 1, "2024-11-28T09:00:00Z", annotations={p.CHANGE_CAUSE_ANNOTATION: "v1"}),
    rs("web:v2", 2, "2024-11-28T11:00:00Z", annotations={p.CHANGE_CAUSE_ANNOTATION: "v2", "team": "storefront"}),
    rs("web:v3", 3, "2024-11-28T13:40:00Z", annotations={p.CHANGE_CAUSE_ANNOTATION: "v3"}),
]


# --- rollout status -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "status, generation, done, reason, text",
    [
        (
            {"observedGeneration": 3},
            4,
            False,
            "waiting_generation",
            "Waiting for deployment spec update to be observed...",
        ),
        (
            {"observedGeneration": 4, "conditions": [{"type": "Progressing", "reason": "ProgressDeadlineExceeded"}]},
            4,
            False,
            "deadline_exceeded",
            'deployment "web" exceeded its progress deadline',
        ),
        (
            {"observedGeneration": 4, "updatedReplicas": 1, "replicas": 4},
            4,
            False,
            "updating",
            'Waiting for deployment "web" rollout to finish: 1 out of 3 new replicas have been updated...',
        ),
        (
            {"observedGeneration": 4, "updatedReplicas": 3, "replicas": 4, "availableReplicas": 3},
            4,
            False,
            "terminating_old",
            'Waiting for deployment "web" rollout to finish: 1 old replicas are pending termination...',
        ),
        (
            {"observedGeneration": 4, "updatedReplicas": 3, "replicas": 3, "availableReplicas": 2},
            4,
            False,
            "waiting_available",
            'Waiting for deployment "web" rollout to finish: 2 of 3 updated replicas are available...',
        ),
        (
            {"observedGeneration": 5, "updatedReplicas": 3, "replicas": 3, "availableReplicas": 3},
            4,
            True,
            "complete",
            'deployment "web" successfully rolled out',
        ),
    ],
)
def test_rollout_status_follows_kubectl_in_order(
    status: dict[str, Any], generation: int, done: bool, reason: str, text: str
) -> None:
    verdict = p.rollout_status(deployment(status=status, generation=generation))
    assert (verdict.done, verdict.reason, verdict.message) == (done, reason, text)
    assert (verdict.error is not None) == (reason == "deadline_exceeded")


def test_rollout_status_checks_the_expected_revision_first() -> None:
    stale = deployment(revision=3, status={"observedGeneration": 1}, generation=9)
    verdict = p.rollout_status(stale, expected_revision=4)
    assert verdict.reason == "revision_mismatch"
    assert verdict.error == "desired revision (4) is different from the running revision (3)"
    assert p.rollout_status(deployment(revision=3), expected_revision=3).done
    broken = deployment(annotations={p.REVISION_ANNOTATION: "x"}, revision=None)
    assert p.rollout_status(broken, expected_revision=1).reason == "revision_mismatch"


# --- revision choice ------------------------------------------------------------------------


def test_previous_revision_is_the_second_highest() -> None:
    assert p.rollback_target(deployment(), HISTORY)["metadata"]["name"] == "web-web-v2"


def test_to_revision_picks_an_exact_match() -> None:
    assert p.rollback_target(deployment(), HISTORY, 1)["metadata"]["name"] == "web-web-v1"


def test_unknown_or_negative_revision_is_not_found() -> None:
    with pytest.raises(p.RevisionNotFound, match="unable to find specified revision 7 in history"):
        p.rollback_target(deployment(), HISTORY, 7)
    with pytest.raises(p.RevisionNotFound, match="revision -1"):
        p.rollback_target(deployment(), HISTORY, -1)


def test_without_an_earlier_revision_there_is_no_history() -> None:
    with pytest.raises(p.NoRolloutHistory, match='no rollout history found for deployment "web"'):
        p.rollback_target(deployment(), [HISTORY[2]])


def test_only_replica_sets_the_deployment_controls_count() -> None:
    foreign = rs("web:v9", 9, "2024-11-28T12:00:00Z", owner="someone-else")
    not_controller = rs("web:v8", 8, "2024-11-28T12:30:00Z", controller=False)
    assert p.rollback_target(deployment(), HISTORY + [foreign, not_controller])["metadata"]["name"] == "web-web-v2"


def test_malformed_revisions_are_skipped_and_missing_ones_count_as_zero() -> None:
    malformed = rs("web:v7", "seven", "2024-11-28T12:00:00Z")
    unannotated = rs("web:v0", None, "2024-11-28T08:00:00Z")
    assert p.rollback_target(deployment(), [HISTORY[2], malformed, unannotated])["metadata"]["name"] == "web-web-v0"


@given(st.lists(st.integers(min_value=0, max_value=50), min_size=2, max_size=8, unique=True))
def test_previous_is_second_highest_for_any_history(revisions: list[int]) -> None:
    sets = [rs(f"web:v{r}", r, f"2024-11-{(i % 27) + 1:02d}T00:00:00Z") for i, r in enumerate(revisions)]
    expected = sorted(revisions)[-2]
    assert p.revision(p.rollback_target(deployment(image=f"web:v{max(revisions)}"), sets)) == expected


# --- plan -----------------------------------------------------------------------------------


def test_plan_replaces_template_and_annotations_in_one_json_patch() -> None:
    current = deployment(
        annotations={
            p.CHANGE_CAUSE_ANNOTATION: "v3",
            "kubectl.kubernetes.io/last-applied-configuration": "{}",
            "deployment.kubernetes.io/revision-history": "1",
            "only-on-deployment": "x",
        }
    )
    plan = p.plan_rollback(current, HISTORY)
    assert plan.action == "patch" and plan.message == "rolled back"
    assert (plan.from_revision, plan.target_revision, plan.target_replica_set) == (3, 2, "web-web-v2")
    assert [op["op"] for op in plan.patch] == ["replace", "replace"]
    assert [op["path"] for op in plan.patch] == ["/spec/template", "/metadata/annotations"]
    restored = plan.patch[0]["value"]
    assert restored["metadata"]["labels"] == {"app": "web"}, "pod-template-hash is dropped"
    assert restored["spec"]["containers"][0]["image"] == "web:v2"
    assert plan.patch[1]["value"] == {
        # kept from the Deployment
        p.REVISION_ANNOTATION: "3",
        "kubectl.kubernetes.io/last-applied-configuration": "{}",
        "deployment.kubernetes.io/revision-history": "1",
        # everything else from the ReplicaSet: the old change-cause comes back, "only-on-deployment" goes
        p.CHANGE_CAUSE_ANNOTATION: "v2",
        "team": "storefront",
    }
    assert plan.images == {"app": "web:v2"}


def test_plan_refuses_a_paused_deployment_after_choosing_the_target() -> None:
    with pytest.raises(p.DeploymentPaused, match="you cannot rollback a paused deployment"):
        p.plan_rollback(deployment(paused=True), HISTORY)
    with pytest.raises(p.NoRolloutHistory):  # kubectl looks for history before looking at paused
        p.plan_rollback(deployment(paused=True), [HISTORY[2]])


def test_plan_skips_when_the_template_already_matches() -> None:
    plan = p.plan_rollback(deployment(), HISTORY, 3)
    assert plan.action == "skip" and plan.patch == []
    assert plan.message == "skipped rollback (current template already matches revision 3)"
    # kubectl prints the *requested* revision, so "previous" onto an equal template says 0
    same = rs("web:v3", 2, "2024-11-28T11:00:00Z", name="web-old-copy")
    assert p.plan_rollback(deployment(), [same, HISTORY[2]]).message.endswith("matches revision 0)")


def test_a_pinned_target_skips_the_revision_choice() -> None:
    after_first_attempt = deployment(image="web:v2", revision=4)
    reused = rs("web:v2", 4, "2024-11-28T11:00:00Z", annotations={p.REVISION_HISTORY_ANNOTATION: "2"})
    sets = [HISTORY[0], reused, HISTORY[2]]
    assert p.plan_rollback(after_first_attempt, sets).target_revision == 3, "unpinned: undo flips back"
    assert p.plan_rollback(after_first_attempt, sets, target=reused).action == "skip"


def test_equal_ignore_hash_is_semantic() -> None:
    a = template("web:v1", "abc")
    b = template("web:v1")
    b["spec"]["volumes"] = []
    b["metadata"]["annotations"] = {}
    assert p.equal_ignore_hash(a, b)
    assert not p.equal_ignore_hash(a, template("web:v2"))


def test_selector_string_matches_labels_selector_string() -> None:
    selector = {
        "matchLabels": {"tier": "web", "app": "shop"},
        "matchExpressions": [
            {"key": "env", "operator": "In", "values": ["prod", "canary"]},
            {"key": "legacy", "operator": "DoesNotExist"},
            {"key": "zone", "operator": "NotIn", "values": ["b", "a"]},
            {"key": "gpu", "operator": "Exists"},
        ],
    }
    assert p.selector_string(selector) == "app=shop,env in (canary,prod),gpu,!legacy,tier=web,zone notin (a,b)"


# --- history, deploy timing, migrations -----------------------------------------------------


def test_history_lists_revisions_with_change_cause() -> None:
    reused = rs(
        "web:v1",
        4,
        "2024-11-28T09:00:00Z",
        annotations={p.REVISION_HISTORY_ANNOTATION: "1", p.CHANGE_CAUSE_ANNOTATION: "v1"},
    )
    entries = p.rollout_history(deployment(image="web:v1", revision=4), [reused, HISTORY[1], HISTORY[2]])
    assert [(e.revision, e.change_cause, e.current) for e in entries] == [
        (2, "v2", False),
        (3, "v3", False),
        (4, "v1", True),
    ]
    assert entries[-1].earlier_revisions == [1] and entries[-1].images == {"app": "web:v1"}


def test_a_fresh_replica_set_dates_the_deploy() -> None:
    timing = p.deploy_timing(deployment(), HISTORY)
    assert timing.source == "replicaset-created"
    assert timing.deployed_at == datetime(2024, 11, 28, 13, 40, tzinfo=UTC)


def test_a_reused_replica_set_is_dated_by_the_progressing_condition() -> None:
    reused = rs("web:v2", 4, "2024-11-28T11:00:00Z", annotations={p.REVISION_HISTORY_ANNOTATION: "2"})
    progressing = {
        "type": "Progressing",
        "lastUpdateTime": "2024-11-28T14:02:00Z",
        "message": f'ReplicaSet "{reused["metadata"]["name"]}" has successfully progressed.',
    }
    current = deployment(image="web:v2", revision=4, status={"conditions": [progressing]})
    timing = p.deploy_timing(current, [HISTORY[0], reused, HISTORY[2]])
    assert timing.source == "progressing-condition"
    assert timing.deployed_at == datetime(2024, 11, 28, 14, 2, tzinfo=UTC)
    assert timing.replica_set_created_at == datetime(2024, 11, 28, 11, 0, tzinfo=UTC)
    other = deployment(
        image="web:v2", revision=4, status={"conditions": [{**progressing, "message": 'ReplicaSet "x"'}]}
    )
    assert p.deploy_timing(other, [reused]).source == "unknown"
    assert p.deploy_timing(deployment(image="web:v9"), HISTORY).deployed_at is None


def test_migration_contraindication_compares_markers() -> None:
    marker = {p.DEFAULT_MIGRATION_ANNOTATION: "2024-11-28-jobs-v2"}
    current = deployment(annotations=marker)
    assert "2024-11-28-jobs-v2" in (p.migration_contraindication(current, HISTORY[2], HISTORY[1]) or "")
    carried = rs("web:v2", 2, "2024-11-28T11:00:00Z", annotations=marker)
    assert p.migration_contraindication(current, HISTORY[2], carried) is None, "same migration: safe"
    assert p.migration_contraindication(deployment(), HISTORY[2], HISTORY[1]) is None
    assert (
        p.migration_contraindication(
            deployment(annotations={p.DEFAULT_MIGRATION_ANNOTATION: "false"}), None, HISTORY[1]
        )
        is None
    )
    on_rs_only = rs("web:v3", 3, "2024-11-28T13:40:00Z", annotations=marker)
    assert p.migration_contraindication(deployment(), on_rs_only, HISTORY[1]) is not None
