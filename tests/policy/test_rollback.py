"""Rollback: deploy within 2h + errors above the pre-deploy baseline + no contraindication = roll back."""

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from warroom.config import RollbackRule
from warroom.policy import RollbackDecision, decide_rollback
from warroom.runbook import DEFAULT_RUNBOOK, load_runbook

RULE = load_runbook(DEFAULT_RUNBOOK).rollback
NOW = datetime(2026, 3, 10, 14, 23, tzinfo=UTC)


def decide(
    *,
    age: timedelta | None = timedelta(minutes=18),
    error_ratio: float | None = 0.08,
    baseline: float | None = 0.001,
    contraindications: list[str] | None = None,
    rule: RollbackRule = RULE,
) -> RollbackDecision:
    return decide_rollback(
        now=NOW,
        deployed_at=None if age is None else NOW - age,
        error_ratio=error_ratio,
        baseline_error_ratio=baseline,
        contraindications=contraindications or [],
        rule=rule,
    )


def test_the_seed_example_rolls_back():
    decision = decide()
    assert decision.rollback is True
    assert decision.reasons == [
        "deployed 18m ago (within 2h)",
        "error rate 8.0% > pre-deploy baseline 0.1%",
        "no contraindication",
    ]


def test_deploy_exactly_2h_ago_still_rolls_back():
    decision = decide(age=timedelta(hours=2))
    assert decision.rollback is True
    assert decision.reasons[0] == "deployed 2h ago (within 2h)"


def test_deploy_2h_and_1s_ago_does_not_roll_back():
    decision = decide(age=timedelta(hours=2, seconds=1))
    assert decision.rollback is False
    assert decision.reasons[0] == "deployed 2h1s ago (not within 2h)"


def test_no_known_deploy_does_not_roll_back():
    decision = decide(age=None)
    assert decision.rollback is False
    assert decision.reasons[0] == "no recent deploy known"
    assert decision.evidence.deploy_age is None


def test_a_deploy_in_the_future_counts_as_just_now():
    decision = decide(age=-timedelta(minutes=3))
    assert decision.rollback is True
    assert decision.evidence.deploy_age == timedelta(0)


def test_errors_equal_to_baseline_do_not_roll_back():
    decision = decide(error_ratio=0.02, baseline=0.02)
    assert decision.rollback is False
    assert decision.reasons[1] == "error rate 2.0% not above pre-deploy baseline 2.0%"


def test_errors_just_above_baseline_roll_back():
    assert decide(error_ratio=0.0201, baseline=0.02).rollback is True


def test_unknown_error_rate_does_not_roll_back():
    for error_ratio, baseline in [(None, 0.01), (0.5, None), (None, None)]:
        decision = decide(error_ratio=error_ratio, baseline=baseline)
        assert decision.rollback is False
        assert decision.reasons[1] == "error rate unknown"


def test_a_runbook_may_roll_back_on_a_recent_deploy_alone():
    rule = RULE.model_copy(update={"require_errors_above_baseline": False})
    assert decide(error_ratio=None, baseline=None, rule=rule).rollback is True


def test_an_applied_db_migration_blocks_the_rollback():
    decision = decide(contraindications=["db_migration_applied"])
    assert decision.rollback is False
    assert decision.reasons[2] == "contraindicated: db_migration_applied"


def test_a_contraindication_the_runbook_does_not_list_is_ignored_but_kept_as_evidence():
    decision = decide(contraindications=["friday_afternoon"])
    assert decision.rollback is True
    assert decision.evidence.contraindications == ["friday_afternoon"]


def test_evidence_records_what_was_decided_on():
    evidence = decide().evidence
    assert evidence.evaluated_at == NOW
    assert evidence.deployed_at == NOW - timedelta(minutes=18)
    assert evidence.deploy_age == timedelta(minutes=18)
    assert (evidence.error_ratio, evidence.baseline_error_ratio) == (0.08, 0.001)


@given(minutes=st.integers(0, 24 * 60), error=st.floats(0, 1), baseline=st.floats(0, 1))
def test_rollback_is_exactly_the_conjunction(minutes, error, baseline):
    decision = decide(age=timedelta(minutes=minutes), error_ratio=error, baseline=baseline)
    assert decision.rollback is (minutes <= 120 and error > baseline)
    assert len(decision.reasons) == 3
