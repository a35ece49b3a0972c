"""The PIR draft in Markdown, from the incident's state and timeline (the review owner edits it)."""

from __future__ import annotations

from warroom.config import RunbookConfig
from warroom.enums import format_duration
from warroom.models import IncidentState
from warroom.policy.mttx import mttx
from warroom.templates import render

# The timeline entries a review needs; transport chatter (messages sent, phases) stays in `warroom audit`.
REVIEW_KINDS = {
    "opened",
    "alert_firing",
    "alert_resolved",
    "declared",
    "acknowledged",
    "role_assigned",
    "severity_changed",
    "flags_changed",
    "status_update",
    "step_proposed",
    "step_approved",
    "step_denied",
    "escalate",
    "vp_notice",
    "ack_repage",
    "ack_escalate",
    "stakeholders_notified",
    "mitigation_applied",
    "mitigated",
    "resolved",
    "closed",
}


def pir_draft(state: IncidentState, runbook: RunbookConfig) -> str:
    signals = {k: v for k, v in state.signals.model_dump().items() if v not in (None, False)}
    return (
        render(
            "pir_draft",
            {
                "state": state,
                "signals": signals,
                "updates": [e for e in state.timeline if e.kind == "status_update"],
                "timeline": [e for e in state.timeline if e.kind in REVIEW_KINDS],
                "mttx": mttx(state, runbook),
                "fmt": format_duration,
            },
        )
        + "\n"
    )
