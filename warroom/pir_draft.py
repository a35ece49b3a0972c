"""The PIR draft in Markdown, from the incident's state and timeline (the review owner edits it)."""

from __future__ import annotations

from datetime import timedelta

from warroom.config import RunbookConfig
from warroom.enums import format_duration
from warroom.models import IncidentState
from warroom.policy.mttx import mttx
from warroom.templates import render

# Transport chatter (prompts, failed deliveries, phase bookkeeping) stays in `warroom audit`; everything
# else that happened is the review's story: alerts, people's decisions, and what the phases did
# (diagnosis, the rollback rule's verdict, the rollback and its rollout, relapses, escalations).
CHATTER_KINDS = {
    "phase_completed",
    "notification_failed",
    "internal_update",
    "external_prompt",
    "pir_reminder",
    "action_item_reminder",
    "customer_email_reminder",
}


def signal_text(name: str, value: object) -> str:
    """A signal as a reviewer reads it: ratios as percentages, burn rates as multiples, durations."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, timedelta):
        return format_duration(value)
    if isinstance(value, float) and name.endswith("ratio"):
        return f"{value * 100:.2f} %"
    if isinstance(value, float) and name == "burn_rate":
        return f"{value:.1f}x"
    return str(value)


def pir_draft(state: IncidentState, runbook: RunbookConfig) -> str:
    signals = {
        k.replace("_", " "): signal_text(k, v)
        for k, v in state.signals.model_dump().items()
        if v is not None and v is not False
    }
    return (
        render(
            "pir_draft",
            {
                "state": state,
                "signals": signals,
                "updates": [e for e in state.timeline if e.kind == "status_update"],
                "timeline": [e for e in state.timeline if e.kind not in CHATTER_KINDS],
                "mttx": mttx(state, runbook),
                "fmt": format_duration,
            },
        )
        + "\n"
    )
