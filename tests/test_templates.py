"""Every built-in message renders from the context the workflows give it; a team can override any."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from tests.helpers import utc
from warroom.enums import Role, Severity
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
    ticket_key="OPS-7",
    ticket_url="https://acme.atlassian.net/browse/OPS-7",
    ticket_stage="opened",
)
PUBLIC = {"status_initial", "status_update", "still_investigating", "status_resolved", "customer_email"}


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
