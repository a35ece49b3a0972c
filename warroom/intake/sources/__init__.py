"""One module per sender: its payload model (from the vendor's documentation) and `normalize`.

`SOURCES` maps the endpoint name (`POST /alerts/<name>`) to its spec; auth.py decides how each
one authenticates.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from warroom.intake.normalize import Defaults, Delivery
from warroom.intake.sources import alertmanager, generic, grafana, opsgenie, pagerduty


@dataclass(frozen=True)
class SourceSpec:
    name: str
    model: type[BaseModel]
    normalize: Callable[[Any, Defaults], Delivery]
    summary: str
    methods: tuple[str, ...] = ("POST",)


SOURCES: dict[str, SourceSpec] = {
    spec.name: spec
    for spec in (
        SourceSpec(
            alertmanager.NAME,
            alertmanager.AlertmanagerPayload,
            alertmanager.normalize,
            "Prometheus Alertmanager webhook (version 4): one incident per groupKey",
        ),
        SourceSpec(
            pagerduty.NAME,
            pagerduty.PagerDutyPayload,
            pagerduty.normalize,
            "PagerDuty v3 webhook (signed): incident.triggered/reopened fire, incident.resolved resolves",
        ),
        SourceSpec(
            opsgenie.NAME,
            opsgenie.OpsgeniePayload,
            opsgenie.normalize,
            "Opsgenie outgoing webhook: Create fires, Close resolves; alias is the group key",
        ),
        SourceSpec(
            grafana.NAME,
            grafana.GrafanaPayload,
            grafana.normalize,
            "Grafana Alerting webhook contact point (optionally HMAC-signed)",
            ("POST", "PUT"),
        ),
        SourceSpec(
            generic.NAME, generic.GenericAlert, generic.normalize, "warroom's generic JSON alert (see docs/intake.md)"
        ),
    )
}

__all__ = ["SOURCES", "SourceSpec"]
