"""The tree's dependency readings from Prometheus: "Timeout errors → check dependency latency" and
"Downstream APIs: error rate? latency P99?", on both sides of the runbook's thresholds."""

from __future__ import annotations

from datetime import timedelta

import pytest

from warroom.config import DiagnosisQueries
from warroom.policy.diagnosis import DependencySignals, Findings, LogSignals, diagnose
from warroom.runbook import load_runbook

RUNBOOK = load_runbook().metrics.diagnosis
OLD = timedelta(hours=5)  # no recent deploy: the tree walks on


def read(**fields: object) -> DependencySignals:
    return DependencySignals(metrics_checked=True, **fields)  # type: ignore[arg-type]


def test_the_thresholds_are_the_runbook_s() -> None:
    assert RUNBOOK == DiagnosisQueries()
    assert (RUNBOOK.downstream_error_above, RUNBOOK.latency_p99_above) == (0.01, timedelta(seconds=1))
    assert RUNBOOK.downstream_error_ratio is None and RUNBOOK.latency_p99 is None  # named by the team, or not read


@pytest.mark.parametrize(
    ("p99", "conclusive", "hypothesis", "evidence"),
    [
        (1.01, True, "a slow dependency", "dependency latency P99 1.01s (> 1s)"),
        (1.0, False, "timeouts while dependency latency is normal", "dependency latency P99 1.00s (≤ 1s)"),
        (0.2, False, "timeouts while dependency latency is normal", "dependency latency P99 0.20s (≤ 1s)"),
    ],
)
def test_timeouts_in_logs_check_the_dependency_p99(
    p99: float, conclusive: bool, hypothesis: str, evidence: str
) -> None:
    f = Findings(
        error_class="5xx", deploy_age=OLD, logs=LogSignals(timeout=4), dependencies=read(latency_p99_seconds=p99)
    )
    d = diagnose(f, thresholds=RUNBOOK)
    assert d.path[-1] == "service logs" and d.hypothesis.startswith(hypothesis) and d.conclusive is conclusive
    assert d.evidence == ["4 timeout errors in logs", evidence]


def test_the_p99_threshold_is_read_from_the_runbook() -> None:
    f = Findings(error_class="5xx", logs=LogSignals(timeout=1), dependencies=read(latency_p99_seconds=0.4))
    tighter = RUNBOOK.model_copy(update={"latency_p99_above": timedelta(milliseconds=300)})
    assert diagnose(f, thresholds=tighter).evidence[-1] == "dependency latency P99 0.40s (> 0.3s)"
    assert diagnose(f, thresholds=RUNBOOK).evidence[-1] == "dependency latency P99 0.40s (≤ 1s)"


@pytest.mark.parametrize(
    ("deps", "note"),
    [
        (read(not_configured=["dependency latency P99"]), "dependency latency P99: not configured"),
        (read(), "dependency latency P99: no reading"),
    ],
)
def test_timeouts_without_a_p99_say_why(deps: DependencySignals, note: str) -> None:
    d = diagnose(Findings(error_class="5xx", logs=LogSignals(timeout=2), dependencies=deps), thresholds=RUNBOOK)
    assert d.hypothesis.startswith("a slow dependency") and d.evidence[-1] == note


def test_an_incident_from_before_the_readings_says_nothing_of_them() -> None:
    d = diagnose(Findings(error_class="5xx", logs=LogSignals(timeout=2)))
    assert d.evidence == ["2 timeout errors in logs"]


@pytest.mark.parametrize(
    ("ratio", "failing"),
    [(0.0101, True), (0.01, False), (0.005, False)],  # the tree's "error rate?": above 1 % blames the API
)
def test_the_downstream_error_ratio_against_the_runbook(ratio: float, failing: bool) -> None:
    d = diagnose(Findings(error_class="5xx", deploy_age=OLD, dependencies=read(downstream_error_ratio=ratio)))
    assert d.hypothesis.startswith("a downstream API is failing") is failing
    sign = ">" if failing else "≤"
    assert f"downstream error ratio {ratio:.1%} ({sign} 1.0%)" in d.evidence


def test_the_downstream_threshold_is_read_from_the_runbook() -> None:
    f = Findings(error_class="5xx", dependencies=read(downstream_error_ratio=0.03))
    assert diagnose(f, thresholds=RUNBOOK).hypothesis.startswith("a downstream API is failing")
    looser = RUNBOOK.model_copy(update={"downstream_error_above": 0.05})
    assert not diagnose(f, thresholds=looser).hypothesis.startswith("a downstream API")


@pytest.mark.parametrize(("p99", "slow"), [(2.5, True), (1.0, False)])
def test_a_slow_downstream_p99_is_a_dependency_cause(p99: float, slow: bool) -> None:
    deps = read(downstream_error_ratio=0.001, latency_p99_seconds=p99)
    d = diagnose(Findings(error_class="5xx", deploy_age=OLD, dependencies=deps), thresholds=RUNBOOK)
    assert (d.hypothesis == "a slow downstream dependency") is slow
    assert d.path[-1] == ("dependencies" if slow else "infrastructure")
    assert d.evidence[:2] == [
        "downstream error ratio 0.1% (≤ 1.0%)",
        f"dependency latency P99 {p99:.2f}s ({'>' if slow else '≤'} 1s)",
    ]


def test_unconfigured_dependency_checks_are_named_in_the_evidence() -> None:
    deps = read(not_configured=["downstream error ratio", "dependency latency P99"])
    d = diagnose(Findings(error_class="5xx", dependencies=deps), thresholds=RUNBOOK)
    assert d.evidence[:2] == ["downstream error ratio: not configured", "dependency latency P99: not configured"]
