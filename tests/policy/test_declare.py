"""Phase 2: declare if ANY criterion applies; every threshold is strict, burn needs more than its duration."""

from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from warroom.config import DeclareCriteria
from warroom.models import ImpactSignals
from warroom.policy import DeclareDecision, should_declare
from warroom.runbook import DEFAULT_RUNBOOK, load_runbook

CRITERIA = load_runbook(DEFAULT_RUNBOOK).declare


def decide(**signals) -> DeclareDecision:
    return should_declare(ImpactSignals(**signals), CRITERIA)


def test_no_signals_means_no_incident():
    decision = decide()
    assert decision.declare is False
    assert decision.reasons == ["no declare criterion met"]


def test_exactly_one_percent_of_users_is_not_declared():
    decision = decide(user_error_ratio=0.01)
    assert decision.declare is False
    assert decision.reasons == ["1.0% of users see errors (not > 1.0%)"]


def test_just_over_one_percent_of_users_is_declared():
    decision = decide(user_error_ratio=0.0101)
    assert decision.declare is True
    assert decision.reasons == ["1.01% of users see errors (> 1.0%)"]


def test_reason_quotes_the_numbers():
    assert decide(user_error_ratio=0.02).reasons == ["2.0% of users see errors (> 1.0%)"]


def test_burn_above_5x_for_4m59s_is_not_declared():
    decision = decide(burn_rate=6.0, burn_sustained=timedelta(minutes=4, seconds=59))
    assert decision.declare is False
    assert decision.reasons == ["SLO burn rate 6x for 4m59s (needs > 5x for > 5m)"]


def test_burn_above_5x_held_exactly_5m_is_not_declared():
    """The seed: "SLO burn rate > 5x for > 5 minutes"; 5:00 is not more than 5 minutes."""
    decision = decide(burn_rate=6.0, burn_sustained=timedelta(minutes=5))
    assert decision.declare is False
    assert decision.reasons == ["SLO burn rate 6x for 5m (needs > 5x for > 5m)"]


def test_burn_above_5x_held_5m01s_is_declared():
    decision = decide(burn_rate=6.0, burn_sustained=timedelta(minutes=5, seconds=1))
    assert decision.declare is True
    assert decision.reasons == ["SLO burn rate 6x for 5m1s (> 5x for > 5m)"]


def test_any_time_past_5m_is_more_than_5_minutes():
    assert decide(burn_rate=6.0, burn_sustained=timedelta(minutes=5, microseconds=1)).declare is True


def test_incidents_started_before_the_strict_reading_still_declare_at_5m():
    """`held_over=False` is what a replayed incident passes: its history was written under `>=`."""
    signals = ImpactSignals(burn_rate=6.0, burn_sustained=timedelta(minutes=5))
    decision = should_declare(signals, CRITERIA, held_over=False)
    assert decision.declare is True
    assert decision.reasons == ["SLO burn rate 6x for 5m (> 5x for 5m)"]
    short = ImpactSignals(burn_rate=6.0, burn_sustained=timedelta(minutes=4, seconds=59))
    assert should_declare(short, CRITERIA, held_over=False).declare is False


def test_burn_of_exactly_5x_is_not_declared_however_long():
    assert decide(burn_rate=5.0, burn_sustained=timedelta(hours=1)).declare is False


def test_burn_of_5_01x_for_5m01s_is_declared():
    assert decide(burn_rate=5.01, burn_sustained=timedelta(minutes=5, seconds=1)).declare is True


def test_the_duration_is_the_runbook_s():
    criteria = CRITERIA.model_copy(update={"burn_sustained_for": timedelta(minutes=2)})
    held = ImpactSignals(burn_rate=6.0, burn_sustained=timedelta(minutes=2))
    assert should_declare(held, criteria).declare is False
    longer = ImpactSignals(burn_rate=6.0, burn_sustained=timedelta(minutes=2, seconds=1))
    assert should_declare(longer, criteria).declare is True


def test_burn_without_a_duration_is_not_enough():
    assert decide(burn_rate=50.0).declare is False


def test_complete_unavailability_is_declared():
    decision = decide(complete_unavailability=True)
    assert decision.declare is True
    assert decision.reasons == ["service completely unavailable for some customers"]


def test_data_loss_is_declared():
    decision = decide(data_loss=True)
    assert decision.declare is True
    assert decision.reasons == ["data loss or potential data loss"]


def test_a_criterion_switched_off_in_the_runbook_does_not_declare():
    criteria = DeclareCriteria(complete_unavailability=False, data_loss=False)
    signals = ImpactSignals(complete_unavailability=True, data_loss=True)
    assert should_declare(signals, criteria).declare is False


def test_every_criterion_met_is_a_reason():
    decision = decide(
        user_error_ratio=0.5,
        burn_rate=20,
        burn_sustained=timedelta(minutes=10),
        complete_unavailability=True,
        data_loss=True,
    )
    assert decision.declare is True
    assert len(decision.reasons) == 4


def test_only_met_criteria_are_reasons_when_declared():
    decision = decide(user_error_ratio=0.005, data_loss=True)
    assert decision.reasons == ["data loss or potential data loss"]


ratios = st.floats(min_value=0, max_value=1, allow_nan=False)


@given(low=ratios, high=ratios)
def test_declaring_is_monotone_in_the_user_error_ratio(low, high):
    low, high = sorted((low, high))
    if decide(user_error_ratio=low).declare:
        assert decide(user_error_ratio=high).declare


@given(ratio=ratios)
def test_users_alone_declare_exactly_above_the_threshold(ratio):
    assert decide(user_error_ratio=ratio).declare is (ratio > CRITERIA.user_error_ratio_above)
