"""Severity: P1 for complete outage, fast burn, > 10% errors or data loss; P2 for partial impact or
an SLO-affecting burn (the declare criterion: > 5x sustained); else P3 ("non-SLO-affecting")."""

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from warroom.enums import Severity
from warroom.models import ImpactSignals
from warroom.policy import classify_severity, should_declare
from warroom.runbook import DEFAULT_RUNBOOK, load_runbook

RUNBOOK = load_runbook(DEFAULT_RUNBOOK)
DEFINITIONS = RUNBOOK.severity
SUSTAINED = timedelta(minutes=10)


def classify(**signals):
    return classify_severity(ImpactSignals(**signals), DEFINITIONS, RUNBOOK.declare)


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
    assert classify(burn_rate=10.0, burn_sustained=SUSTAINED).severity is Severity.P2


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


@pytest.mark.parametrize("burn", [6.0, 7.0, 10.0])
def test_a_sustained_burn_over_5x_is_slo_affecting_so_never_p3(burn):
    """The issue's cases: declared on their burn, they were classified P3 (no status page, no EM, 4 h)."""
    result = classify(burn_rate=burn, burn_sustained=SUSTAINED)
    assert result.severity is Severity.P2
    assert result.reasons == [f"SLO-affecting burn: {burn:g}x for 10m (> 5x for > 5m)"]


def test_a_burn_of_exactly_5x_is_not_slo_affecting_enough_to_lift_p3():
    assert classify(burn_rate=5.0, burn_sustained=SUSTAINED).severity is Severity.P3


def test_a_burn_of_5_01x_sustained_is_p2():
    assert classify(burn_rate=5.01, burn_sustained=SUSTAINED).severity is Severity.P2


def test_a_burn_not_held_long_enough_to_declare_does_not_lift_p3():
    assert classify(burn_rate=8.0, burn_sustained=timedelta(minutes=5)).severity is Severity.P3
    assert classify(burn_rate=8.0, burn_sustained=timedelta(minutes=5, seconds=1)).severity is Severity.P2
    assert classify(burn_rate=8.0).severity is Severity.P3


def test_a_declaring_burn_is_p2_exactly_when_it_declares():
    """One rule, one set of numbers: the severity's SLO burn is the declare criterion itself."""
    for burn in (4.99, 5.0, 5.01, 9.0):
        for held in (timedelta(minutes=4), timedelta(minutes=5), timedelta(minutes=5, seconds=1)):
            for held_over in (True, False):
                signals = ImpactSignals(burn_rate=burn, burn_sustained=held)
                declared = should_declare(signals, RUNBOOK.declare, held_over).declare
                assessed = classify_severity(signals, DEFINITIONS, RUNBOOK.declare, held_over)
                assert (assessed.severity is Severity.P2) is declared, (burn, held, held_over)


def test_the_burn_rule_follows_the_runbook_declare_numbers():
    criteria = RUNBOOK.declare.model_copy(update={"burn_rate_above": 2.0, "burn_sustained_for": timedelta(minutes=1)})
    signals = ImpactSignals(burn_rate=3.0, burn_sustained=timedelta(minutes=2))
    assert classify_severity(signals, DEFINITIONS, criteria).severity is Severity.P2
    assert classify_severity(signals, DEFINITIONS, RUNBOOK.declare).severity is Severity.P3


def test_incidents_started_before_the_rule_keep_p3_for_a_sustained_burn():
    """`slo_burn=None` is what a replayed incident passes: its history was written under the old rule."""
    signals = ImpactSignals(burn_rate=6.0, burn_sustained=SUSTAINED)
    assert classify_severity(signals, DEFINITIONS, None).severity is Severity.P3


def test_a_sustained_burn_over_10x_is_still_p1():
    result = classify(burn_rate=10.01, burn_sustained=SUSTAINED)
    assert result.severity is Severity.P1
    assert result.reasons == ["SLO burning fast: 10.01x (> 10x)"]


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
