"""The tree's database checks: the runbook's allow-list, and replication lag on both sides of its limit."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from warroom.config import DatabaseChecks, DatabaseTarget
from warroom.policy.diagnosis import DependencySignals, Findings, diagnose
from warroom.runbook import load_runbook

DB = {"db_checked": True, "db_name": "orders-db", "db_reachable": True, "db_connections": 12, "db_max_connections": 100}


def tree(**signals: object) -> tuple[str, list[str]]:
    d = diagnose(
        Findings(error_class="5xx", deploy_age=timedelta(hours=5), dependencies=DependencySignals(**{**DB, **signals}))
    )  # type: ignore[arg-type]
    return d.hypothesis, d.evidence


def test_the_default_runbook_names_no_database_and_a_30s_lag_limit() -> None:
    checks = load_runbook().database_checks
    assert checks == DatabaseChecks() and checks.for_service("order-api") is None
    assert checks.replication_lag_above == timedelta(seconds=30)


def test_a_service_s_database_must_be_on_the_allow_list() -> None:
    checks = DatabaseChecks(
        databases={"orders-db": DatabaseTarget(host="db-1.internal", credential="orders-db")},
        services={"order-api": "orders-db"},
    )
    assert checks.for_service("order-api") == (
        "orders-db",
        DatabaseTarget(host="db-1.internal", credential="orders-db"),
    )
    assert checks.for_service("billing") is None
    with pytest.raises(ValidationError, match="not listed under databases: billing-db"):
        DatabaseChecks(services={"billing": "billing-db"})
    with pytest.raises(ValidationError, match="must be a DNS label"):
        DatabaseChecks(databases={"Orders DB": DatabaseTarget()})
    with pytest.raises(ValidationError, match="must not be negative"):
        DatabaseChecks(replication_lag_above=timedelta(seconds=-1))
    assert DatabaseChecks(replication_lag_above=timedelta(0)).replication_lag_above == timedelta(0)


@pytest.mark.parametrize(
    ("role", "lag", "lagging"),
    [
        ("standby", 30.0, False),  # at the limit is not beyond it
        ("standby", 30.1, True),
        ("primary", 30.0, False),
        ("primary", 31.0, True),
    ],
)
def test_replication_lag_beyond_the_runbook_s_limit(role: str, lag: float, lagging: bool) -> None:
    replicas = 1 if role == "primary" else None
    hypothesis, evidence = tree(db_role=role, db_replicas=replicas, db_replication_lag_seconds=lag)
    assert hypothesis.startswith("database replication is lagging") is lagging
    if lagging:
        where = "this standby" if role == "standby" else "its most lagging replica"
        assert evidence[0] == f"database orders-db: replication lag {lag:.0f}s on {where} (> 30s)"
    else:
        assert "database orders-db: 12/100 connections, replication lag 30s (≤ 30s)" in evidence


def test_the_limit_is_the_runbook_s() -> None:
    hypothesis, _ = tree(db_role="standby", db_replication_lag_seconds=5.5, db_replication_lag_above_seconds=5)
    assert hypothesis.startswith("database replication is lagging")
    # 0s (a drill's scaled runbook): any lag is lagging, none is not.
    assert tree(db_role="standby", db_replication_lag_seconds=0.001, db_replication_lag_above_seconds=0)[0].startswith(
        "database replication is lagging"
    )
    assert tree(db_role="standby", db_replication_lag_seconds=0, db_replication_lag_above_seconds=0)[0] == (
        "no single cause found"
    )


def test_a_primary_without_replicas_says_so_and_the_tree_goes_on() -> None:
    hypothesis, evidence = tree(db_role="primary", db_replicas=0, db_longest_query_seconds=2.4)
    assert "database orders-db: 12/100 connections, longest query 2s, no replicas" in evidence
    assert hypothesis == "no single cause found"


def test_the_database_s_own_verdicts_come_before_replication() -> None:
    assert tree(db_reachable=False, db_replication_lag_seconds=600)[0] == "the database is down or unreachable"
    assert tree(db_connections=95, db_replication_lag_seconds=600)[0] == "database connection saturation"
