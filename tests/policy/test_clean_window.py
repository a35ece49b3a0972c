"""Mitigated only after 5 minutes of clean metrics; any dirty sample or firing alert restarts the clock."""

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from warroom.policy import CleanWindowVerdict, MetricSample, clean_window_verdict
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
