"""The tree's "What error codes?": the dominant status-code class, on both sides of every boundary."""

from __future__ import annotations

from datetime import timedelta

import pytest

from warroom.config import DiagnosisQueries, ErrorClass
from warroom.policy.diagnosis import Findings, diagnose
from warroom.policy.error_classes import describe_error_classes, dominant_error_class
from warroom.runbook import load_runbook


@pytest.mark.parametrize(
    ("shares", "dominant"),
    [
        ({"5xx": 0.05, "4xx": 0.0, "timeout": 0.0}, "5xx"),
        ({"5xx": 0.02, "4xx": 0.021, "timeout": 0.0}, "4xx"),  # just above the 5xx share
        ({"5xx": 0.021, "4xx": 0.02, "timeout": 0.0}, "5xx"),  # just below it
        ({"5xx": 0.02, "4xx": 0.02, "timeout": 0.001}, "unknown"),  # a tie at the top is no answer
        ({"5xx": 0.01, "4xx": 0.002, "timeout": 0.03}, "timeout"),
        ({"5xx": 0.0, "4xx": 0.0, "timeout": 0.0}, "unknown"),  # no errors: nothing to follow
        ({"5xx": 0.0, "4xx": 1e-9, "timeout": 0.0}, "4xx"),  # any share above zero counts
        ({"5xx": None, "4xx": None, "timeout": None}, "unknown"),  # no traffic: no reading
        ({"5xx": None, "4xx": 0.01, "timeout": None}, "4xx"),  # a class without a reading does not compete
        ({}, "unknown"),  # none configured
    ],
)
def test_the_dominant_class(shares: dict[ErrorClass, float | None], dominant: str) -> None:
    assert dominant_error_class(shares) == dominant


def test_the_readings_are_evidence_in_the_tree_s_order() -> None:
    shares: dict[ErrorClass, float | None] = {"timeout": None, "4xx": 0.12, "5xx": 0.005}
    assert describe_error_classes(shares) == "error classes: 5xx 0.5%, 4xx 12.0%, timeout no reading"
    assert describe_error_classes({}) == "error classes: none configured"


def test_a_4xx_reading_reaches_the_4xx_branch_with_its_numbers() -> None:
    shares: dict[ErrorClass, float | None] = {"5xx": 0.02, "4xx": 0.10, "timeout": 0.02}
    d = diagnose(Findings(error_class=dominant_error_class(shares), error_shares=shares, deploy_age=timedelta(0)))
    assert d.path == ["error codes: 4xx"] and not d.conclusive  # even with a deploy a minute old
    assert d.evidence == ["error classes: 5xx 2.0%, 4xx 10.0%, timeout 2.0%"]


def test_a_timeout_reading_reaches_the_network_branch() -> None:
    shares: dict[ErrorClass, float | None] = {"5xx": 0.01, "4xx": 0.0, "timeout": 0.06}
    d = diagnose(Findings(error_class=dominant_error_class(shares), error_shares=shares))
    assert d.path[:2] == ["error codes: timeout", "connection timeouts: network/infrastructure"]
    assert d.evidence[0] == "error classes: 5xx 1.0%, 4xx 0.0%, timeout 6.0%"


def test_the_runbook_s_classes_are_disjoint_status_code_classes() -> None:
    classes = load_runbook().metrics.diagnosis.error_classes
    assert classes == DiagnosisQueries().error_classes
    assert set(classes) == {"5xx", "4xx", "timeout"}
    assert 'code=~"5..",code!="504"' in classes["5xx"] and 'code=~"4..",code!="408"' in classes["4xx"]
    assert 'code=~"408|504"' in classes["timeout"]


def test_a_class_query_without_service_is_refused() -> None:
    with pytest.raises(ValueError, match=r"error_classes.4xx must use \$service"):
        DiagnosisQueries(error_classes={"4xx": "sum(rate(http_requests_total[1m]))"})
