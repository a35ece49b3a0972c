"""The facts a message template may use, drawn from the incident state (pure, workflow-safe).

Public (status page) context carries no names, hypotheses or blame: customer-facing templates
only see what `public_context` puts there.
"""

from __future__ import annotations

from datetime import datetime

from warroom.config import RunbookConfig
from warroom.enums import Role, format_duration
from warroom.models import IncidentState

ContextValue = str | int | float | bool | None | list[str]


def _hm(at: datetime | None) -> str:
    return at.strftime("%H:%M") if at else "?"


def internal_context(
    state: IncidentState, runbook: RunbookConfig, now: datetime, **extra: ContextValue
) -> dict[str, ContextValue]:
    """Context for messages to responders (incident channel, pages, stakeholders)."""
    ctx: dict[str, ContextValue] = {
        "incident_id": state.incident_id,
        "service": state.service,
        "summary": state.summary,
        "severity": state.severity.value if state.severity else None,
        "declared": state.declared_at is not None,
        "channel": state.channel,
        "commander": state.roles.get(Role.INCIDENT_COMMANDER),
        "ops_lead": state.roles.get(Role.OPERATIONS_LEAD),
        "comms_lead": state.roles.get(Role.COMMUNICATIONS_LEAD),
        "comms_lead_required": bool(
            state.severity and state.severity in runbook.roles.communications_lead_required_for
        ),
        "now": _hm(now),
        "opened": _hm(state.opened_at),
        "age": format_duration(now - state.opened_at),
        "internal_every": format_duration(runbook.comms.internal_update_every),
        "next_update": _hm(now + runbook.comms.internal_update_every),
        "clean_window": format_duration(runbook.resolve.clean_window),
        "monitoring_period": format_duration(runbook.resolve.monitoring_period),
        "mitigation_action": state.mitigation_action,
        "trigger": state.trigger,
        "last_action": state.last_action,
        "pir_due": state.pir.due.strftime("%Y-%m-%d") if state.pir.due else None,
        "pir_owner": state.pir.owner,
        "vendor_ticket_missing": bool(state.signals.third_party_vendor and not state.vendor_ticket),
        # Security incidents: channel adapters keep them private (Slack: a private channel).
        "restricted": bool(state.signals.security and not runbook.special_cases.security_incident.public_details),
    }
    ctx.update(extra)
    return ctx


def public_context(
    state: IncidentState, runbook: RunbookConfig, now: datetime, public_details: bool, **extra: ContextValue
) -> dict[str, ContextValue]:
    """Context for the status page: the service and times only, never names or speculation."""
    service_title = state.service.replace("-", " ").title()
    ctx: dict[str, ContextValue] = {
        "incident_id": state.incident_id,
        "service_title": service_title,
        "title": f"Elevated Error Rate — {service_title}" if public_details else "Service Disruption",
        "public_summary": f"elevated error rates affecting {service_title}"
        if public_details
        else "an issue affecting some of our services",
        "opened": _hm(state.opened_at),
        "now": _hm(now),
        "next_update": _hm(now + runbook.comms.external_update_every),
        "mitigated": _hm(state.mitigated_at or now),
        "duration": format_duration((state.mitigated_at or now) - state.opened_at),
        **_impact_and_cause(state, public_details),
    }
    ctx.update(extra)
    return ctx


def _impact_and_cause(state: IncidentState, public_details: bool) -> dict[str, ContextValue]:
    """What the status page may say of impact and cause: measured numbers and a cause the rollback rule
    established (a deploy it rolled back), nothing guessed; none of it when details stay private."""
    ratio = state.signals.error_ratio if public_details else None
    peak = state.peak_error_ratio if public_details else None
    deployed = state.deployed_at if public_details and state.trigger else None
    return {
        "impact": f"{_share(ratio).capitalize()} of requests are failing." if ratio is not None else None,
        "impact_past": f"{_share(peak).capitalize()} of requests failed during the incident."
        if peak is not None
        else None,
        "failed_share": f"{_share(peak)} of requests" if peak is not None else "some requests",
        "deployed": _hm(deployed) if deployed else None,
        "cause": f"The issue was caused by a deployment at {_hm(deployed)} UTC that introduced a regression."
        if deployed
        else None,
    }


def _share(ratio: float) -> str:
    """`approximately 8%`, or `less than 1%` where rounding would say 0%."""
    return f"approximately {ratio * 100:.0f}%" if ratio >= 0.005 else "less than 1%"
