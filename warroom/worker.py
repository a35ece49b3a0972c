"""The worker: every workflow and activity on one task queue, connected to Temporal.

`warroom worker` (and the top-level `worker.py`) run it against any Temporal; `make run` starts it
beside the embedded dev server. Every setting and file it uses is checked by `prepare` before it
connects anywhere, so a bad value fails at start with the variable named.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.ansible import AnsibleSettings, PlaybookRunner
from activities.channels import ChannelSettings, build_router
from activities.http_steps import HttpStepActivities
from activities.metrics import PrometheusSource
from activities.notify import LocalSink, Notifier
from activities.registry import build_activities
from warroom import compiled_once
from warroom.config import RunbookConfig
from warroom.errors import ConfigInvalid
from warroom.settings import Settings
from workflows.registry import WORKFLOWS

if TYPE_CHECKING:  # the roster's resolver (iCalendar, vendor APIs) loads only on a worker with WARROOM_ONCALL
    from activities.oncall import OncallResolver
    from warroom.oncall.directory import Directory

SHARED_WITH_WORKFLOWS = (
    "warroom.catalog",
    "warroom.config",
    "warroom.contracts",
    "warroom.enums",
    "warroom.ids",
    "warroom.messages",
    "warroom.models",
    "warroom.oncall.models",
    "warroom.patches",
    "warroom.policy",
    "warroom.primitives",
    "warroom.search",
    "warroom.step_models",
)
"""Domain modules the sandbox passes through instead of re-importing them for every workflow run: pydantic
models, the runbook's policies and the message texts, all deterministic (no clock, no randomness, no I/O:
import-linter keeps I/O out, tests/test_layering.py keeps the clock and randomness out). Re-importing them
cost each cached run its own copy; the workflows/ modules themselves are still re-imported and checked."""


def workflow_runner(sandboxed: bool = True) -> SandboxedWorkflowRunner | UnsandboxedWorkflowRunner:
    """The SDK's sandbox sharing the domain modules (SHARED_WITH_WORKFLOWS), or no sandbox."""
    if not sandboxed:
        return UnsandboxedWorkflowRunner()
    compiled_once.install()  # the sandbox re-imports workflows/ per run: compile it once
    restrictions = SandboxRestrictions.default.with_passthrough_modules(*SHARED_WITH_WORKFLOWS)
    return SandboxedWorkflowRunner(restrictions=restrictions)


def build_worker(
    client: Client,
    task_queue: str,
    notifier: Notifier,
    templates_dir: str | None = None,
    metrics: PrometheusSource | None = None,
    kube_activities: Sequence[Callable[..., Any]] | None = None,
    ansible: PlaybookRunner | None = None,
    extra_activities: Sequence[Callable[..., Any]] = (),
    sandboxed: bool = True,
    http_steps: HttpStepActivities | None = None,
    oncall: OncallResolver | None = None,
    runner: WorkflowRunner | None = None,
    max_cached_workflows: int = 1000,
) -> Worker:
    """One worker for every phase; more workers on the same task queue share the load.

    `sandboxed=False` (WARROOM_WORKFLOW_SANDBOX=false) runs the same workflows without the SDK's
    sandbox: the suite runs them sandboxed and replays every committed history both ways, so the
    sandbox's checks are made in CI rather than paid for on every workflow task in production. `runner`
    replaces the runner outright (benchmarks compare the SDK's default sandbox). `max_cached_workflows`
    (WARROOM_MAX_CACHED_WORKFLOWS) sizes the sticky cache: the SDK's default, 1,000 runs, is 500 open
    incidents held without replays."""
    acts = build_activities(
        notifier,
        templates_dir,
        metrics,
        kube_activities,
        ansible,
        http_steps,
        extra_activities=extra_activities,
        oncall=oncall,
    )
    return Worker(
        client,
        task_queue=task_queue,
        workflows=WORKFLOWS,
        activities=acts,
        activity_executor=ThreadPoolExecutor(max_workers=16),
        workflow_runner=runner or workflow_runner(sandboxed),
        max_cached_workflows=max_cached_workflows,
    )


def kube_from_settings(settings: Settings) -> list[Callable[..., Any]] | None:
    """The Kubernetes activities when a kubeconfig (or in-cluster config) is available, else None.

    The kubeconfig path is only ever opened as a file (`..` and any other character it may hold
    included); loading it makes no request, so a bad one fails here, at start, by name.
    """
    import os

    if not (settings.kubeconfig or os.environ.get("KUBECONFIG") or os.environ.get("KUBERNETES_SERVICE_HOST")):
        return None
    import yaml
    from kubernetes.config import ConfigException

    from activities.kubernetes import KubeActivities, KubeGateway, KubeSettings

    try:
        gateway = KubeGateway.from_settings(
            KubeSettings(
                kubeconfig=str(settings.kubeconfig) if settings.kubeconfig else None, context=settings.kube_context
            )
        )
    except (ConfigException, OSError, ValueError, TypeError, AttributeError, KeyError, yaml.YAMLError) as exc:
        # YAML that is not a kubeconfig mapping (/etc/passwd, a list) fails inside the loader itself.
        where = (
            f"WARROOM_KUBECONFIG ({settings.kubeconfig})" if settings.kubeconfig else "KUBECONFIG / in-cluster config"
        )
        raise ConfigInvalid(
            f"{where}, WARROOM_KUBE_CONTEXT: cannot load the cluster config: {str(exc)[:300]}"
        ) from None
    return KubeActivities(gateway).all()


def ansible_from_settings(settings: Settings) -> PlaybookRunner:
    """Playbooks from the repo's playbooks/, on localhost unless an inventory is configured."""
    import json

    import yaml
    from pydantic import ValidationError

    overrides: dict[str, Any] = {"log_root": settings.log_root, "credentials": settings.postgres_credentials}
    if settings.ansible_inventory:
        where = f"WARROOM_ANSIBLE_INVENTORY ({settings.ansible_inventory})"
        try:
            text = settings.ansible_inventory.read_text(encoding="utf-8")
            overrides["inventory"] = (
                json.loads(text) if settings.ansible_inventory.suffix == ".json" else yaml.safe_load(text)
            )
        except (OSError, UnicodeDecodeError, ValueError, yaml.YAMLError) as exc:
            raise ConfigInvalid(f"{where}: cannot read the inventory: {str(exc)[:300]}") from None
    try:
        return PlaybookRunner(AnsibleSettings(**overrides))
    except (ValidationError, ValueError, TypeError, AttributeError) as exc:
        raise ConfigInvalid(
            f"{where if settings.ansible_inventory else 'ansible settings'}: not an inventory "
            f"(ansible-runner's dict form): {str(exc)[:300]}"
        ) from None


def oncall_from_settings(settings: Settings, directory: Directory) -> OncallResolver:
    """The roster's resolver, with readers for schedules PagerDuty or Opsgenie keep (when a token is set)."""
    from activities.oncall import OncallResolver
    from activities.oncall_vendors import OpsgenieOnCall, PagerDutyOnCall, VendorOnCall

    vendors: dict[str, VendorOnCall] = {}
    if settings.pagerduty_api_token is not None:
        vendors["pagerduty"] = PagerDutyOnCall(settings.pagerduty_api_token, base_url=settings.pagerduty_api_url)
    if settings.opsgenie_api_key is not None:
        vendors["opsgenie"] = OpsgenieOnCall(settings.opsgenie_api_key, base_url=settings.opsgenie_api_url)
    return OncallResolver(directory, vendors)


async def _sync_roster(client: Client, task_queue: str, directory: Directory | None) -> None:
    """Give the Roster workflow the people and teams of this worker's WARROOM_ONCALL (overrides are
    checked against them). Needs the worker polling, so it runs beside it; a failure is logged."""
    if directory is None:
        return
    from warroom.oncall_roster import names_of, sync_roster

    try:
        await sync_roster(client, task_queue, names_of(directory.config))
    except Exception as exc:  # the worker still pages; overrides wait for the next start
        logging.getLogger("warroom").warning("could not sync the on-call roster: %s", exc)


@dataclass
class Prepared:
    """Everything the worker builds from its settings before it connects anywhere."""

    runbook: RunbookConfig
    channels: ChannelSettings
    kube: list[Callable[..., Any]] | None
    ansible: PlaybookRunner
    oncall: Directory | None = None


def prepare(settings: Settings) -> Prepared:
    """Check every setting the worker uses and load every file it names, connecting to nothing.

    Raises RunbookError, ConfigInvalid, or a pydantic ValidationError for WARROOM_* channel
    settings (its `loc` is the field: WARROOM_<FIELD>); `warroom worker` turns each into one line
    and exit code 2, so a bad value cannot hide behind "Temporal unreachable".
    """
    from warroom.runbook import load_runbook

    runbook = load_runbook(settings.runbook)  # a bad file stops the worker here, with the field named
    channels = ChannelSettings(data_dir=settings.data_dir)
    oncall = None
    if settings.oncall:
        from warroom.oncall.load import load_directory

        oncall = load_directory(settings.oncall)  # a bad file stops the worker here too
    return Prepared(runbook, channels, kube_from_settings(settings), ansible_from_settings(settings), oncall)


async def _serve_health(worker: Worker, port: int) -> asyncio.Server:
    """GET /healthz (any path): 200 while the worker polls, 503 once it stopped (a liveness probe)."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()
        ok = worker.is_running
        writer.write(
            b"HTTP/1.1 %s\r\nContent-Length: 3\r\nConnection: close\r\n\r\n%s\n"
            % ((b"200 OK", b"ok") if ok else (b"503 Service Unavailable", b"no"))
        )
        await writer.drain()
        writer.close()

    return await asyncio.start_server(answer, "0.0.0.0", port)  # noqa: S104 - the pod's probe comes from the node


async def run_worker(settings: Settings, ready: asyncio.Event | None = None, prepared: Prepared | None = None) -> None:
    """Poll until cancelled; with OTEL_* traces on, every span is flushed on the way out."""
    from warroom.telemetry import tracing

    with tracing.traced("warroom-worker"):
        await _run_worker(settings, ready, prepared)


async def _run_worker(settings: Settings, ready: asyncio.Event | None, prepared: Prepared | None) -> None:
    from warroom.client import connect
    from warroom.telemetry.endpoint import WorkerTelemetry

    prepared = prepared or prepare(settings)
    runbook = prepared.runbook
    telemetry = WorkerTelemetry.start(settings.worker_metrics_address) if settings.worker_metrics_address else None
    try:
        client = await connect(
            settings, identity="warroom-worker", wait=30, runtime=telemetry.runtime if telemetry else None
        )
    except BaseException:
        if telemetry is not None:
            telemetry.close()
        raise
    sink = LocalSink(Path(settings.data_dir))
    router = build_router(prepared.channels, sink=sink)
    metrics = PrometheusSource(settings.prometheus_url, runbook.metrics) if settings.prometheus_url else None
    oncall = oncall_from_settings(settings, prepared.oncall) if prepared.oncall else None
    worker = build_worker(
        client,
        settings.task_queue,
        router,
        runbook.templates_dir,
        metrics,
        prepared.kube,
        prepared.ansible,
        sandboxed=settings.workflow_sandbox,
        oncall=oncall,
        max_cached_workflows=settings.max_cached_workflows,
    )
    log = logging.getLogger("warroom")
    log.info(
        "worker polling %s on %s (namespace %s); channel logs in %s; metrics: %s; cluster: %s",
        settings.task_queue,
        settings.temporal_address,
        settings.temporal_namespace,
        sink.root / "channels",
        settings.prometheus_url or "not configured",
        settings.kubeconfig or "not configured",
    )
    log.info("comms routes: %s", router.describe())
    if not settings.workflow_sandbox:
        log.info("workflows run without the SDK sandbox (WARROOM_WORKFLOW_SANDBOX=false)")
    if ready:
        ready.set()
    health = await _serve_health(worker, settings.health_port) if settings.health_port else None
    syncing = asyncio.create_task(_sync_roster(client, settings.task_queue, prepared.oncall), name="sync roster")
    feeds = asyncio.create_task(oncall.keep_feeds_fresh(), name="on-call feeds") if oncall else None
    if telemetry is not None:
        telemetry.watch(client)
    try:
        await worker.run()
    finally:
        if health is not None:
            health.close()
        if telemetry is not None:
            telemetry.close()
        syncing.cancel()
        if feeds is not None:
            feeds.cancel()
        if oncall is not None:
            await oncall.aclose()
        await router.aclose()
