"""A notify activity retried after its worker died delivers nothing twice to the local sink (#18 item 4).

The retry runs the real activity again with the same activity identity (workflow, run, activity id)
on a second worker's sink over the same data dir, as after a kill -9 between the delivery and the
completion reaching Temporal."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from temporalio.testing import ActivityEnvironment

from activities.notify import LocalSink, NotifyActivities
from warroom.contracts.notify import NotifyBatch
from warroom.models import Notification

PAGE = Notification(
    incident_id="inc-42",
    channel="page",
    template="escalation",
    audience=["engineering-manager"],
    context={
        "severity": "P2",
        "incident_id": "inc-42",
        "service": "order-api",
        "commander": "alice",
        "channel": "#incident-2026-12-07-001",
        "reason": "P2 open 30m",
        "deadline_kind": "escalate",
        "deadline_due_at": "2026-12-07T02:00:00+00:00",
    },
)


async def attempt(root: Path, activity_id: str, number: int) -> None:
    env = ActivityEnvironment()
    env.info = dataclasses.replace(
        env.info, workflow_id="phase-inc-42", workflow_run_id="run-1", activity_id=activity_id, attempt=number
    )
    await env.run(NotifyActivities(LocalSink(root, echo=False)).notify, PAGE)


async def test_a_retry_on_another_worker_logs_the_page_once(tmp_path: Path) -> None:
    await attempt(tmp_path, "7", 1)  # worker A delivers, then dies before Temporal hears of it
    await attempt(tmp_path, "7", 2)  # worker B runs the retry over the same data dir
    log = (tmp_path / "channels" / "inc-42.log").read_text()
    assert log.count("[page]") == 1
    ledger = [json.loads(line) for line in (tmp_path / "channels" / "inc-42.delivered.jsonl").read_text().splitlines()]
    assert [(e["key"], e["template"], e["deadline_kind"]) for e in ledger] == [
        ("phase-inc-42/run-1/7", "escalation", "escalate")
    ]


async def test_another_message_is_logged(tmp_path: Path) -> None:
    """The control: a second scheduled message (another activity id) is a second page."""
    await attempt(tmp_path, "7", 1)
    await attempt(tmp_path, "8", 1)
    await attempt(tmp_path, "9", 2)  # a retry whose first attempt died before delivering
    assert (tmp_path / "channels" / "inc-42.log").read_text().count("[page]") == 3


async def test_outside_an_activity_every_call_logs(tmp_path: Path) -> None:
    sink = LocalSink(tmp_path, echo=False)
    for _ in range(2):
        await sink.deliver(PAGE, "text")
    assert (tmp_path / "channels" / "inc-42.log").read_text().count("[page]") == 2
    assert not (tmp_path / "channels" / "inc-42.delivered.jsonl").exists()


async def test_a_batch_retried_after_a_kill_logs_only_what_its_first_attempt_did_not(tmp_path: Path) -> None:
    """Each message of a notify_batch has its own key (`#n`): two pages of one batch are two
    deliveries, and a retry after the first attempt logged only the first logs only the second."""
    vp = PAGE.model_copy(update={"audience": ["vp-engineering"]})  # a second message of the same batch
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, workflow_id="phase-inc-42", workflow_run_id="run-1", activity_id="7")
    first = NotifyBatch(notifications=[PAGE])  # the first attempt died after its first message
    await env.run(NotifyActivities(LocalSink(tmp_path, echo=False)).notify_batch, first)
    env.info = dataclasses.replace(env.info, attempt=2)
    retry = NotifyBatch(notifications=[PAGE, vp])
    await env.run(NotifyActivities(LocalSink(tmp_path, echo=False)).notify_batch, retry)
    log = (tmp_path / "channels" / "inc-42.log").read_text()
    assert log.count("[page] [engineering-manager]") == 1 and log.count("[page] [vp-engineering]") == 1
    ledger = [json.loads(line) for line in (tmp_path / "channels" / "inc-42.delivered.jsonl").read_text().splitlines()]
    assert [e["key"] for e in ledger] == ["phase-inc-42/run-1/7#0", "phase-inc-42/run-1/7#1"]
