"""Mitigated only after 5 minutes of clean metrics; any dirty sample or firing alert restarts the clock."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from warroom.policy import CleanWindowVerdict, MetricSample, clean_window_verdict
from warroom.policy.clean_window import incident_deploy, judged_against
from warroom.runbook import DEFAULT_RUNBOOK, load_runbook

WINDOW = load_runbook(DEFAULT_RUNBOOK).resolve.clean_window
MITIGATED = datetime(2026, 3, 10, 14, 20, tzinfo=UTC)
BASELINE = 0.001


def at(minutes: float) -> datetime:
    return MITIGATED + timedelta(minutes=minutes)


def sample(minutes: float, error_ratio: float = BASELINE) -> MetricSample:
    return MetricSample(at=at(minutes), error_ratio=error_ratio)


def verdict(now: datetime, samples=(), last_firing_alert_at=None) -> CleanWindowVerdict:
    return clean_window_verdict(
        now=now,
        window=WINDOW,
        mitigation_applied_at=MITIGATED,
        baseline_error_ratio=BASELINE,
        samples=list(samples),
        last_firing_alert_at=last_firing_alert_at,
    )


def test_the_default_window_is_5_minutes():
    assert WINDOW == timedelta(minutes=5)


def test_4m59s_of_clean_metrics_is_not_enough():
    result = verdict(MITIGATED + timedelta(minutes=4, seconds=59))
    assert result.clean is False
    assert result.remaining == timedelta(seconds=1)
    assert result.clean_since == MITIGATED


def test_exactly_5m_of_clean_metrics_is_clean():
    result = verdict(at(5), samples=[sample(1), sample(3)])
    assert result.clean is True
    assert result.remaining == timedelta(0)
    assert result.reason.startswith("clean for 5m since")


def test_samples_at_baseline_are_clean():
    assert verdict(at(5), samples=[sample(4.5, BASELINE)]).clean is True


def test_a_relapse_restarts_the_window():
    samples = [sample(1), sample(2, error_ratio=0.05), sample(3)]
    result = verdict(at(5), samples)
    assert result.clean is False
    assert result.clean_since == at(2)
    assert result.remaining == timedelta(minutes=2)
    assert "5.0% above baseline 0.1%" in result.reason
    assert verdict(at(7), samples).clean is True


def test_dirty_samples_before_the_mitigation_do_not_count():
    result = verdict(at(5), samples=[sample(-2, error_ratio=0.5)])
    assert result.clean is True
    assert result.clean_since == MITIGATED


def test_samples_from_the_future_are_ignored():
    result = verdict(at(5), samples=[sample(6, error_ratio=0.5)])
    assert result.clean is True


def test_a_firing_alert_restarts_the_window():
    result = verdict(at(5), last_firing_alert_at=at(1))
    assert result.clean is False
    assert result.clean_since == at(1)
    assert result.remaining == timedelta(minutes=1)


def test_an_alert_that_stopped_before_the_mitigation_does_not_count():
    assert verdict(at(5), last_firing_alert_at=at(-1)).clean is True


def test_the_latest_disturbance_wins():
    result = verdict(at(6), samples=[sample(3, 0.2)], last_firing_alert_at=at(2))
    assert result.clean_since == at(3)


offsets = st.integers(min_value=-600, max_value=1200).map(lambda s: timedelta(seconds=s))


@given(
    elapsed=offsets,
    samples=st.lists(st.tuples(offsets, st.floats(0, 1)), max_size=10),
    alert=st.none() | offsets,
)
def test_never_clean_before_the_window_has_passed_since_mitigation(elapsed, samples, alert):
    now = MITIGATED + elapsed
    result = verdict(
        now,
        [MetricSample(at=MITIGATED + o, error_ratio=r) for o, r in samples],
        None if alert is None else MITIGATED + alert,
    )
    if elapsed < WINDOW:
        assert result.clean is False
    assert result.clean_since >= MITIGATED
    assert result.clean is (result.remaining == timedelta(0))


# --- "Clean" is the pre-deploy baseline where the incident has a deploy, the declare threshold where not --

OPENED = datetime(2026, 3, 10, 14, 7, tzinfo=UTC)
WITHIN = load_runbook(DEFAULT_RUNBOOK).rollback.deploy_within


def test_a_deploy_up_to_2_hours_before_the_incident_is_the_incidents_deploy():
    assert WITHIN == timedelta(hours=2)
    assert incident_deploy(OPENED - WITHIN, OPENED, WITHIN) == OPENED - WITHIN
    assert incident_deploy(OPENED - WITHIN - timedelta(seconds=1), OPENED, WITHIN) is None
    assert incident_deploy(OPENED + timedelta(minutes=3), OPENED, WITHIN) == OPENED + timedelta(minutes=3)
    assert incident_deploy(None, OPENED, WITHIN) is None


def test_with_a_pre_deploy_reading_clean_is_that_baseline_plus_the_tolerance():
    assert judged_against(0.002, 0.001, 0.01, has_deploy=True) == (
        pytest.approx(0.003),
        "pre-deploy baseline 0.2% (+0.1%)",
    )


def test_without_a_deploy_clean_is_the_declare_threshold():
    assert judged_against(None, 0.001, 0.01, has_deploy=False) == (0.01, "declare threshold 1.0%")
    assert judged_against(None, 0.001, 0.01, has_deploy=True) == (
        0.01,
        "declare threshold 1.0% (no reading before the deploy)",
    )


def test_a_sample_at_the_pre_deploy_baseline_is_clean_and_one_just_above_is_not():
    threshold, words = judged_against(0.002, 0.001, 0.01, has_deploy=True)
    on = clean_window_verdict(
        now=at(5),
        window=WINDOW,
        mitigation_applied_at=MITIGATED,
        baseline_error_ratio=threshold,
        samples=[sample(3, 0.003)],
        baseline=words,
    )
    above = clean_window_verdict(
        now=at(5),
        window=WINDOW,
        mitigation_applied_at=MITIGATED,
        baseline_error_ratio=threshold,
        samples=[sample(3, 0.0031)],
        baseline=words,
    )
    assert on.clean is True and on.baseline == words
    assert above.clean is False
    assert "error ratio 0.31% above pre-deploy baseline 0.2% (+0.1%)" in above.reason
    # The 0.31 % that is not clean here would be clean against the 1 % declare threshold.
    assert (
        clean_window_verdict(
            now=at(5),
            window=WINDOW,
            mitigation_applied_at=MITIGATED,
            baseline_error_ratio=0.01,
            samples=[sample(3, 0.0031)],
        ).clean
        is True
    )
