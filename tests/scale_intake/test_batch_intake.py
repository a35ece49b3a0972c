"""A notification's alerts are one `ingest_alerts` update: one history event, every alert counted
once, and the same HTTP answer the intake gave when it sent one update per alert."""

from __future__ import annotations

import pytest
from temporalio.client import WithStartWorkflowOperation, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError

from tests.helpers import Harness, incident_input
from tests.intake.support import Intake
from tests.scale_intake.batch_support import intake_updates, notification
from warroom.ids import incident_workflow_id
from warroom.intake import identity
from warroom.models import Alert
from warroom.policy.authority import MAX_ALERTS_PER_UPDATE
from workflows.incident import IncidentWorkflow


async def test_a_notification_of_n_alerts_is_one_update_and_the_answer_is_unchanged(intake: Intake) -> None:
    body = notification(7)
    workflow_id = identity.workflow_id("alertmanager", body["groupKey"])

    first = await intake.post("alertmanager", body)
    more = await intake.post("alertmanager", notification(3, key=None) | {"groupKey": body["groupKey"]})

    assert first.status_code == more.status_code == 200, (first.text, more.text)
    assert first.json() == {
        "accepted": 7,
        "incident_id": identity.incident_id("alertmanager", body["groupKey"]),
        "workflow_id": workflow_id,
        "new_incident": True,
        "alerts_received": 7,
        "phase": first.json()["phase"],
        "ignored": None,
        "duplicate": False,
    }
    assert more.json()["accepted"] == 3 and more.json()["new_incident"] is False
    assert more.json()["alerts_received"] == 10
    assert await intake_updates(intake.client, workflow_id) == [("ingest_alerts", 7), ("ingest_alerts", 3)]
    state = await intake.client.get_workflow_handle(workflow_id).query(IncidentWorkflow.current_state)
    assert state.alerts_received == 10, "every alert counted once"
    assert state.alerts_repeated == 3, "the second notification's fingerprints were already firing"
    assert intake.metric("warroom_intake_alerts_received_total", source="alertmanager") >= 10


async def test_a_notification_over_the_batch_limit_goes_in_batches_in_order(intake: Intake) -> None:
    n = MAX_ALERTS_PER_UPDATE + 30
    body = notification(n)

    response = await intake.post("alertmanager", body)

    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == n and response.json()["alerts_received"] == n
    updates = await intake_updates(intake.client, response.json()["workflow_id"])
    assert updates == [("ingest_alerts", MAX_ALERTS_PER_UPDATE), ("ingest_alerts", 30)]


async def test_a_batch_above_the_limit_or_empty_is_refused_with_its_reason_and_leaves_no_event(
    intake: Intake, worker: Harness
) -> None:
    inp = incident_input()
    workflow_id = incident_workflow_id(inp.incident_id)
    alerts = [
        Alert(fingerprint=f"fp-{i}", summary="Order API returning 503s") for i in range(MAX_ALERTS_PER_UPDATE + 1)
    ]
    start = WithStartWorkflowOperation(
        IncidentWorkflow.run,
        inp,
        id=workflow_id,
        task_queue=worker.queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
    intake.created.append(workflow_id)
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await intake.client.execute_update_with_start_workflow(
            IncidentWorkflow.ingest_alerts, alerts, start_workflow_operation=start
        )
    assert isinstance(refused.value.cause, ApplicationError) and refused.value.cause.type == "TooManyAlerts"
    assert f"at most {MAX_ALERTS_PER_UPDATE}" in str(refused.value.cause)
    handle = intake.client.get_workflow_handle(workflow_id)
    with pytest.raises(WorkflowUpdateFailedError) as empty:
        await handle.execute_update(IncidentWorkflow.ingest_alerts, [])
    assert isinstance(empty.value.cause, ApplicationError) and empty.value.cause.type == "EmptyBatch"
    assert await intake_updates(intake.client, workflow_id) == []
    receipts = await handle.execute_update(IncidentWorkflow.ingest_alerts, alerts[:MAX_ALERTS_PER_UPDATE])
    assert [r.alerts_received for r in receipts] == list(range(1, MAX_ALERTS_PER_UPDATE + 1))
    assert [r.new_incident for r in receipts] == [True] + [False] * (MAX_ALERTS_PER_UPDATE - 1)


async def test_a_resolve_only_batch_opens_nothing_and_resolves_an_open_incident_in_one_update(
    intake: Intake,
) -> None:
    lonely = notification(4, status="resolved")
    ignored = await intake.post("alertmanager", lonely)
    assert ignored.status_code == 200
    assert ignored.json()["accepted"] == 0
    assert ignored.json()["ignored"] == "no open incident for this group: nothing to resolve"
    assert not await intake.exists(ignored.json()["workflow_id"])

    firing = notification(4)
    opened = (await intake.post("alertmanager", firing)).json()
    resolved = await intake.post("alertmanager", notification(4, status="resolved") | {"groupKey": firing["groupKey"]})
    assert resolved.status_code == 200 and resolved.json()["accepted"] == 4
    assert resolved.json()["alerts_received"] == 8 and resolved.json()["new_incident"] is False
    assert await intake_updates(intake.client, opened["workflow_id"]) == [("ingest_alerts", 4), ("ingest_alerts", 4)]
    state = await intake.client.get_workflow_handle(opened["workflow_id"]).query(IncidentWorkflow.current_state)
    assert state.firing_alerts == []
