"""Alertmanager notifications of N alerts, and the intake's updates as the incident's history holds them."""

from __future__ import annotations

import copy
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from tests.helpers import payload_json
from tests.intake.support import payload


def notification(n: int, *, status: str = "firing", key: str | None = None) -> dict[str, Any]:
    """The documented Alertmanager example carrying `n` alerts of one group, distinct fingerprints."""
    body = payload("alertmanager", key)
    template = body["alerts"][1]
    alerts = []
    for i in range(n):
        alert = copy.deepcopy(template)
        alert["status"] = status
        alert["fingerprint"] = f"fp-{i:04d}"
        alert["labels"]["instance"] = f"order-api-7d9f-{i}:8080"
        if status == "resolved":
            alert["endsAt"] = "2024-05-20T14:09:00Z"
        alerts.append(alert)
    body["alerts"], body["status"] = alerts, status
    return body


async def intake_updates(client: Client, workflow_id: str) -> list[tuple[str, int]]:
    """(update name, alerts it carried) for every accepted intake update in the incident's history."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    found = []
    for event in history.events:
        if event.event_type != EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
            continue
        request = event.workflow_execution_update_accepted_event_attributes.accepted_request
        if request.input.name in ("ingest_alert", "ingest_alerts"):
            arg = payload_json(request.input.args.payloads[0])
            found.append((request.input.name, len(arg) if isinstance(arg, list) else 1))
    return found
