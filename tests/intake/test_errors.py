"""Bad input is refused before Temporal, and no alert is ever acknowledged without being recorded."""

from __future__ import annotations

import json
import shutil
import socket
import sys
from pathlib import Path

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from tests.helpers import running_worker
from warroom import search

LIMIT = 256 * 1024


async def test_a_body_over_256_kib_is_413(intake, payload):
    body = payload("generic", annotations={"padding": "x" * 2000}, labels={f"k{i}": "v" * 250 for i in range(64)})
    oversized = json.dumps({**body, "summary": "y" * LIMIT}).encode()

    declared = await intake.post("generic", oversized)

    async def chunks():  # no Content-Length: the limit holds while streaming too
        for start in range(0, len(oversized), 16 * 1024):
            yield oversized[start : start + 16 * 1024]

    streamed = await intake.http.post(
        "/alerts/generic",
        content=chunks(),
        headers={"Content-Type": "application/json", "Authorization": "Bearer generic-token"},
    )

    assert declared.status_code == streamed.status_code == 413
    assert intake.calls.workflow_ids == []


async def test_a_body_that_is_not_json_is_415(intake, payload):
    response = await intake.post("alertmanager", payload("alertmanager"), headers={"Content-Type": "text/plain"})

    assert response.status_code == 415
    assert (
        intake.metric("warroom_intake_requests_rejected_total", source="alertmanager", reason="unsupported_media_type")
        == 1
    )
    assert intake.calls.workflow_ids == []


async def test_schema_errors_are_422_naming_the_field(intake, payload):
    missing = payload("alertmanager")
    del missing["groupKey"]
    wrong_type = payload("alertmanager")
    wrong_type["alerts"][1]["labels"]["instance"] = 8080
    typo = {**payload("generic"), "sumary": "typo"}
    broken = b'{"group_key": "x", '

    answers = [
        await intake.post("alertmanager", missing),
        await intake.post("alertmanager", wrong_type),
        await intake.post("generic", typo),
        await intake.post("generic", broken),
    ]

    assert [a.status_code for a in answers] == [422] * 4
    fields = [[d["field"] for d in a.json()["detail"]] for a in answers]
    assert fields == [["groupKey"], ["alerts[1].labels.instance"], ["sumary"], ["body"]]
    assert answers[0].json()["detail"][0]["loc"] == ["body", "groupKey"]
    assert intake.calls.workflow_ids == []


async def test_an_unsafe_service_label_is_422_naming_it(intake, payload):
    body = payload("alertmanager")
    body["alerts"][0]["labels"]["service"] = 'order-api"} or vector(1) #'
    namespaced = payload("alertmanager")
    namespaced["alerts"][1]["labels"]["namespace"] = "x" * 64

    answers = [await intake.post("alertmanager", body), await intake.post("alertmanager", namespaced)]

    assert [a.status_code for a in answers] == [422, 422]
    assert answers[0].json()["detail"][0]["field"] == "alerts[0].labels.service"
    assert "DNS-1123" in answers[0].json()["detail"][0]["msg"]
    assert answers[1].json()["detail"][0]["field"] == "alerts[1].labels.namespace"
    assert intake.calls.workflow_ids == []


def _dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_temporal_unreachable_is_503_with_retry_after(make_intake, payload):
    address = f"127.0.0.1:{_dead_port()}"

    async def connect() -> Client:
        return await Client.connect(address, data_converter=pydantic_data_converter)

    async with make_intake(client_factory=connect, retry_after=7) as intake:
        response = await intake.post("alertmanager", payload("alertmanager"))
        health = (await intake.http.get("/healthz")).json()

    assert response.status_code == 503
    assert response.headers["Retry-After"] == "7"
    assert "not recorded" in response.json()["detail"]
    assert health["temporal"] == "unreachable"
    assert (
        intake.metric("warroom_intake_requests_rejected_total", source="alertmanager", reason="temporal_unavailable")
        == 1
    )


async def test_temporal_stopping_while_alerts_arrive_is_503_never_200(make_intake, payload, tmp_path):
    """A server of its own, stopped mid-way: what was answered 200 is in history; the rest is 503."""
    binary = shutil.which("temporal", path=str(Path(sys.executable).parent)) or shutil.which("temporal")
    own = await WorkflowEnvironment.start_local(
        dev_server_existing_path=binary,
        data_converter=pydantic_data_converter,
        search_attributes=list(search.ALL),
        dev_server_log_level="error",
    )
    stopped = False
    try:
        async with running_worker(own.client, tmp_path) as harness:
            settings = dict(client_factory=lambda: _ready(own.client), temporal_timeout=1.5)
            async with make_intake(**settings) as intake:
                intake.app.state.intake.recorder.task_queue = harness.queue
                body = payload("generic")
                before = await intake.post("generic", body)
                recorded = await own.client.get_workflow_handle(before.json()["workflow_id"]).describe()
                await own.shutdown()
                stopped = True
                after = await intake.post("generic", body)
    finally:
        if not stopped:
            await own.shutdown()

    assert before.status_code == 200 and recorded.run_id
    assert after.status_code == 503 and int(after.headers["Retry-After"]) > 0


async def _ready(client: Client) -> Client:
    return client
