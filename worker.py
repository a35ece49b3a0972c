"""The warroom worker: registers every workflow and activity and connects to Temporal.

Run it alone against any Temporal (`warroom worker`, or `python worker.py`); `make run` starts it
beside the embedded dev server.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from temporalio.client import Client
from temporalio.worker import Worker

from activities.notify import LocalSink, NotifyActivities, Notifier
from warroom.settings import Settings
from workflows.command import CommandPhase
from workflows.declare import DeclarePhase
from workflows.detection import DetectionPhase
from workflows.incident import IncidentWorkflow
from workflows.resolve import ResolvePhase
from workflows.retrospective import RetrospectivePhase

WORKFLOWS = [IncidentWorkflow, DetectionPhase, DeclarePhase, CommandPhase, ResolvePhase, RetrospectivePhase]


def build_worker(client: Client, task_queue: str, notifier: Notifier, templates_dir: str | None = None) -> Worker:
    """One worker for every phase; more workers on the same task queue share the load."""
    notify = NotifyActivities(notifier, templates_dir)
    return Worker(client, task_queue=task_queue, workflows=WORKFLOWS, activities=[notify.notify])


async def run_worker(settings: Settings, ready: asyncio.Event | None = None) -> None:
    from warroom.client import connect
    from warroom.config import load_runbook

    runbook = load_runbook(settings.runbook)  # a bad file stops the worker here, with the field named
    client = await connect(settings, identity="warroom-worker")
    sink = LocalSink(Path(settings.data_dir))
    worker = build_worker(client, settings.task_queue, sink, runbook.templates_dir)
    logging.getLogger("warroom").info("worker polling %s on %s (namespace %s); channel logs in %s",
                                      settings.task_queue, settings.temporal_address, settings.temporal_namespace,
                                      sink.root / "channels")
    if ready:
        ready.set()
    await worker.run()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    asyncio.run(run_worker(Settings()))
