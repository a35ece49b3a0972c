"""The emulator reads each request as kube-apiserver's RequestInfoFactory does: the RBAC check
compares Roles with these attributes, so they are checked against the real server's rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox.cluster.authz import Attributes, RequestLog, attributes, from_activities, read_logs


@pytest.mark.parametrize(
    ("method", "path", "watch", "expected"),
    [
        ("GET", "/api/v1/namespaces/prod/pods", False, ("list", "", "pods", "prod", "")),
        ("GET", "/api/v1/namespaces/prod/pods", True, ("watch", "", "pods", "prod", "")),
        ("GET", "/api/v1/pods", False, ("list", "", "pods", "", "")),
        ("GET", "/api/v1/namespaces/prod/pods/p-1", False, ("get", "", "pods", "prod", "p-1")),
        ("GET", "/api/v1/namespaces/prod/pods/p-1/log", False, ("get", "", "pods/log", "prod", "p-1")),
        ("GET", "/api/v1/nodes/n-1", False, ("get", "", "nodes", "", "n-1")),
        ("PATCH", "/api/v1/nodes/n-1/status", False, ("patch", "", "nodes/status", "", "n-1")),
        ("POST", "/api/v1/namespaces/default/events", False, ("create", "", "events", "default", "")),
        ("GET", "/apis/apps/v1/namespaces/prod/deployments/web", False, ("get", "apps", "deployments", "prod", "web")),
        (
            "PATCH",
            "/apis/apps/v1/namespaces/prod/deployments/web/scale",
            False,
            ("patch", "apps", "deployments/scale", "prod", "web"),
        ),
        (
            "PUT",
            "/apis/apps/v1/namespaces/prod/deployments/web",
            False,
            ("update", "apps", "deployments", "prod", "web"),
        ),
        (
            "DELETE",
            "/apis/apps/v1/namespaces/prod/replicasets/r",
            False,
            ("delete", "apps", "replicasets", "prod", "r"),
        ),
        (
            "DELETE",
            "/apis/apps/v1/namespaces/prod/replicasets",
            False,
            ("deletecollection", "apps", "replicasets", "prod", ""),
        ),
        (
            "GET",
            "/apis/metrics.k8s.io/v1beta1/namespaces/prod/pods",
            False,
            ("list", "metrics.k8s.io", "pods", "prod", ""),
        ),
        ("GET", "/api/v1/namespaces/prod", False, ("get", "", "namespaces", "prod", "prod")),
        ("GET", "/api/v1/namespaces", False, ("list", "", "namespaces", "", "")),
    ],
)
def test_resource_requests(method: str, path: str, watch: bool, expected: tuple[str, ...]) -> None:
    attrs = attributes(method, path, watch)
    assert attrs is not None
    assert (attrs.verb, attrs.group, attrs.resource, attrs.namespace, attrs.name) == expected


@pytest.mark.parametrize("path", ["/api", "/api/v1", "/apis", "/apis/apps", "/apis/apps/v1", "/version", "/healthz"])
def test_discovery_and_health_are_not_resource_requests(path: str) -> None:
    assert attributes("GET", path) is None


def test_the_log_keeps_each_process_apart_and_reads_back(tmp_path: Path) -> None:
    log = RequestLog(tmp_path)
    sent = Attributes("get", "apps", "deployments", "prod", "web", activity="kube_recent_deploy")
    log.append(sent)
    log.append(Attributes("create", "", "events", "default"))
    (tmp_path / "requests-0.jsonl").write_text("")  # another process's, empty
    read = list(read_logs(tmp_path))
    assert read == [sent, Attributes("create", "", "events", "default")]
    assert from_activities(read) == [sent]  # a test's own set-up is not the worker's
