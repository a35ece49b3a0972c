"""warroom.incidents, the typed client API the CLI, the drill, the benches and the test helpers use:
its names are the workflow's, and Temporal's errors arrive as warroom's, against the dev server."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.testing import WorkflowEnvironment

from tests.helpers import assert_eventually, incident_input, running_worker
from warroom.enums import Phase, Query, Severity, Update
from warroom.errors import (
    ConnectionFailed,
    IncidentClosed,
    IncidentExists,
    IncidentNotFound,
    NotAnswering,
    Refused,
)
from warroom.incidents import REQUESTS, Incidents, list_query
from warroom.models import Acknowledge, IncidentState, StepDecision, UpdateResult
from warroom.settings import Settings
from workflows.incident import IncidentWorkflow


def test_every_update_and_query_is_the_workflows_with_its_request_type() -> None:
    definition = workflow._Definition.must_from_class(IncidentWorkflow)
    assert {u.value for u in Update} == set(definition.updates)
    for update, request in REQUESTS.items():
        handler = definition.updates[update.value]
        assert (handler.arg_types, handler.ret_type) == ([request], UpdateResult), update
    assert set(Update) - set(REQUESTS) == {Update.INGEST_ALERT, Update.INGEST_ALERTS}  # the intake's, not people's
    assert {q.value for q in Query} == set(definition.queries)
    assert definition.queries[Query.STATE].ret_type is IncidentState


def test_the_list_query_refuses_what_could_break_out_of_its_quotes() -> None:
    assert list_query(Severity.P1, " Order-API ", Phase.COMMAND, True) == (
        "WorkflowType = 'Incident' AND IncidentSeverity = 'P1' AND IncidentService = 'order-api' "
        "AND IncidentPhase = 'command' AND ExecutionStatus = 'Running'"
    )
    for bad in ("a'b", "a\\b", "  "):
        with pytest.raises(ValueError, match="is not a service name"):
            list_query(service=bad)


async def test_start_act_state_and_list_with_temporals_errors_as_warroms(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    incidents = Incidents(dev_env.client)
    service = f"api-{uuid.uuid4().hex[:6]}"
    async with running_worker(dev_env.client, tmp_path) as harness:
        inp = incident_input(
            service=service,
            declared=True,
            declared_by="alice",
            severity=Severity.P2,
            commander="alice",
            publish_search_attributes=True,
        )
        handle = await harness.start(inp)
        with pytest.raises(IncidentExists, match=f"incident {inp.incident_id} already exists"):
            await incidents.start(inp, harness.queue)

        async def in_command() -> None:
            assert (await incidents.state(inp.incident_id)).phase == Phase.COMMAND

        await assert_eventually(in_command)
        result = await incidents.act(handle.id, Update.ACKNOWLEDGE, Acknowledge(by="alice"))
        assert "acknowledged by alice" in result.message

        with pytest.raises(Refused) as refused:
            await incidents.act(inp.incident_id, Update.APPROVE, StepDecision(step_id="s1", by="bob", reason="me"))
        assert refused.value.type == "NotIncidentCommander" and "only the Incident Commander" in refused.value.reason
        assert refused.value.exit_code == 1
        with pytest.raises(TypeError, match="update deny takes StepDecision, not Acknowledge"):
            await incidents.act(inp.incident_id, Update.DENY, Acknowledge(by="alice"))

        async def listed() -> None:
            rows = await incidents.list(list_query(service=service))
            assert [(r.incident_id, r.severity, r.commander) for r in rows] == [(inp.incident_id, "P2", "alice")]

        await assert_eventually(listed, timeout=10, interval=0.5)

        await handle.terminate(reason="closed for the test")
        with pytest.raises(IncidentClosed, match=f"incident {inp.incident_id} is closed"):
            await incidents.act(inp.incident_id, Update.ACKNOWLEDGE, Acknowledge(by="alice"))
    with pytest.raises(IncidentNotFound, match="no incident nope-1 in namespace default") as unknown:
        await incidents.state("nope-1")
    assert unknown.value.exit_code == 2


async def test_an_incident_nobody_works_on_is_not_answering(dev_env: WorkflowEnvironment) -> None:
    """No worker polls its task queue: the call ends at the timeout, saying what to check."""
    incidents = Incidents(dev_env.client, timeout=1.5)
    inp = incident_input(declared=True, declared_by="alice", severity=Severity.P3)
    workflow_id = await incidents.start(inp, f"nobody-{uuid.uuid4().hex[:6]}")
    try:
        with pytest.raises(NotAnswering, match="did not answer within 1.5s: is a warroom worker running"):
            await incidents.act(inp.incident_id, Update.ACKNOWLEDGE, Acknowledge(by="alice"))
    finally:
        await dev_env.client.get_workflow_handle(workflow_id).terminate(reason="test finished")


async def test_an_unreachable_temporal_is_connection_failed() -> None:
    with pytest.raises(ConnectionFailed, match="cannot reach Temporal at 127.0.0.1:1") as failed:
        await Incidents.connect(Settings(temporal_address="127.0.0.1:1"), identity="test")
    assert failed.value.exit_code == 3
