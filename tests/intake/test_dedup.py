"""Dedup by identity: a group is one incident while it is open, and a new one once it closed."""

from __future__ import annotations

from temporalio.client import WorkflowExecutionStatus

from tests.helpers import assert_eventually


async def test_the_same_group_twice_is_one_incident_with_two_alerts(intake, payload):
    body = payload("generic", annotations={})

    first = await intake.post("generic", body)
    second = await intake.post("generic", body)

    assert first.status_code == second.status_code == 200
    assert first.json()["workflow_id"] == second.json()["workflow_id"]
    assert (first.json()["new_incident"], second.json()["new_incident"]) == (True, False)
    assert second.json()["alerts_received"] == 2
    assert intake.metric("warroom_intake_incidents_started_total", source="generic") == 1
    assert intake.metric("warroom_intake_alerts_deduplicated_total", source="generic") == 1


async def test_a_closed_incident_is_not_reopened_the_same_key_opens_a_new_one(intake, payload):
    firing = payload("generic", signals=None, annotations={})
    opened = (await intake.post("generic", firing)).json()
    handle = intake.client.get_workflow_handle(opened["workflow_id"])
    first_run = (await handle.describe()).run_id

    # Resolved before anyone declared it: the runbook dismisses the incident and it closes.
    resolved = await intake.post("generic", {**firing, "status": "resolved"})
    assert resolved.json()["accepted"] == 1

    async def closed() -> None:
        assert (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED

    await assert_eventually(closed)
    again = await intake.post("generic", firing)

    assert again.status_code == 200
    assert again.json()["new_incident"] is True and again.json()["alerts_received"] == 1
    assert (await handle.describe()).run_id != first_run


async def test_a_resolved_alert_with_no_open_incident_opens_nothing(intake, payload):
    body = payload("generic", status="resolved")

    response = await intake.post("generic", body)

    assert response.status_code == 200
    assert response.json()["accepted"] == 0
    assert response.json()["ignored"] == "no open incident for this group: nothing to resolve"
    assert not await intake.exists(response.json()["workflow_id"])
