"""Grafana Alerting webhook contact point (Grafana 9+ unified alerting, default payload).

Fields as documented at https://grafana.com/docs/grafana/latest/alerting/configure-notifications/
manage-contact-points/integrations/webhook-notifier/: Alertmanager's group shape plus `orgId`,
`title`, `state`, `message` and per-alert dashboard/panel/silence links and values. A custom
payload template is not supported (the endpoint expects the default body). Optional HMAC signing
(`X-Grafana-Alerting-Signature`, hex HMAC-SHA256 of "<timestamp>:<body>") is verified in auth.py.
"""

from __future__ import annotations

from pydantic import ConfigDict, Field

from warroom.intake.normalize import Defaults, Delivery
from warroom.intake.sources import alertmanager
from warroom.intake.sources.alertmanager import AlertmanagerAlert, _Vendor

NAME = "grafana"


class GrafanaAlert(AlertmanagerAlert):
    silenceURL: str = ""
    dashboardURL: str = ""
    panelURL: str = ""
    imageURL: str = ""
    values: dict[str, float | None] | None = None
    valueString: str = ""


class GrafanaPayload(_Vendor):
    """Grafana's webhook body (version 1)."""

    model_config = ConfigDict(extra="ignore", title="GrafanaWebhook")

    version: str = "1"
    groupKey: str = Field(..., min_length=1, max_length=4096)
    truncatedAlerts: int = Field(0, ge=0)
    orgId: int = 1
    status: str = Field(..., pattern="^(firing|resolved)$")
    state: str = ""
    title: str = ""
    message: str = ""
    receiver: str = ""
    groupLabels: dict[str, str] = Field(default_factory=dict)
    commonLabels: dict[str, str] = Field(default_factory=dict)
    commonAnnotations: dict[str, str] = Field(default_factory=dict)
    externalURL: str = ""
    alerts: list[GrafanaAlert] = Field(..., min_length=1)


def normalize(payload: GrafanaPayload, defaults: Defaults) -> Delivery:
    # The same group semantics as Alertmanager's (Grafana embeds one); only the envelope differs.
    return alertmanager.normalize(payload, defaults, source=NAME)  # type: ignore[arg-type]
