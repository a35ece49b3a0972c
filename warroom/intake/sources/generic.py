"""warroom's own alert schema, for senders without a dedicated endpoint (scripts, synthetic
monitors, a support-ticket bot). Documented in docs/intake.md and in the OpenAPI spec.

Unlike the vendor payloads (which ignore unknown fields so new vendor versions keep working),
this one forbids them: a typo in a field name is a 422, not a silently dropped value.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, StringConstraints

from warroom.enums import Severity
from warroom.intake.normalize import Defaults, Delivery, labelled_alert, summary_of
from warroom.models import ImpactSignals

NAME = "generic"

DnsLabel = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")]


class GenericAlert(BaseModel):
    """One alert. Only `group_key`, `service` and `summary` are required."""

    model_config = ConfigDict(
        extra="forbid",
        title="GenericAlert",
        json_schema_extra={
            "examples": [
                {
                    "group_key": "order-api-5xx",
                    "service": "order-api",
                    "summary": "Order API returning 503s",
                    "status": "firing",
                    "labels": {"team": "payments"},
                    "annotations": {"error_rate": "8%"},
                    "namespace": "production",
                    "deployment": "order-api",
                }
            ]
        },
    )

    group_key: str = Field(
        ..., min_length=1, max_length=512, description="alerts with the same key join one incident (while it is open)"
    )
    service: DnsLabel = Field(..., description="DNS-1123 label, e.g. order-api")
    summary: str = Field(..., min_length=1, max_length=300, description="the observable symptom, one line")
    status: Literal["firing", "resolved"] = "firing"
    fingerprint: str | None = Field(
        None, min_length=1, max_length=128, description="identifies this alert within the group (default: group_key)"
    )
    severity: Literal["P1", "P2", "P3"] | None = Field(None, description="a hint; the runbook's criteria still decide")
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    namespace: DnsLabel | None = Field(None, description="Kubernetes namespace of the service's Deployment")
    deployment: DnsLabel | None = Field(None, description="the Deployment, for diagnostics and rollback")
    labels: dict[
        Annotated[str, StringConstraints(max_length=64)], Annotated[str, StringConstraints(max_length=256)]
    ] = Field(default_factory=dict, max_length=64)
    annotations: dict[
        Annotated[str, StringConstraints(max_length=64)], Annotated[str, StringConstraints(max_length=2000)]
    ] = Field(default_factory=dict, max_length=64, description="error_rate, burn_rate, … are read from here too")
    signals: ImpactSignals | None = Field(None, description="impact numbers and flags, when the sender knows them")
    links: list[AnyHttpUrl] = Field(default_factory=list, max_length=8)


def normalize(payload: GenericAlert, defaults: Defaults) -> Delivery:
    labels = dict(payload.labels)
    labels["service"] = payload.service
    for name in ("namespace", "deployment"):
        if getattr(payload, name):
            labels[name] = getattr(payload, name)
    alert = labelled_alert(
        source=NAME,
        group_key=payload.group_key,
        fingerprint=payload.fingerprint or payload.group_key[:128],
        firing=payload.status == "firing",
        summary=summary_of(payload.summary, fallback=f"alert {payload.group_key}"[:300]),
        labels=labels,
        annotations=payload.annotations,
        loc=("labels",),
        defaults=defaults,
        starts_at=payload.starts_at,
        ends_at=payload.ends_at,
        extra_links=tuple(str(u) for u in payload.links),
        severity=Severity(payload.severity) if payload.severity else None,
        explicit=payload.signals,
    )
    return Delivery(source=NAME, group_key=payload.group_key, alerts=[alert])
