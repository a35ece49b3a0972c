"""The warroom worker: registers every workflow and activity and connects to Temporal.

Run it alone against any Temporal (`warroom worker`, or `python worker.py`); `make run` starts it
beside the embedded dev server. Integrations that are not configured (no Prometheus URL, no
kubeconfig) still register their activities, which then fail at once with `NotConfigured`, so a
workflow learns "no metrics source" in milliseconds instead of waiting for a worker that never comes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from activities.ansible import AnsibleSettings, PlaybookRunner
from activities.metrics import MetricsActivities, PrometheusSource
from activities.notify import LocalSink, NotifyActivities, Notifier
from warroom.settings import Settings
from workflows.command import CommandPhase
from workflows.declare import DeclarePhase
from workflows.detection import DetectionPhase
from workflows.incident import IncidentWorkflow
from workflows.resolve import ResolvePhase
from workflows.retrospective import RetrospectivePhase

WORKFLOWS = [IncidentWorkflow, DetectionPhase, DeclarePhase, CommandPhase, ResolvePhase, RetrospectivePhase]
METRICS_ACTIVITIES = ("read_error_ratio", "check_clean_window")
KUBE_ACTIVITIES = ("kube_pod_health", "kube_events", "kube_logs", "kube_rollout_status", "kube_rollout_history",
                   "kube_recent_deploy", "kube_migration_check", "kube_rollback", "kube_scale")


def not_configured(name: str, hint: str) -> Callable[..., Any]:
    """An activity that answers at once: this integration is not set up on this worker."""

    @activity.defn(name=name)
    async def unavailable(_: dict[str, Any]) -> None:
        raise ApplicationError(f"{name}: not configured on this worker ({hint})", type="NotConfigured", non_retryable=True)

    return unavailable


def build_worker(client: Client, task_queue: str, notifier: Notifier, templates_dir: str | None = None,
                 metrics: PrometheusSource | None = None, kube_activities: Sequence[Callable[..., Any]] | None = None,
                 ansible: PlaybookRunner | None = None, extra_activities: Sequence[Callable[..., Any]] = ()) -> Worker:
    """One worker for every phase; more workers on the same task queue share the load."""
    acts: list[Callable[..., Any]] = [NotifyActivities(notifier, templates_dir).notify, *extra_activities]
    acts += (ansible or PlaybookRunner(AnsibleSettings())).activities()
    if metrics is not None:
        m = MetricsActivities(metrics)
        acts += [m.read_error_ratio, m.check_clean_window]
    else:
        acts += [not_configured(n, "set WARROOM_PROMETHEUS_URL") for n in METRICS_ACTIVITIES]
    if kube_activities is not None:
        acts += list(kube_activities)
    else:
        acts += [not_configured(n, "set WARROOM_KUBECONFIG or run in a cluster") for n in KUBE_ACTIVITIES]
    return Worker(client, task_queue=task_queue, workflows=WORKFLOWS, activities=acts,
                  activity_executor=ThreadPoolExecutor(max_workers=16))


def kube_from_settings(settings: Settings) -> list[Callable[..., Any]] | None:
    """The Kubernetes activities when a kubeconfig (or in-cluster config) is available, else None."""
    import os

    if not (settings.kubeconfig or os.environ.get("KUBECONFIG") or os.environ.get("KUBERNETES_SERVICE_HOST")):
        return None
    from activities.kubernetes import KubeActivities, KubeGateway, KubeSettings

    gateway = KubeGateway.from_settings(KubeSettings(kubeconfig=str(settings.kubeconfig) if settings.kubeconfig else None,
                                                     context=settings.kube_context))
    return KubeActivities(gateway).all()


def ansible_from_settings(settings: Settings) -> PlaybookRunner:
    """Playbooks from the repo's playbooks/, on localhost unless an inventory is configured."""
    import json

    import yaml

    overrides: dict[str, Any] = {"log_root": settings.log_root, "credentials": settings.postgres_credentials}
    if settings.ansible_inventory:
        text = settings.ansible_inventory.read_text()
        overrides["inventory"] = json.loads(text) if settings.ansible_inventory.suffix == ".json" else yaml.safe_load(text)
    return PlaybookRunner(AnsibleSettings(**overrides))


async def run_worker(settings: Settings, ready: asyncio.Event | None = None) -> None:
    from warroom.client import connect
    from warroom.config import load_runbook

    runbook = load_runbook(settings.runbook)  # a bad file stops the worker here, with the field named
    from activities.channels import ChannelSettings, build_router

    client = await connect(settings, identity="warroom-worker", wait=30)
    sink = LocalSink(Path(settings.data_dir))
    router = build_router(ChannelSettings(data_dir=settings.data_dir), sink=sink)
    metrics = PrometheusSource(settings.prometheus_url, runbook.metrics) if settings.prometheus_url else None
    worker = build_worker(client, settings.task_queue, router, runbook.templates_dir, metrics, kube_from_settings(settings),
                          ansible_from_settings(settings))
    log = logging.getLogger("warroom")
    log.info("worker polling %s on %s (namespace %s); channel logs in %s; metrics: %s; cluster: %s",
             settings.task_queue, settings.temporal_address, settings.temporal_namespace, sink.root / "channels",
             settings.prometheus_url or "not configured", settings.kubeconfig or "not configured")
    log.info("comms routes: %s", router.describe())
    if ready:
        ready.set()
    try:
        await worker.run()
    finally:
        await router.aclose()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    asyncio.run(run_worker(Settings()))
