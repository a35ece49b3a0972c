"""The seed's decision tree, branch by branch."""

from __future__ import annotations

from datetime import timedelta

import pytest

from warroom.policy.diagnosis import (
    RECENT_DEPLOY,
    DependencySignals,
    Findings,
    InfraSignals,
    LogSignals,
    PodSignals,
    classify_log_lines,
    diagnose,
)
from warroom.runbook import load_runbook

RUNBOOK = load_runbook()


def test_4xx_asks_whether_the_traffic_is_expected() -> None:
    d = diagnose(Findings(error_class="4xx"))
    assert d.path == ["error codes: 4xx"] and not d.conclusive and "expected" in d.recommended_action


def test_timeouts_go_to_infrastructure() -> None:
    d = diagnose(Findings(error_class="timeout", infra=InfraSignals(checked=True, network_errors=120)))
    assert d.path[1] == "connection timeouts: network/infrastructure" and d.hypothesis.startswith("network problems")


@pytest.mark.parametrize(
    ("age", "rollback"),
    [
        (timedelta(minutes=29), True),
        (timedelta(minutes=29, seconds=59), True),
        (timedelta(minutes=30), False),  # the seed's "< 30 min deploy window": exactly 30 min is outside
        (timedelta(minutes=30, seconds=1), False),
    ],
)
def test_a_deploy_younger_than_30_minutes_means_roll_back_immediately(age: timedelta, rollback: bool) -> None:
    d = diagnose(Findings(error_class="5xx", deploy_age=age), RUNBOOK.rollback.immediate_deploy_window)
    assert (d.recommended_action == "roll back immediately (< 30m deploy window)") is rollback
    assert ("recent deployment: yes" if rollback else "recent deployment: no") in d.path


def test_the_immediate_window_is_the_runbook_s() -> None:
    assert RUNBOOK.rollback.immediate_deploy_window == timedelta(minutes=30) == RECENT_DEPLOY
    young = Findings(error_class="5xx", deploy_age=timedelta(minutes=9, seconds=59))
    assert diagnose(young, timedelta(minutes=10)).recommended_action == "roll back immediately (< 10m deploy window)"
    ten = Findings(error_class="5xx", deploy_age=timedelta(minutes=10))
    assert "recent deployment: no" in diagnose(ten, timedelta(minutes=10)).path


@pytest.mark.parametrize(
    ("logs", "pods", "hypothesis"),
    [
        (LogSignals(oom=3), PodSignals(), "memory leak"),
        (LogSignals(), PodSignals(oom_killed=1), "memory leak"),
        (LogSignals(db_connection=5), PodSignals(), "database connectivity"),
        (LogSignals(timeout=4), PodSignals(), "a slow dependency"),
        (LogSignals(exception=2), PodSignals(), "an exception in a specific code path"),
        (LogSignals(), PodSignals(crashloop=2), "pods are not running"),
    ],
)
def test_service_logs_branch(logs: LogSignals, pods: PodSignals, hypothesis: str) -> None:
    d = diagnose(Findings(error_class="5xx", deploy_age=timedelta(hours=5), logs=logs, pods=pods))
    assert d.path[-1] == "service logs" and d.hypothesis.startswith(hypothesis)


@pytest.mark.parametrize(
    ("deps", "hypothesis"),
    [
        (DependencySignals(db_checked=True, db_reachable=False), "the database is down"),
        (
            DependencySignals(db_checked=True, db_reachable=True, db_connections=95, db_max_connections=100),
            "database connection saturation",
        ),
        (DependencySignals(db_checked=True, db_reachable=True, db_longest_query_seconds=600), "long-running queries"),
        (DependencySignals(downstream_error_ratio=0.2), "a downstream API"),
    ],
)
def test_dependencies_branch(deps: DependencySignals, hypothesis: str) -> None:
    d = diagnose(Findings(error_class="5xx", dependencies=deps))
    assert d.path[-1] == "dependencies" and d.hypothesis.startswith(hypothesis)


@pytest.mark.parametrize(
    ("infra", "hypothesis"),
    [
        (InfraSignals(checked=True, cpu_percent=90.5), "CPU saturation"),
        (InfraSignals(checked=True, cpu_percent=90.0, oom_events=2), "memory pressure"),
        (InfraSignals(checked=True, disk_await_ms=140), "disk I/O saturation"),
        (InfraSignals(checked=True, network_errors=3), "network problems"),
    ],
)
def test_infrastructure_branch(infra: InfraSignals, hypothesis: str) -> None:
    d = diagnose(Findings(error_class="5xx", infra=infra))
    assert d.path[-1] == "infrastructure" and d.hypothesis.startswith(hypothesis)


def test_nothing_found_is_said_plainly() -> None:
    d = diagnose(Findings(error_class="5xx", infra=InfraSignals(checked=True, cpu_percent=40)))
    assert not d.conclusive and "no single cause" in d.hypothesis


def test_log_classes_follow_the_seed_grep() -> None:
    lines = [
        "INFO GET /healthz 200",
        "FATAL java.lang.OutOfMemoryError: Java heap space",
        "ERROR POST /orders 503 upstream connect error: connection pool exhausted (max=8)",
        "ERROR GET /orders/987 503 io.netty.channel.ConnectTimeoutException: connection timed out",
        "WARN pool wait 2.1s exceeded budget",
        "Traceback (most recent call last): KeyError",
    ]
    signals = classify_log_lines(lines)
    assert (signals.oom, signals.db_connection, signals.timeout, signals.exception) == (1, 1, 1, 1)
    assert len(signals.samples) == 4
