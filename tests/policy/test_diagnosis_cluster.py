"""The decision tree's Kubernetes side: Warning events, each reason on both sides of "occurred"."""

from __future__ import annotations

from datetime import timedelta

import pytest

from warroom.policy.diagnosis import EventSignals, Findings, InfraSignals, LogSignals, PodSignals, diagnose
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
