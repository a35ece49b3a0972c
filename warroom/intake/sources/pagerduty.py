"""PagerDuty v3 webhooks (webhook subscriptions).

Fields as documented at https://developer.pagerduty.com/docs/webhooks/v3-overview/: one `event`
per delivery with `id`, `event_type`, `resource_type`, `occurred_at`, `agent`, `client`, `data`.
`incident.triggered` and `incident.reopened` fire an alert, `incident.resolved` resolves it; every
other event type (acknowledged, annotated, priority_updated, pagey.ping, service.*) is answered
200 and ignored. The incident's `incident_key` (its dedup key) is the group key. Authenticity comes
from `X-PagerDuty-Signature` (auth.py); `event.id` and `occurred_at` bound replays.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from warroom.intake.normalize import (
    Defaults,
    Delivery,
    NormalizedAlert,
    PayloadInvalid,
    bounded_labels,
    clean,
    links,
    real_time,
    severity_hint,
    slug_label,
    summary_of,
)
from warroom.models import ImpactSignals

NAME = "pagerduty"
FIRING = {"incident.triggered", "incident.reopened"}
RESOLVED = {"incident.resolved"}


class _Vendor(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Reference(_Vendor):
    id: str = Field(..., max_length=64)
    type: str = ""
    summary: str = ""
    html_url: str | None = None


class PagerDutyIncident(_Vendor):
    """`event.data` of incident events."""

    id: str = Field(..., min_length=1, max_length=64)
    type: str = "incident"
    html_url: str = ""
    number: int | None = None
    status: str = ""
    incident_key: str | None = Field(None, max_length=4096)
    created_at: datetime | None = None
    title: str = ""
    service: Reference
    priority: Reference | None = None
    urgency: str | None = None


class PagerDutyEvent(_Vendor):
    id: str = Field(..., min_length=1, max_length=128)
    event_type: str = Field(..., min_length=1, max_length=128)
    resource_type: str = ""
    occurred_at: datetime
    agent: dict[str, Any] | None = None
    client: dict[str, Any] | None = None
    data: dict[str, Any] = Field(default_factory=dict)


class PagerDutyPayload(_Vendor):
    """PagerDuty's v3 webhook body."""

    model_config = ConfigDict(extra="ignore", title="PagerDutyWebhookV3")

    event: PagerDutyEvent


def normalize(payload: PagerDutyPayload, defaults: Defaults) -> Delivery:
    event = payload.event
    firing = event.event_type in FIRING
    if not firing and event.event_type not in RESOLVED:
        return Delivery(
            source=NAME,
            group_key="",
            alerts=[],
            ignored=f"event type {event.event_type[:64]} is not an alert",
            replay_key=event.id,
            occurred_at=real_time(event.occurred_at),
        )
    try:
        incident = PagerDutyIncident.model_validate(event.data)
    except ValidationError as exc:  # re-rooted at event.data, where it is in the payload
        raise PayloadInvalid(exc, ("event", "data")) from None
    group_key = incident.incident_key or incident.id
    # PagerDuty names services for people ("API Service"); the slug is the DNS label warroom uses.
    service = slug_label(incident.service.summary) or defaults.default_service
    labels = bounded_labels(
        {
            "service": service,
            "pagerduty_service": incident.service.summary,
            "pagerduty_service_id": incident.service.id,
            "urgency": incident.urgency or "",
            "priority": incident.priority.summary if incident.priority else "",
            "status": incident.status,
        }
    )
    alert = NormalizedAlert(
        source=NAME,
        group_key=group_key,
        fingerprint=incident.id,
        service=service,
        firing=firing,
        summary=summary_of(incident.title, fallback=f"PagerDuty incident {clean(incident.id, 64)}"),
        labels={k: v for k, v in labels.items() if v},
        starts_at=real_time(incident.created_at),
        severity_hint=severity_hint(incident.priority.summary if incident.priority else None),
        signals=ImpactSignals(),
        links=links(incident.html_url),
    )
    return Delivery(
        source=NAME, group_key=group_key, alerts=[alert], replay_key=event.id, occurred_at=real_time(event.occurred_at)
    )
