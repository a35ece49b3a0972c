"""The tree's "Cache: hit rate? connection errors? memory usage?", where the runbook names the
queries, on both sides of each threshold; and "cache: not configured" where it names none."""

from __future__ import annotations

import pytest

from warroom.config import DiagnosisQueries
from warroom.policy.diagnosis import CACHE_CHECKS, CacheSignals, DependencySignals, Diagnosis, Findings, diagnose
from warroom.runbook import load_runbook

RUNBOOK = load_runbook().metrics.diagnosis


def walk(
    cache: CacheSignals | None, deps: DependencySignals | None = None, thresholds: DiagnosisQueries = RUNBOOK
) -> Diagnosis:
    findings = Findings(error_class="5xx", cache=cache, dependencies=deps or DependencySignals())
    return diagnose(findings, thresholds=thresholds)


def test_the_thresholds_are_the_runbook_s() -> None:
    assert (RUNBOOK.cache_hit_ratio_below, RUNBOOK.cache_errors_above, RUNBOOK.cache_memory_used_above) == (0.8, 0, 0.9)
    assert (RUNBOOK.cache_hit_ratio, RUNBOOK.cache_errors, RUNBOOK.cache_memory_used) == (None, None, None)


def test_no_cache_query_says_not_configured() -> None:
    d = walk(CacheSignals(not_configured=list(CACHE_CHECKS)))
    assert "cache: not configured" in d.evidence and d.path[-1] == "infrastructure"


def test_an_incident_from_before_the_cache_check_says_nothing_of_it() -> None:
    assert not [e for e in walk(None).evidence if e.startswith("cache")]


@pytest.mark.parametrize(
    ("errors", "failing", "evidence"),
    [(0.1, True, "cache connection errors 0.10/s (> 0/s)"), (0.0, False, "cache connection errors 0.00/s (≤ 0/s)")],
)
def test_cache_connection_errors(errors: float, failing: bool, evidence: str) -> None:
    d = walk(CacheSignals(errors_per_second=errors, not_configured=["cache hit ratio", "cache memory used"]))
    assert (d.hypothesis == "the cache is failing (connection errors)") is failing
    assert evidence in d.evidence and "cache hit ratio: not configured" in d.evidence


@pytest.mark.parametrize(("used", "full"), [(0.901, True), (0.9, False)])
def test_cache_memory(used: float, full: bool) -> None:
    d = walk(CacheSignals(memory_used_ratio=used))
    assert d.hypothesis.startswith("the cache is full") is full
    assert f"cache memory used {used:.1%} ({'>' if full else '≤'} 90.0%)" in d.evidence
    assert "cache hit ratio: no reading" in d.evidence  # configured, but nothing read


@pytest.mark.parametrize(("hits", "cold"), [(0.799, True), (0.8, False), (0.97, False)])
def test_cache_hit_ratio(hits: float, cold: bool) -> None:
    d = walk(CacheSignals(hit_ratio=hits))
    assert d.hypothesis.startswith("a cold or thrashing cache") is cold
    assert f"cache hit ratio {hits:.1%} ({'<' if cold else '≥'} 80.0%)" in d.evidence


def test_the_cache_thresholds_are_read_from_the_runbook() -> None:
    cache = CacheSignals(hit_ratio=0.7)
    assert walk(cache).hypothesis.startswith("a cold or thrashing cache")
    looser = RUNBOOK.model_copy(update={"cache_hit_ratio_below": 0.5})
    assert not walk(cache, thresholds=looser).hypothesis.startswith("a cold")


def test_the_cache_comes_between_the_database_and_the_downstream_apis() -> None:
    """The seed's order: Database, Cache, Downstream APIs."""
    failing_downstream = DependencySignals(downstream_error_ratio=0.2)
    assert walk(CacheSignals(hit_ratio=0.1), failing_downstream).hypothesis.startswith("a cold or thrashing cache")
    db_down = DependencySignals(db_checked=True, db_reachable=False)
    assert walk(CacheSignals(hit_ratio=0.1), db_down).hypothesis.startswith("the database is down")
