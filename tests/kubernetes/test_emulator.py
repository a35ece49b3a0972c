"""The sandbox API server on its own: paths, JSON, selectors, patches, watches and the controllers,
checked through the official client and raw HTTP (what any client would see)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import httpx
import pytest
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from sandbox.cluster import Cluster, RunningCluster, serve
from sandbox.cluster.resources import DEPLOYMENTS, PODS
from tests.kubernetes.conftest import NS


@pytest.fixture
def api(kubeconfig: Path) -> client.ApiClient:
    cfg = client.Configuration()
    config.load_kube_config(config_file=str(kubeconfig), client_configuration=cfg, persist_config=False)
    with client.ApiClient(cfg) as api_client:
        yield api_client


def pods_of(running: RunningCluster, deployment: str) -> list[dict]:
    return [p for p in running.cluster.store.list(PODS, NS) if p["metadata"]["name"].startswith(f"{deployment}-")]


def test_discovery_documents(running: RunningCluster) -> None:
    http = httpx.Client(base_url=running.url)
    assert http.get("/version").json()["gitVersion"].startswith("v1.32")
    assert http.get("/api").json()["versions"] == ["v1"]
    groups = {g["name"]: g for g in http.get("/apis").json()["groups"]}
    assert groups["apps"]["preferredVersion"]["groupVersion"] == "apps/v1"
    core = {r["name"]: r for r in http.get("/api/v1").json()["resources"]}
    assert core["pods"]["shortNames"] == ["po"] and core["pods"]["namespaced"] and "watch" in core["pods"]["verbs"]
    assert core["pods/log"]["verbs"] == ["get"] and core["namespaces"]["namespaced"] is False
    apps = {r["name"]: r for r in http.get("/apis/apps/v1").json()["resources"]}
    assert apps["deployments/scale"]["group"] == "autoscaling" and apps["deployments/scale"]["kind"] == "Scale"
    missing = http.get("/openapi/v2")
    assert missing.status_code == 404 and missing.json()["kind"] == "Status"


def test_errors_are_status_objects(api: client.ApiClient) -> None:
    with pytest.raises(ApiException) as err:
        client.AppsV1Api(api).read_namespaced_deployment("nope", NS)
    body = json.loads(err.value.body)
    assert err.value.status == 404
    assert (body["reason"], body["message"]) == ("NotFound", 'deployments.apps "nope" not found')


def test_label_selectors(api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)

    def names(selector: str) -> set[str]:
        return {p.metadata.name.split("-")[0] for p in core.list_namespaced_pod(NS, label_selector=selector).items}

    assert names("app=web") == {"web"}
    assert names("app in (web,api)") == {"web", "api"}
    assert "web" not in names("app!=web")
    assert names("pod-template-hash") == {"web", "api", "worker", "frozen", "solo", "pull"}
    assert names("!app") == set()
    with pytest.raises(ApiException) as err:
        core.list_namespaced_pod(NS, label_selector="app=(")
    assert err.value.status == 400


def test_field_selectors_on_events(api: client.ApiClient, running: RunningCluster) -> None:
    core = client.CoreV1Api(api)
    pod = pods_of(running, "worker")[0]["metadata"]["name"]
    selector = f"involvedObject.kind=Pod,involvedObject.name={pod},type=Warning"
    events = core.list_namespaced_event(NS, field_selector=selector).items
    assert events and {(e.involved_object.name, e.type, e.reason) for e in events} == {(pod, "Warning", "BackOff")}
    with pytest.raises(ApiException) as err:
        core.list_namespaced_event(NS, field_selector="spec.bogus=1")
    assert err.value.status == 400 and "field label not supported" in err.value.body


def test_patch_content_types_and_dry_run(api: client.ApiClient, running: RunningCluster) -> None:
    apps = client.AppsV1Api(api)
    apps.patch_namespaced_deployment(
        "web", NS, {"metadata": {"labels": {"tier": "frontend"}}}, _content_type="application/merge-patch+json"
    )
    apps.patch_namespaced_deployment(
        "web", NS, {"metadata": {"labels": {"tier": None}}}, _content_type="application/merge-patch+json"
    )
    assert "tier" not in apps.read_namespaced_deployment("web", NS).metadata.labels
    sidecar = {"spec": {"template": {"spec": {"containers": [{"name": "proxy", "image": "envoy:1"}]}}}}
    apps.patch_namespaced_deployment("web", NS, sidecar)  # a dict body goes as a strategic merge patch
    reorder = {
        "spec": {
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "app"}, {"name": "proxy"}],
                    "containers": [{"name": "proxy", "image": "envoy:2"}],
                }
            }
        }
    }
    apps.patch_namespaced_deployment("web", NS, reorder)
    containers = apps.read_namespaced_deployment("web", NS).spec.template.spec.containers
    assert [(c.name, c.image) for c in containers] == [("app", "example.com/web:v3"), ("proxy", "envoy:2")]
    before = running.cluster.get(DEPLOYMENTS, NS, "web")
    dry = apps.patch_namespaced_deployment(
        "web", NS, [{"op": "replace", "path": "/spec/replicas", "value": 7}], dry_run="All"
    )
    assert dry.spec.replicas == 7 and running.cluster.get(DEPLOYMENTS, NS, "web")["spec"] == before["spec"]
    with pytest.raises(ApiException) as failed:
        apps.patch_namespaced_deployment("web", NS, [{"op": "test", "path": "/spec/replicas", "value": 9}])
    assert failed.value.status == 422
    with pytest.raises(ApiException) as conflict:
        apps.patch_namespaced_deployment(
            "web", NS, {"metadata": {"resourceVersion": "1"}}, _content_type="application/merge-patch+json"
        )
    assert conflict.value.status == 409


def test_a_new_template_gets_a_new_replica_set_and_a_return_reuses_the_old_one(running: RunningCluster) -> None:
    cluster = running.cluster
    cluster.set_image(NS, "web", "example.com/web:v4", change_cause="deploy web v4")
    cluster.wait_for(lambda: cluster.rollout_complete(NS, "web"))
    sets = {rs["spec"]["template"]["spec"]["containers"][0]["image"]: rs for rs in cluster.replica_sets(NS, "web")}
    v4 = sets["example.com/web:v4"]
    hash_ = v4["metadata"]["labels"]["pod-template-hash"]
    assert (
        v4["metadata"]["name"] == f"web-{hash_}" and v4["spec"]["selector"]["matchLabels"]["pod-template-hash"] == hash_
    )
    assert v4["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "4"
    assert v4["metadata"]["annotations"]["kubernetes.io/change-cause"] == "deploy web v4"
    assert v4["metadata"]["ownerReferences"][0]["controller"] is True
    assert all(rs["spec"]["replicas"] == 0 for image, rs in sets.items() if image != "example.com/web:v4")
    assert {p["metadata"]["ownerReferences"][0]["name"] for p in pods_of(running, "web")} == {v4["metadata"]["name"]}

    cluster.set_image(NS, "web", "example.com/web:v2")
    cluster.wait_for(lambda: cluster.rollout_complete(NS, "web"))
    reused = next(
        rs
        for rs in cluster.replica_sets(NS, "web")
        if rs["metadata"]["name"] == sets["example.com/web:v2"]["metadata"]["name"]
    )
    assert reused["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "5"
    assert reused["metadata"]["annotations"]["deployment.kubernetes.io/revision-history"] == "2"
    d = cluster.get(DEPLOYMENTS, NS, "web")
    assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "5"
    assert d["status"]["observedGeneration"] == d["metadata"]["generation"]
    assert [c["reason"] for c in d["status"]["conditions"] if c["type"] == "Progressing"] == ["NewReplicaSetAvailable"]


def test_stuck_rollout_keeps_old_pods_and_exceeds_its_deadline(running: RunningCluster) -> None:
    d = running.cluster.get(DEPLOYMENTS, NS, "worker")
    progressing = next(c for c in d["status"]["conditions"] if c["type"] == "Progressing")
    assert (progressing["status"], progressing["reason"]) == ("False", "ProgressDeadlineExceeded")
    assert d["status"]["updatedReplicas"] == 2 and d["status"]["availableReplicas"] == 1
    crashing = [p for p in pods_of(running, "worker") if p["spec"]["containers"][0]["image"].endswith(":v2")]
    status = crashing[0]["status"]
    container = status["containerStatuses"][0]
    assert status["phase"] == "Running" and container["ready"] is False and container["restartCount"] > 0
    assert container["lastState"]["terminated"]["reason"] == "OOMKilled"
    assert container["lastState"]["terminated"]["exitCode"] == 137
    assert "waiting" in container["state"] or "running" in container["state"]


def test_pod_logs_parameters(api: client.ApiClient, running: RunningCluster) -> None:
    core = client.CoreV1Api(api)
    worker = next(p for p in pods_of(running, "worker") if p["status"]["containerStatuses"][0]["restartCount"])
    previous = core.read_namespaced_pod_log(worker["metadata"]["name"], NS, previous=True)
    lines = previous.splitlines()
    assert lines[0] == "INFO worker v2 starting" and lines[-1] == "FATAL java.lang.OutOfMemoryError: Java heap space"
    api_pod = pods_of(running, "api")[0]["metadata"]["name"]
    tail = core.read_namespaced_pod_log(api_pod, NS, tail_lines=3, timestamps=True)
    assert len(tail.splitlines()) == 3 and tail.splitlines()[0][:4].isdigit() and "Z " in tail.splitlines()[0]
    assert len(core.read_namespaced_pod_log(api_pod, NS, since_seconds=1).splitlines()) <= 21
    assert len(core.read_namespaced_pod_log(api_pod, NS, limit_bytes=10)) == 10
    for pod, kwargs, message in (
        (pods_of(running, "pull")[0], {}, "is waiting to start: trying and failing to pull image"),
        (pods_of(running, "solo")[0], {"previous": True}, "previous terminated container"),
    ):
        with pytest.raises(ApiException) as err:
            core.read_namespaced_pod_log(pod["metadata"]["name"], NS, **kwargs)
        assert err.value.status == 400 and message in json.loads(err.value.body)["message"]


def test_watch_streams_changes_in_order(running: RunningCluster) -> None:
    rv = running.cluster.get(DEPLOYMENTS, NS, "web")["metadata"]["resourceVersion"]
    seen: list[tuple[str, str]] = []
    with httpx.Client(base_url=running.url, timeout=10) as http:
        params = {"watch": "true", "resourceVersion": rv, "fieldSelector": "metadata.name=web", "timeoutSeconds": "5"}
        with http.stream("GET", f"/apis/apps/v1/namespaces/{NS}/deployments", params=params) as stream:
            threading.Timer(0.1, running.cluster.set_image, (NS, "web", "example.com/web:v9")).start()
            for line in stream.iter_lines():
                event = json.loads(line)
                seen.append((event["type"], event["object"]["spec"]["template"]["spec"]["containers"][0]["image"]))
                if event["object"].get("status", {}).get("updatedReplicas") == 2:
                    break
    assert seen[0] == ("MODIFIED", "example.com/web:v9") and {t for t, _ in seen} == {"MODIFIED"}


def test_watch_can_send_initial_events_then_a_bookmark(running: RunningCluster) -> None:
    with httpx.Client(base_url=running.url, timeout=10) as http:
        params = {
            "watch": "1",
            "sendInitialEvents": "true",
            "allowWatchBookmarks": "true",
            "resourceVersionMatch": "NotOlderThan",
            "labelSelector": "app=web",
            "timeoutSeconds": "5",
        }
        events = []
        with http.stream("GET", f"/apis/apps/v1/namespaces/{NS}/replicasets", params=params) as stream:
            for line in stream.iter_lines():
                events.append(json.loads(line))
                if events[-1]["type"] == "BOOKMARK":
                    break
    assert [e["type"] for e in events] == ["ADDED"] * 3 + ["BOOKMARK"]
    assert events[-1]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}


def test_server_side_tables(running: RunningCluster) -> None:
    accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
    with httpx.Client(base_url=running.url) as http:
        table = http.get(
            f"/api/v1/namespaces/{NS}/pods", params={"labelSelector": "app=pull"}, headers={"Accept": accept}
        ).json()
        events = http.get(
            f"/api/v1/namespaces/{NS}/events", params={"includeObject": "Object"}, headers={"Accept": accept}
        ).json()
    assert table["kind"] == "Table" and [c["name"] for c in table["columnDefinitions"]][:5] == [
        "Name",
        "Ready",
        "Status",
        "Restarts",
        "Age",
    ]
    assert table["rows"][0]["cells"][1:4] == ["0/1", "ImagePullBackOff", "0"]
    assert table["rows"][0]["object"]["kind"] == "PartialObjectMetadata"
    assert events["rows"][0]["object"]["kind"] == "Event"


def test_scale_subresource_and_cascading_delete(api: client.ApiClient, running: RunningCluster) -> None:
    apps = client.AppsV1Api(api)
    scale = apps.read_namespaced_deployment_scale("web", NS)
    assert (scale.spec.replicas, scale.status.selector) == (2, "app=web")
    apps.patch_namespaced_deployment_scale(
        "web", NS, {"spec": {"replicas": 3}}, _content_type="application/merge-patch+json"
    )
    running.cluster.wait_for(lambda: len(pods_of(running, "web")) == 3)
    apps.delete_namespaced_deployment("web", NS)
    running.cluster.wait_for(
        lambda: (
            not pods_of(running, "web")
            and not [rs for rs in running.cluster.store.list(DEPLOYMENTS, NS) if rs["metadata"]["name"] == "web"]
        )
    )


def test_list_pages_with_limit_and_continue(api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    first = core.list_namespaced_pod(NS, limit=3)
    rest = core.list_namespaced_pod(NS, limit=100, _continue=first.metadata._continue)
    assert len(first.items) == 3 and first.metadata.remaining_item_count == len(rest.items)
    assert rest.metadata._continue is None


def test_bearer_token_is_required_when_configured(tmp_path: Path) -> None:
    with serve(Cluster(), token="s3cret") as running:
        assert httpx.get(f"{running.url}/api/v1/namespaces").status_code == 401
        cfg = client.Configuration()
        config.load_kube_config(
            config_file=str(running.write_kubeconfig(tmp_path / "kc")), client_configuration=cfg, persist_config=False
        )
        with client.ApiClient(cfg) as api_client:
            names = [n.metadata.name for n in client.CoreV1Api(api_client).list_namespace().items]
    assert names == ["default"]
