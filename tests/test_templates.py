"""Every built-in message renders from the context the workflows give it; a team can override any."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from tests.helpers import utc
from warroom.enums import Role, Severity, spell_duration
from warroom.messages import internal_context, public_context
from warroom.models import IncidentState
from warroom.runbook import load_runbook
from warroom.templates import render, template_names

RUNBOOK = load_runbook()
NOW = utc(2026, 11, 27, 14, 23)
STATE = IncidentState(
    incident_id="order-api-1",
    service="order-api",
    summary="Order API 503s",
    severity=Severity.P1,
    channel="#incident-2026-11-27-order-api-1407",
    roles={Role.INCIDENT_COMMANDER: "alice"},
    opened_at=NOW - timedelta(minutes=16),
    declared_at=NOW - timedelta(minutes=15),
)
EXTRA: dict = dict(
    reason="30m without mitigation",
    waited="5m",
    due="14:30",
    evidence="no alert firing",
    step_id="s1",
    proposed_by="bob",
    action="rollback",
    target="deployment/order-api",
    description="",
    status="Investigating",
    error_rate=8,
    hypothesis="pool leak",
    next_action="roll back",
    owner="bob",
    eta="14:40",
    public_status="identified",
    public_message="A deployment caused errors.",
    audience="alice",
    date="2026-11-27",
    team="Acme",
    path="error codes: 5xx → server errors",
    hypothesis_text="x",
    reasons=["deploy 3h ago (> 2h)"],
    deploy_age="20m",
    images="order-api:v2.14.3",
    error_ratio="0.08",
    baseline_error_ratio="0.00",
    contraindications="none",
    veto="2m",
    samples=["ERROR 503"],
    action_text="roll back",
    page_action="acknowledge",
    opened_at="2026-11-27 14:07",
    resolved_at="2026-11-27 15:02",
    timeline=["2026-11-27 14:07 UTC incident opened", "2026-11-27 15:02 UTC resolved"],
    mttx=["triage (incident opened → declared with severity): 1m (target 10m, met)"],
    escalated="engineering-team-lead",
    vendor_ticket="ZD-4711",
    recorded_by="alice",
    ticket_key="OPS-7",
    ticket_url="https://acme.atlassian.net/browse/OPS-7",
    ticket_stage="opened",
    step="scale",
    preview_summary="scale deployment/order-api from 3 to 6 replicas",
    changes=["spec.replicas: 3 → 6"],
    would_change=True,
    digest="3f9a0c1b2d4e",
    policy="ic",
    escalating=None,
    outcome="done",
    result="deployment.apps/order-api scaled",
    duration="2s",
    verification='passed: deployment "order-api" successfully rolled out',
)
PUBLIC = {
    "status_initial",
    "status_identified",
    "status_update",
    "still_investigating",
    "status_resolved",
    "customer_email",
}


@pytest.mark.parametrize("name", [n for n in template_names() if n != "pir_draft"])
def test_each_builtin_template_renders(name: str) -> None:
    if name in PUBLIC:
        context = public_context(STATE, RUNBOOK, NOW, True, **EXTRA)
    else:
        context = {**public_context(STATE, RUNBOOK, NOW, True), **internal_context(STATE, RUNBOOK, NOW, **EXTRA)}
    assert render(name, context).strip()


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_customer_facing_messages_carry_no_names(name: str) -> None:
    text = render(name, public_context(STATE, RUNBOOK, NOW, True, **EXTRA))
    assert "alice" not in text and "bob" not in text and "pool leak" not in text


def test_a_team_folder_overrides_one_template_and_keeps_the_rest(tmp_path: Path) -> None:
    (tmp_path / "still_investigating.j2").write_text("We're on it: {{ title }}.")
    context = public_context(STATE, RUNBOOK, NOW, True)
    assert render("still_investigating", context, str(tmp_path)) == "We're on it: Elevated Error Rate — Order Api."
    assert render("status_initial", context, str(tmp_path)).startswith("INVESTIGATING")


# --- The IC script, as the seed writes it ------------------------------------------------------


def script(name: str, state: IncidentState, **extra: object) -> str:
    return render(name, internal_context(state, RUNBOOK, NOW, **extra))


def test_the_opening_is_the_seed_script_with_the_people_named() -> None:
    roles = {Role.INCIDENT_COMMANDER: "alice", Role.OPERATIONS_LEAD: "bob", Role.COMMUNICATIONS_LEAD: "carol"}
    assert script("ic_opening", STATE.model_copy(update={"roles": roles})) == (
        "I'm alice, IC for this incident. Operations Lead is bob, Comms Lead is carol.\n"
        "All updates go through this channel. I'll post status every 15 minutes.\n"
        "Operations Lead — what do we know so far?"
    )


def test_the_opening_says_who_is_missing_and_that_a_p2_needs_no_comms_lead() -> None:
    p2 = STATE.model_copy(update={"severity": Severity.P2, "roles": {}})
    assert script("ic_opening", p2).splitlines()[0] == (
        "I'm [IC not yet assigned], IC for this incident. Operations Lead is [unassigned], Comms Lead is n/a."
    )
    assert "Comms Lead is [unassigned]." in script("ic_opening", STATE)  # P1: a Comms Lead is required


def test_declaring_mitigation_is_the_seed_script() -> None:
    mitigated = STATE.model_copy(update={"mitigation_action": "Rolled back to v2.14.2"})
    assert script("mitigated", mitigated, evidence="error ratio at baseline") == (
        "Mitigation: Rolled back to v2.14.2. Error rate returning to baseline: 5 minutes of clean metrics "
        "(error ratio at baseline).\nMonitoring for 10 minutes before declaring resolved."
    )


def test_declaring_resolved_is_the_seed_script() -> None:
    resolved = STATE.model_copy(
        update={"pir": STATE.pir.model_copy(update={"owner": "bob", "due": utc(2026, 12, 4, 14, 23)})}
    )
    assert script("resolved", resolved) == (
        "RESOLVED: 14:23 UTC. Service restored. PIR will be filed by 2026-12-04 (bob).\n"
        "Thank you all. alice please file the incident ticket. Channel archived in 24h."
    )


@pytest.mark.parametrize(
    ("seconds", "spelled"),
    [
        (0, "0 seconds"),
        (1, "1 second"),
        (60, "1 minute"),
        (900, "15 minutes"),
        (5400, "1 hour 30 minutes"),
        (90061, "1 day 1 hour 1 minute 1 second"),
    ],
)
def test_durations_are_spelled_as_the_scripts_write_them(seconds: int, spelled: str) -> None:
    assert spell_duration(timedelta(seconds=seconds)) == spelled


# --- The seed's communication templates: trigger, last action, impact and cause -----------------

DEPLOYED = NOW - timedelta(minutes=18)
KNOWN = STATE.model_copy(
    update={
        "signals": STATE.signals.model_copy(update={"error_ratio": 0.08}),
        "peak_error_ratio": 0.08,
        "trigger": "Deploy of order-api:v2.14.3 at 14:05 UTC",
        "deployed_at": DEPLOYED,
        "last_action": "rolled back to order-api:v2.14.2 at 14:20 UTC",
        "mitigated_at": NOW - timedelta(minutes=2),
    }
)


def public(name: str, state: IncidentState, details: bool = True) -> str:
    return render(name, public_context(state, RUNBOOK, NOW, details, date="2026-11-27", team="Acme"))


UPDATE = dict(hypothesis="pool leak", next_action="watch the graphs", owner="bob", eta="14:40")


def test_the_channel_update_carries_trigger_and_last_action() -> None:
    lines = script("internal_update", KNOWN, status="Mitigating", error_rate=8, **UPDATE).splitlines()
    assert "TRIGGER: Deploy of order-api:v2.14.3 at 14:05 UTC" in lines
    assert "LAST ACTION: rolled back to order-api:v2.14.2 at 14:20 UTC" in lines
    assert lines.index("TRIGGER: Deploy of order-api:v2.14.3 at 14:05 UTC") < lines.index("CURRENT THEORY: pool leak")
    unknown = script("internal_update", STATE, status="Investigating", error_rate=None, **UPDATE).splitlines()
    assert "TRIGGER: not known yet" in unknown and "LAST ACTION: none yet" in unknown


def test_the_initial_status_page_post_states_the_measured_impact() -> None:
    assert "Impact: Approximately 8% of requests are failing." in public("status_initial", KNOWN)
    assert "Impact" not in public("status_initial", STATE)  # no measurement: nothing claimed
    assert "Impact" not in public("status_initial", KNOWN, details=False)  # a security incident says less


def test_identified_names_the_deploy_and_the_rollback() -> None:
    text = public("status_identified", KNOWN)
    assert text.splitlines()[0] == "IDENTIFIED: Elevated Error Rate — Order Api"
    assert "A deployment at 14:05 UTC introduced a regression." in text
    assert "We are executing a rollback to the previous version." in text


def test_the_resolved_post_states_cause_and_impact_only_when_established() -> None:
    text = public("status_resolved", KNOWN)
    assert "The issue was caused by a deployment at 14:05 UTC that introduced a regression." in text
    assert "Impact: Approximately 8% of requests failed during the incident." in text
    plain = public("status_resolved", STATE)
    assert "caused by" not in plain and "Impact" not in plain


def test_the_customer_email_says_what_happened() -> None:
    text = public("customer_email", KNOWN)
    assert (
        "WHAT HAPPENED\nA software deployment at 14:05 UTC introduced a regression that caused\n"
        "approximately 8% of requests to fail." in text
    )
    assert "WHAT HAPPENED\nAn issue in Order Api caused\nsome requests to fail." in public("customer_email", STATE)


def test_during_the_incident_means_the_peak_and_a_tiny_share_is_said_as_such() -> None:
    draining = KNOWN.model_copy(update={"signals": KNOWN.signals.model_copy(update={"error_ratio": 0.004})})
    assert "Impact: Approximately 8% of requests failed during the incident." in public("status_resolved", draining)
    assert "Impact: Less than 1% of requests are failing." in public("status_initial", draining)


def test_the_approver_is_asked_with_the_preview_and_the_command_that_names_it() -> None:
    asked = {**EXTRA, "veto": None}
    text = script("step_preview", STATE, **asked)
    assert "scale deployment/order-api from 3 to 6 replicas" in text and "spec.replicas: 3 → 6" in text
    assert f"warroom approve {STATE.incident_id} s1 --preview 3f9a0c1b2d4e" in text
    two = script("step_preview", STATE, **{**asked, "policy": "two_person"})
    assert "two approvers, neither bob" in two
    vetoable = script("step_preview", STATE, **{**EXTRA, "policy": "ic", "veto": "2m"})
    assert "Goes ahead in 2m unless the IC denies" in vetoable
