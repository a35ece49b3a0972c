"""Group key → workflow id, and what the intake reads out of labels: pure functions, no servers."""

from __future__ import annotations

import re
from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from warroom.enums import Severity
from warroom.intake.identity import MAX_INCIDENT_ID, incident_id, safe_key, workflow_id
from warroom.intake.normalize import severity_from, signals_from

SAFE = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")


def test_a_safe_key_is_kept_readable_and_an_unsafe_one_gets_a_hash():
    assert workflow_id("generic", "order-api-5xx") == "incident-generic-order-api-5xx"
    hashed = incident_id("alertmanager", '{}/{service="order-api"}:{alertname="HighErrorRate"}')
    assert re.fullmatch(r"alertmanager-service-order-api-alertname-higherrorrate-[0-9a-f]{16}", hashed)
    assert safe_key("Order-API") != "order-api", "case is identity: upper case is hashed, not folded"


def test_a_long_key_is_truncated_with_a_hash():
    key = "a" * 500
    assert len(incident_id("pagerduty", key)) == MAX_INCIDENT_ID
    assert incident_id("pagerduty", key) != incident_id("pagerduty", key + "b")


@given(st.text(max_size=300), st.text(max_size=300))
def test_ids_are_safe_bounded_and_distinct_keys_never_share_one(first, second):
    one, two = incident_id("generic", first), incident_id("generic", second)
    assert SAFE.fullmatch(one) and len(one) <= MAX_INCIDENT_ID
    assert (one == two) == (first == second)


def test_a_key_that_looks_hashed_cannot_impersonate_another_group():
    victim = safe_key("Order API")
    assert safe_key(victim) != victim


def test_impact_signals_and_severity_hints_come_from_documented_keys():
    signals = signals_from(
        {"error_rate": "8%", "burn_rate": "14.4x", "burn_window": "1h", "impact": "partial_outage"},
        {"users_affected": "0.02", "data_loss": "true", "error_ratio": "1.5"},
    )

    assert signals.error_ratio == 0.08, "an out-of-range ratio (1.5) is ignored, not clamped"
    assert signals.burn_rate == 14.4 and signals.burn_sustained == timedelta(hours=1)
    assert signals.user_error_ratio == 0.02 and signals.data_loss and signals.partial_outage
    assert severity_from({"severity": "critical"}) is None, "a team's own words are not the runbook's severity"
    assert severity_from({"severity": "SEV-1"}) == Severity.P1
    assert severity_from({"priority": "P4"}) == Severity.P3
