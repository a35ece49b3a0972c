"""Opsgenie outgoing Webhook integration (alert actions).

Fields as documented at https://docs.opsgenie.com/docs/webhook-integration: `action`, `alert`
(`alertId`, `message`, `alias`, `tags`, `entity`, `details`, `priority`, `createdAt` in ms, …),
`source`, `integrationName`. `Create` fires an alert and `Close` resolves it; other actions
(Acknowledge, AddNote, Escalate, …) are answered 200 and ignored. The alert's `alias` (Opsgenie's
dedup key) is the group key. Enable "Add Alert Description/Details to Payload" so `details`
arrive: `details.service` (or a `service:<name>` / `service=<name>` tag) names the service.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field

from warroom.intake.normalize import Defaults, Delivery, dns_label, labelled_alert, severity_hint, summary_of

NAME = "opsgenie"
FIRING = {"Create"}
RESOLVED = {"Close"}
_YEAR_3000_MS = 32503680000000


class _Vendor(BaseModel):
    model_config = ConfigDict(extra="ignore")


class OpsgenieAlert(_Vendor):
    alertId: str = Field(..., min_length=1, max_length=128)
    message: str = ""
    alias: str = Field("", max_length=4096)
    tags: list[str] = Field(default_factory=list, max_length=100)
    tinyId: str = ""
    entity: str = ""
    description: str = ""
    details: dict[str, str] = Field(default_factory=dict)
    priority: str | int | None = None
    source: str = ""
    createdAt: int | None = Field(None, description="milliseconds since the epoch")
    username: str = ""


class OpsgenieSource(_Vendor):
    name: str = ""
    type: str = ""


class OpsgeniePayload(_Vendor):
    """Opsgenie's webhook body."""

    model_config = ConfigDict(extra="ignore", title="OpsgenieWebhook")

    action: str = Field(..., min_length=1, max_length=64)
    alert: OpsgenieAlert
    source: OpsgenieSource | None = None
    integrationName: str = ""
    integrationId: str = ""
    integrationType: str = ""


def _service_tag(tags: list[str]) -> tuple[int, str] | None:
    for i, tag in enumerate(tags):
        for sep in (":", "="):
            name, found, value = tag.partition(sep)
            if found and name.strip().lower() == "service":
                return i, value
    return None


def normalize(payload: OpsgeniePayload, defaults: Defaults) -> Delivery:
    alert = payload.alert
    if payload.action not in FIRING | RESOLVED:
        return Delivery(source=NAME, group_key="", alerts=[], ignored=f"action {payload.action[:64]} is not an alert")
    group_key = alert.alias or alert.alertId
    service = None
    if "service" not in {k.lower() for k in alert.details} and (tagged := _service_tag(alert.tags)):
        service = dns_label(tagged[1], ("alert", "tags", tagged[0]))
    started = None
    if alert.createdAt and 0 < alert.createdAt < _YEAR_3000_MS:
        started = datetime.fromtimestamp(alert.createdAt / 1000, tz=UTC)
    normalized = labelled_alert(
        source=NAME,
        group_key=group_key,
        fingerprint=alert.alertId[:128],
        firing=payload.action in FIRING,
        summary=summary_of(
            alert.message, alert.description, fallback=f"Opsgenie alert {alert.tinyId or alert.alertId}"[:300]
        ),
        labels=alert.details,
        annotations={
            k: v
            for k, v in (("description", alert.description), ("entity", alert.entity), ("tags", ",".join(alert.tags)))
            if v
        },
        loc=("alert", "details"),
        defaults=defaults,
        starts_at=started,
        severity=severity_hint(alert.priority),
        service=service,
    )
    return Delivery(source=NAME, group_key=group_key, alerts=[normalized])
