"""The decision tree's Kubernetes side: Warning events, each reason on both sides of "occurred"."""

from __future__ import annotations

from datetime import timedelta

import pytest

from warroom.config import KubernetesChecks
from warroom.policy.diagnosis import Findings, InfraSignals, LogSignals, PodSignals, diagnose
from warroom.policy.diagnosis_cluster import EventSignals, ResourceSignals
from warroom.runbook import load_runbook

OLD_DEPLOY = timedelta(hours=5)


def events(**reasons: int) -> EventSignals:
    return EventSignals(
        checked=True,
        reasons=reasons,
        samples=[f"{reason} pod/api-1: what the kubelet said" for reason, n in reasons.items() if n],
    )


def test_the_runbook_reads_the_seed_s_last_20_events() -> None:
    assert load_runbook().kubernetes_checks.events_tail == 20


@pytest.mark.parametrize(
    ("reason", "hypothesis"),
    [
        ("OOMKilling", "memory leak or undersized memory limit"),
        ("SystemOOM", "memory leak or undersized memory limit"),
        ("BackOff", "pods are not running"),
        ("Unhealthy", "pods fail their health probes"),
        ("FailedMount", "pods cannot mount their volumes"),
        ("FailedAttachVolume", "pods cannot mount their volumes"),
    ],
)
def test_pod_events_decide_where_the_logs_said_nothing(reason: str, hypothesis: str) -> None:
    seen = diagnose(Findings(error_class="5xx", deploy_age=OLD_DEPLOY, events=events(**{reason: 1})))
    assert seen.path[-1] == "service logs" and seen.hypothesis == hypothesis and seen.conclusive
    assert seen.evidence[0] == f"Kubernetes events: 1× {reason}"
    assert f"{reason} pod/api-1: what the kubelet said" in seen.evidence
    # Zero occurrences (or events not read at all) leave the tree where it was.
    for quiet in (events(**{reason: 0}), EventSignals(reasons={reason: 3})):
        d = diagnose(Findings(error_class="5xx", deploy_age=OLD_DEPLOY, events=quiet))
        assert d.hypothesis != hypothesis and d.path[-1] == "infrastructure"


def test_the_logs_come_first_as_the_seed_orders_the_tree() -> None:
    d = diagnose(
        Findings(error_class="5xx", deploy_age=OLD_DEPLOY, logs=LogSignals(exception=2), events=events(BackOff=9))
    )
    assert d.hypothesis == "an exception in a specific code path"


def test_counts_add_up_most_frequent_first() -> None:
    d = diagnose(Findings(error_class="5xx", events=events(BackOff=3, OOMKilling=1, Unhealthy=12)))
    assert d.evidence[0] == "Kubernetes events: 1× OOMKilling"
    assert events(BackOff=3, Unhealthy=12, Evicted=0).shown("BackOff", "Unhealthy", "Evicted") == (
        "12× Unhealthy, 3× BackOff"
    )


@pytest.mark.parametrize(
    ("reason", "hypothesis"),
    [
        ("FailedScheduling", "pods cannot be scheduled"),
        ("Evicted", "pods are being evicted (node pressure)"),
        ("Preempted", "pods are being evicted (node pressure)"),
        ("EvictionThresholdMet", "pods are being evicted (node pressure)"),
    ],
)
@pytest.mark.parametrize("error_class", ["5xx", "timeout"])
def test_cluster_events_are_infrastructure(reason: str, hypothesis: str, error_class: str) -> None:
    d = diagnose(Findings(error_class=error_class, deploy_age=OLD_DEPLOY, events=events(**{reason: 2})))
    assert d.hypothesis.startswith(hypothesis) and d.evidence[0] == f"Kubernetes events: 2× {reason}"
    assert d.path[-1] == ("infrastructure" if error_class == "5xx" else "connection timeouts: network/infrastructure")
    quiet = diagnose(Findings(error_class=error_class, deploy_age=OLD_DEPLOY, events=events(**{reason: 0})))
    assert not quiet.hypothesis.startswith(hypothesis)


def test_cluster_events_come_before_the_host_checks() -> None:
    """A node that cannot place the pods explains more than a busy host does."""
    d = diagnose(
        Findings(
            error_class="5xx",
            events=events(FailedScheduling=1),
            infra=InfraSignals(checked=True, cpu_percent=99),
            pods=PodSignals(not_ready=1),
        )
    )
    assert d.hypothesis.startswith("pods cannot be scheduled") and "infrastructure not checked" not in d.evidence


# --- kubectl top and node allocation, each threshold on both sides --------------------------------

LIMITS = load_runbook().kubernetes_checks


def resources(**values: object) -> ResourceSignals:
    return ResourceSignals.model_validate({"checked": True, "limits": LIMITS, **values})


def test_the_runbook_s_resource_thresholds_are_the_seed_s_90_percent() -> None:
    assert (LIMITS.pod_cpu_saturated_above, LIMITS.pod_memory_saturated_above, LIMITS.node_allocated_above) == (
        90.0,
        90.0,
        90.0,
    )
    assert LIMITS == KubernetesChecks()


@pytest.mark.parametrize(
    ("signals", "hypothesis"),
    [
        ({"cpu_percent_of_limit": 90.0, "cpu_at": "api-1/app"}, None),
        ({"cpu_percent_of_limit": 90.1, "cpu_at": "api-1/app"}, "CPU saturation of the service's pods"),
        ({"memory_percent_of_limit": 90.0, "memory_at": "api-1/app"}, None),
        ({"memory_percent_of_limit": 90.1, "memory_at": "api-1/app"}, "the service's pods are close to their memory"),
        ({"node_cpu_requests_percent": 90.0, "node_memory_requests_percent": 12.0, "node_at": "n1"}, None),
        ({"node_cpu_requests_percent": 90.1, "node_at": "n1"}, "the nodes running the service are fully allocated"),
        ({"node_memory_requests_percent": 95.0, "node_at": "n1"}, "the nodes running the service are fully allocated"),
        ({"node_pressure": []}, None),
        ({"node_pressure": ["n1: DiskPressure"]}, "a node running the service is under pressure"),
    ],
)
def test_kubectl_top_and_node_allocation_at_their_boundaries(
    signals: dict[str, object], hypothesis: str | None
) -> None:
    d = diagnose(Findings(error_class="5xx", deploy_age=OLD_DEPLOY, resources=resources(**signals)))
    if hypothesis is None:
        assert d.hypothesis == "no single cause found" and d.evidence == ["infrastructure not checked"]
    else:
        assert d.hypothesis.startswith(hypothesis) and d.path[-1] == "infrastructure"


def test_resource_thresholds_come_from_the_runbook() -> None:
    strict = KubernetesChecks(pod_cpu_saturated_above=50, node_allocated_above=70)
    d = diagnose(
        Findings(error_class="5xx", resources=resources(cpu_percent_of_limit=50.5, cpu_at="a/b", limits=strict))
    )
    assert d.hypothesis.startswith("CPU saturation") and d.evidence[0] == "a/b uses 50% of its CPU limit (> 50%)"
    d = diagnose(
        Findings(error_class="5xx", resources=resources(node_cpu_requests_percent=71.0, node_at="n1", limits=strict))
    )
    assert d.hypothesis.startswith("the nodes running the service are fully allocated")
    assert "CPU requests 71.0%" in d.evidence[0] and "(> 70%)" in d.evidence[0]


def test_unread_usage_decides_nothing() -> None:
    d = diagnose(
        Findings(error_class="5xx", resources=ResourceSignals(cpu_percent_of_limit=400, node_pressure=["n: X"]))
    )
    assert d.hypothesis == "no single cause found"


def test_node_pressure_comes_first_then_the_pods_then_allocation() -> None:
    everything = resources(
        node_pressure=["n1: MemoryPressure"],
        cpu_percent_of_limit=99,
        cpu_at="a/b",
        memory_percent_of_limit=99,
        memory_at="a/b",
        node_cpu_requests_percent=99,
        node_at="n1",
    )
    order = []
    for drop in ({}, {"node_pressure": []}, {"cpu_percent_of_limit": None}, {"memory_percent_of_limit": None}):
        everything = everything.model_copy(update=drop)
        order.append(diagnose(Findings(error_class="timeout", resources=everything)).hypothesis.split(" ")[:3])
    assert order == [
        ["a", "node", "running"],
        ["CPU", "saturation", "of"],
        ["the", "service's", "pods"],
        ["the", "nodes", "running"],
    ]
