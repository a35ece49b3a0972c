"""Severity: P1 for complete outage, fast burn, > 10% errors or data loss; P2 for partial impact; else P3."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from warroom.enums import Severity
from warroom.models import ImpactSignals
from warroom.policy import classify_severity
from warroom.runbook import DEFAULT_RUNBOOK, load_runbook

DEFINITIONS = load_runbook(DEFAULT_RUNBOOK).severity


def classify(**signals):
    return classify_severity(ImpactSignals(**signals), DEFINITIONS)


def test_default_definitions_carry_the_seed_numbers():
    assert DEFINITIONS[Severity.P1].error_ratio_above == 0.10
    assert DEFINITIONS[Severity.P1].burn_rate_above == 10.0
    assert DEFINITIONS[Severity.P2].users_affected_above == 0.01


def test_complete_outage_is_p1():
    result = classify(complete_unavailability=True)
    assert result.severity is Severity.P1
    assert result.reasons == ["complete outage"]


def test_data_loss_is_p1():
    assert classify(data_loss=True).severity is Severity.P1


def test_exactly_10_percent_errors_is_p2():
    result = classify(error_ratio=0.10)
    assert result.severity is Severity.P2
    assert result.reasons == ["10.0% of requests degraded (> 1.0%)"]


def test_10_01_percent_errors_is_p1():
    result = classify(error_ratio=0.1001)
    assert result.severity is Severity.P1
    assert result.reasons == ["10.01% of requests failing (> 10.0%)"]


def test_exactly_10x_burn_is_not_p1():
    assert classify(burn_rate=10.0).severity is Severity.P3


def test_burn_over_10x_is_p1():
    result = classify(burn_rate=10.5)
    assert result.severity is Severity.P1
    assert result.reasons == ["SLO burning fast: 10.5x (> 10x)"]


def test_partial_outage_is_p2():
    result = classify(partial_outage=True)
    assert result.severity is Severity.P2
    assert result.reasons == ["partial outage"]


def test_exactly_1_percent_of_users_is_p3():
    assert classify(user_error_ratio=0.01).severity is Severity.P3


def test_over_1_percent_of_users_is_p2():
    result = classify(user_error_ratio=0.0101)
    assert result.severity is Severity.P2
    assert result.reasons == ["1.01% of users affected (> 1.0%)"]


def test_nothing_known_is_a_minor_degradation():
    result = classify()
    assert result.severity is Severity.P3
    assert result.reasons == ["minor degradation"]


def test_the_worst_level_wins():
    assert classify(partial_outage=True, data_loss=True).severity is Severity.P1


@pytest.mark.parametrize(
    ("signals", "expected"),
    [
        ({"error_ratio": 0.08}, Severity.P2),  # the seed's "~8% of API requests returning 503"
        ({"error_ratio": 0.005, "user_error_ratio": 0.002}, Severity.P3),
        ({"user_error_ratio": 0.5}, Severity.P2),
    ],
)
def test_examples(signals, expected):
    assert classify(**signals).severity is expected


@given(low=st.floats(0, 1), high=st.floats(0, 1))
def test_more_errors_never_lower_the_severity(low, high):
    low, high = sorted((low, high))
    assert classify(error_ratio=high).severity.rank <= classify(error_ratio=low).severity.rank
