"""The real kubectl against the sandbox cluster: the seed's diagnostic commands must work as on a
real cluster (kubectl is the reference client, so this is the emulator's fidelity test)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from sandbox.cluster import RunningCluster
from sandbox.cluster.resources import PODS
from tests.kubernetes.conftest import KUBECTL, NS, Kubectl

pytestmark = pytest.mark.system("kubectl")


def rows(output: str) -> dict[str, list[str]]:
    return {line.split()[0]: line.split() for line in output.splitlines()[1:]}


def crashing_pod(running: RunningCluster) -> str:
    return next(
        p["metadata"]["name"]
        for p in running.cluster.store.list(PODS, NS)
        if p["metadata"]["name"].startswith("worker-") and p["status"]["containerStatuses"][0]["restartCount"]
    )


def test_get_pods_shows_what_grep_v_running_needs(kubectl: Kubectl, running: RunningCluster) -> None:
    result = kubectl("get", "pods", "-n", NS)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    table = rows(result.stdout)
    crash = table[crashing_pod(running)]
    assert crash[1:3] == ["0/1", "CrashLoopBackOff"] and int(crash[3]) > 5 and crash[5] == "ago)"  # "14 (79s ago)"
    not_running = {name.rsplit("-", 2)[0] for name, cells in table.items() if cells[2] != "Running"}
    assert not_running == {"worker", "pull"}
    assert all(cells[1] == "1/1" for name, cells in table.items() if name.startswith(("web-", "api-")))


def test_describe_pod_shows_the_oom_kill(kubectl: Kubectl, running: RunningCluster) -> None:
    pod = crashing_pod(running)
    result = kubectl("describe", "pod", pod)
    assert result.returncode == 0, result.stderr
    text = result.stdout
    for expected in (
        f"Name:             {pod}",
        "Controlled By:  ReplicaSet/worker-",
        "State:          Waiting",
        "Reason:       CrashLoopBackOff",
        "Last State:     Terminated",
        "Reason:       OOMKilled",
        "Exit Code:    137",
        "Ready:          False",
        "QoS Class:                    BestEffort",
    ):
        assert expected in text, expected
    events = text.split("Events:")[1]
    assert "Warning  BackOff" in events and "Back-off restarting failed container app" in events


def test_logs_previous_and_selector_grep(kubectl: Kubectl, running: RunningCluster) -> None:
    previous = kubectl("logs", crashing_pod(running), "--previous")
    assert previous.returncode == 0, previous.stderr
    assert previous.stdout.splitlines()[-1] == "FATAL java.lang.OutOfMemoryError: Java heap space"
    recent = kubectl("logs", "-l", "app=api", "--since=5m", "--tail=40")
    errors = [
        line for line in recent.stdout.splitlines() if any(w in line.lower() for w in ("error", "exception", "fatal"))
    ]
    assert recent.returncode == 0 and errors and any("503" in line for line in errors)
    pull_pod = next(
        p["metadata"]["name"] for p in running.cluster.store.list(PODS, NS) if p["metadata"]["name"].startswith("pull-")
    )
    waiting = kubectl("logs", pull_pod)
    assert waiting.returncode == 1 and "is waiting to start: trying and failing to pull image" in waiting.stderr


def test_events_sorted_by_last_timestamp(kubectl: Kubectl) -> None:
    table = kubectl("get", "events", "--sort-by=.lastTimestamp")
    assert table.returncode == 0, table.stderr
    assert table.stdout.splitlines()[0].split() == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    assert any(line.split()[1:3] == ["Warning", "BackOff"] for line in table.stdout.splitlines()[-20:])
    stamps = kubectl(
        "get", "events", "--sort-by=.lastTimestamp", "-o", "custom-columns=LAST:.lastTimestamp", "--no-headers"
    ).stdout.split()
    assert len(stamps) > 20 and stamps == sorted(stamps)


def test_rollout_history(kubectl: Kubectl) -> None:
    result = kubectl("rollout", "history", "deployment/web")
    assert result.returncode == 0, result.stderr
    lines = [line.split(None, 1) for line in result.stdout.splitlines()[2:] if line.strip()]
    assert lines == [["1", "deploy web v1"], ["2", "deploy web v2"], ["3", "deploy web v3"]]
    detail = kubectl("rollout", "history", "deployment/web", "--revision=2")
    assert (
        "Image:\texample.com/web:v2" in detail.stdout and "kubernetes.io/change-cause: deploy web v2" in detail.stdout
    )


def test_rollout_status_done_and_failed(kubectl: Kubectl) -> None:
    done = kubectl("rollout", "status", "deployment/web", "--timeout=10s")
    assert (done.returncode, done.stdout.strip()) == (0, 'deployment "web" successfully rolled out')
    failed = kubectl("rollout", "status", "deployment/worker", "--timeout=10s")
    assert failed.returncode == 1 and 'deployment "worker" exceeded its progress deadline' in failed.stderr


def test_rollout_status_watches_a_live_rollout(
    kubectl: Kubectl, kubeconfig: Path, tmp_path: Path, running: RunningCluster
) -> None:
    """Over a watch: kubectl lists, then follows the Deployment's changes until it is rolled out."""
    assert KUBECTL is not None  # the kubectl fixture skipped otherwise
    cluster = running.cluster
    with cluster.held():  # the new template is written, but no controller has seen it yet
        cluster.set_image(NS, "web", "example.com/web:v4")
        process = subprocess.Popen(
            [
                KUBECTL,
                "--kubeconfig",
                str(kubeconfig),
                "--cache-dir",
                str(tmp_path / "cache"),
                "rollout",
                "status",
                "deployment/web",
                "--timeout=20s",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert process.stdout is not None
        first = process.stdout.readline()  # printed from the initial list, before the controllers resume
    out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert first.strip() == "Waiting for deployment spec update to be observed..."
    lines = out.splitlines()
    assert lines[-1] == 'deployment "web" successfully rolled out'
    assert any(
        "new replicas have been updated" in line
        or "updated replicas are available" in line
        or "old replicas are pending termination" in line
        for line in lines[1:-1]
    )
