"""Prometheus Alertmanager webhook, payload version 4 (`webhook_configs`).

Fields as documented at https://prometheus.io/docs/alerting/latest/configuration/#webhook_config
and sent by Alertmanager 0.25+. One POST carries one alert group: the group's `groupKey` names the
incident and every alert in `alerts[]` (firing or resolved) is delivered to it. Unknown fields are
ignored so a newer Alertmanager keeps working.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from warroom.intake.normalize import Defaults, Delivery, fingerprint_of, labelled_alert, summary_of

NAME = "alertmanager"


class _Vendor(BaseModel):
    model_config = ConfigDict(extra="ignore")


class AlertmanagerAlert(_Vendor):
    status: Literal["firing", "resolved"]
    labels: dict[str, str] = Field(
        ..., description="identify the alert; `service`, `namespace`, `deployment` are allow-listed"
    )
    annotations: dict[str, str] = Field(default_factory=dict)
    startsAt: datetime | None = None
    endsAt: datetime | None = None
    generatorURL: str = ""
    fingerprint: str = ""


class AlertmanagerPayload(_Vendor):
    """Alertmanager's webhook body (version 4)."""

    model_config = ConfigDict(extra="ignore", title="AlertmanagerWebhook")

    version: Literal["4"]
    groupKey: str = Field(
        ..., min_length=1, max_length=4096, description="identifies the alert group: one incident per key"
    )
    truncatedAlerts: int = Field(0, ge=0)
    status: Literal["firing", "resolved"]
    receiver: str = ""
    groupLabels: dict[str, str] = Field(default_factory=dict)
    commonLabels: dict[str, str] = Field(default_factory=dict)
    commonAnnotations: dict[str, str] = Field(default_factory=dict)
    externalURL: str = ""
    alerts: list[AlertmanagerAlert] = Field(..., min_length=1)


def normalize(payload: AlertmanagerPayload, defaults: Defaults, source: str = NAME) -> Delivery:
    alerts = []
    for i, a in enumerate(payload.alerts):
        extra: tuple[Any, ...] = (a.generatorURL, payload.externalURL, *_grafana_links(a))
        alerts.append(
            labelled_alert(
                source=source,
                group_key=payload.groupKey,
                fingerprint=fingerprint_of(a.fingerprint, a.labels),
                firing=a.status == "firing",
                summary=summary_of(
                    a.annotations.get("summary"),
                    a.annotations.get("description"),
                    payload.commonAnnotations.get("summary"),
                    a.labels.get("alertname"),
                    fallback=f"alert from {source}",
                ),
                labels=a.labels,
                annotations=a.annotations,
                loc=("alerts", i, "labels"),
                defaults=defaults,
                starts_at=a.startsAt,
                ends_at=a.endsAt,
                extra_links=extra,
            )
        )
    return Delivery(source=source, group_key=payload.groupKey, alerts=alerts)


def _grafana_links(alert: AlertmanagerAlert) -> tuple[str, ...]:
    return tuple(getattr(alert, name) for name in ("dashboardURL", "panelURL", "silenceURL") if hasattr(alert, name))
