"""Each sender's documented payload, POSTed over real HTTP, opens an incident in the real dev server.

The bodies in tests/intake/payloads follow the vendors' published examples field for field:
Alertmanager's webhook_config (version 4), PagerDuty's v3 webhook overview, Opsgenie's Webhook
integration, Grafana's webhook notifier, and warroom's generic schema (docs/intake.md).
"""

from __future__ import annotations

from datetime import timedelta

from warroom.intake import identity
from workflows.incident import IncidentWorkflow


async def state(intake, workflow_id):
    return await intake.client.get_workflow_handle(workflow_id).query(IncidentWorkflow.current_state)


async def test_an_alertmanager_group_opens_one_incident_and_delivers_every_alert(intake, payload):
    body = payload("alertmanager")
    response = await intake.post("alertmanager", body)

    assert response.status_code == 200, response.text
    receipt = response.json()
    assert receipt["workflow_id"] == identity.workflow_id("alertmanager", body["groupKey"])
    assert receipt["accepted"] == 2 and receipt["new_incident"] is True
    incident = await state(intake, receipt["workflow_id"])
    assert incident.service == "order-api"
    assert incident.target is not None and str(incident.target) == "production/order-api"
    assert incident.alerts_received == 2
    assert incident.firing_alerts == ["4e6d8a0b9c1f2e33"], "the resolved alert of the group is recorded, not firing"
    assert incident.signals.error_ratio == 0.08 and incident.signals.burn_rate == 12
    assert incident.signals.burn_sustained == timedelta(minutes=10)
    assert incident.declared_at is not None, "burn rate 12x for 10m meets the runbook's declare criteria"


async def test_a_grafana_notification_opens_an_incident(intake, payload):
    body = payload("grafana")
    response = await intake.post("grafana", body)

    assert response.status_code == 200, response.text
    incident = await state(intake, response.json()["workflow_id"])
    assert incident.service == "checkout"
    assert incident.firing_alerts == ["c6eadffa33fcdf37"]
    assert incident.signals.user_error_ratio == 0.03


async def test_pagerduty_triggered_opens_and_resolved_resolves(intake, payload):
    triggered = payload("pagerduty")
    opened = await intake.post("pagerduty", triggered)

    assert opened.status_code == 200, opened.text
    workflow_id = opened.json()["workflow_id"]
    assert workflow_id == identity.workflow_id("pagerduty", triggered["event"]["data"]["incident_key"])
    incident = await state(intake, workflow_id)
    assert incident.service == "order-api", "PagerDuty's service name 'Order API' becomes a DNS label"
    assert incident.firing_alerts == ["PGR0VU2"]

    resolved = payload("pagerduty")
    resolved["event"].update(event_type="incident.resolved")
    resolved["event"]["data"].update(incident_key=triggered["event"]["data"]["incident_key"], status="resolved")
    closed = await intake.post("pagerduty", resolved)

    assert closed.status_code == 200 and closed.json()["accepted"] == 1
    incident = await state(intake, workflow_id)
    assert incident.firing_alerts == [] and incident.alerts_received == 2
    assert any(entry.kind == "alert_resolved" for entry in incident.timeline)


async def test_pagerduty_events_that_are_not_alerts_are_acknowledged_and_ignored(intake, payload):
    acknowledged = payload("pagerduty")
    acknowledged["event"]["event_type"] = "incident.acknowledged"

    response = await intake.post("pagerduty", acknowledged)

    assert response.status_code == 200
    assert response.json()["ignored"] == "event type incident.acknowledged is not an alert"
    assert len(intake.calls) == 0


async def test_opsgenie_create_opens_and_close_resolves(intake, payload):
    created = payload("opsgenie")
    opened = await intake.post("opsgenie", created)

    assert opened.status_code == 200, opened.text
    workflow_id = opened.json()["workflow_id"]
    assert workflow_id == identity.workflow_id("opsgenie", created["alert"]["alias"])
    incident = await state(intake, workflow_id)
    assert incident.service == "search-api", "from the `service:search-api` tag"
    assert incident.signals.error_ratio == 0.06

    closed = payload("opsgenie", action="Close", alert={**created["alert"], "details": {}, "description": ""})
    response = await intake.post("opsgenie", closed)

    assert response.status_code == 200 and response.json()["accepted"] == 1
    assert (await state(intake, workflow_id)).firing_alerts == []


async def test_the_generic_schema_opens_an_incident(intake, payload):
    body = payload("generic")
    response = await intake.post("generic", body)

    assert response.status_code == 200, response.text
    incident = await state(intake, response.json()["workflow_id"])
    assert incident.service == "order-api" and str(incident.target) == "production/order-api"
    assert incident.signals.error_ratio == 0.08 and incident.signals.user_error_ratio == 0.02
    assert incident.declared_at is not None, "2% of users seeing errors is over the runbook's 1%"


async def test_openapi_health_and_metrics_are_served(intake, payload):
    await intake.post("generic", payload("generic"))

    spec = (await intake.http.get("/openapi.json")).json()
    health = (await intake.http.get("/healthz")).json()
    metrics = (await intake.http.get("/metrics")).text

    assert {f"/alerts/{s}" for s in ("alertmanager", "pagerduty", "opsgenie", "grafana", "generic")} <= set(
        spec["paths"]
    )
    assert "GenericAlert" in spec["components"]["schemas"]
    assert health == {"status": "ok", "temporal": "reachable"}
    assert 'warroom_intake_alerts_received_total{source="generic"} 1.0' in metrics
    assert 'warroom_intake_incidents_started_total{source="generic"} 1.0' in metrics
    assert 'warroom_intake_request_duration_seconds_count{code="200",source="generic"} 1.0' in metrics
