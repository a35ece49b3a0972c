"""A production-shaped rig for end-to-end tests: the sandbox cluster, the simulated order-api that
follows it, and a real Prometheus scraping the service.

`live_rig()` yields once order-api is healthy on GOOD with a baseline Prometheus has seen;
`Rig.deploy_bad()` then ships BAD (about 8 % 503s) and waits until Prometheus sees the errors, so
the rollback rule has a recent deploy and an elevated error ratio to act on.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import time
import urllib.request
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from temporalio.client import Client

from activities.kubernetes import KubeActivities, KubeGateway, KubeSettings
from activities.metrics import MetricsUnavailable, PrometheusSource
from sandbox.cluster import RunningCluster, Scenario, start
from sandbox.service import SimulatedService
from tests.helpers import incident_input, running_worker, state_of
from tests.prometheus_server import start_prometheus
from warroom.config import RunbookConfig
from warroom.enums import Severity
from warroom.models import DeploymentTarget, IncidentInput, IncidentState
from warroom.runbook import load_runbook

PROMETHEUS = shutil.which("prometheus")
GOOD, BAD = "registry.example.com/order-api:v2.14.2", "registry.example.com/order-api:v2.14.3"
MIGRATING = "registry.example.com/order-api:v2.15.0"
SCENARIO = Scenario.model_validate(
    {
        "name": "rig",
        "tick_seconds": 0.05,
        "namespaces": ["production"],
        "defaults": {"start_seconds": 0.2, "ready_seconds": 0.3},
        "images": {
            BAD: {"behavior": "errors", "logs": ["ERROR POST /orders 503 connection pool exhausted"]},
            MIGRATING: {"behavior": "errors"},
        },
        "deployments": [
            {
                "name": "order-api",
                "namespace": "production",
                "replicas": 2,
                "history": [{"image": GOOD, "at": "-3h", "change_cause": "deploy v2.14.2"}],
            }
        ],
    }
)


def rig_runbook(**rollback: Any) -> RunbookConfig:
    """The seed runbook with windows short enough for a test: 5 s rate window, 4 s veto, 8 s clean window."""
    base = load_runbook()
    return base.model_copy(
        update={
            "metrics": base.metrics.model_copy(
                update={
                    "window": timedelta(seconds=5),
                    "step": timedelta(seconds=1),
                    "baseline_offset": timedelta(seconds=4),
                }
            ),
            "rollback": base.rollback.model_copy(
                update={"veto_window": timedelta(seconds=4), "rollout_timeout": timedelta(seconds=60), **rollback}
            ),
            "resolve": base.resolve.model_copy(update={"clean_window": timedelta(seconds=8)}),
        }
    )


def p1_on_order_api(runbook: RunbookConfig | None = None, **fields: Any) -> IncidentInput:
    """A declared P1 with Alice in command, aimed at the rig's deployment: the rollback rule's input."""
    return incident_input(
        runbook=runbook or rig_runbook(),
        declared=True,
        declared_by="alice",
        severity=Severity.P1,
        commander="alice",
        target=DeploymentTarget(namespace="production", deployment="order-api"),
        **fields,
    )


async def wait_for(probe: Any, ok: Any, seconds: float) -> Any:
    """Poll `probe` (sync or async) until `ok(value)`; Prometheus still starting counts as no value."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            value = probe()
            if asyncio.iscoroutine(value):
                value = await value
        except MetricsUnavailable:
            value = None
        if ok(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting after {seconds:.0f}s; last value {value!r}")
        await asyncio.sleep(0.25)


async def timeline_has(handle: Any, kind: str, seconds: float = 60) -> IncidentState:
    """The incident's state once its timeline holds an entry of `kind`."""

    async def kinds() -> list[str]:
        return [e.kind for e in (await state_of(handle)).timeline]

    await wait_for(kinds, lambda k: kind in k, seconds)
    return await state_of(handle)


class Rig:
    def __init__(
        self, cluster: RunningCluster, service: SimulatedService, prometheus_url: str, kubeconfig: Path
    ) -> None:
        self.cluster, self.service, self.prometheus_url, self.kubeconfig = cluster, service, prometheus_url, kubeconfig

    def source(self, runbook: RunbookConfig | None = None) -> PrometheusSource:
        return PrometheusSource(self.prometheus_url, (runbook or rig_runbook()).metrics)

    def patch_deployment(self, body: dict[str, Any], kind: str = "strategic-merge-patch") -> None:
        request = urllib.request.Request(
            f"{self.cluster.url}/apis/apps/v1/namespaces/production/deployments/order-api",
            method="PATCH",
            data=json.dumps(body).encode(),
            headers={"Content-Type": f"application/{kind}+json"},
        )
        urllib.request.urlopen(request, timeout=5).close()

    def deploy(self, image: str, cause: str, annotations: dict[str, str] | None = None) -> None:
        self.patch_deployment(
            {
                "metadata": {"annotations": {"kubernetes.io/change-cause": cause, **(annotations or {})}},
                "spec": {"template": {"spec": {"containers": [{"name": "app", "image": image}]}}},
            }
        )

    async def deploy_bad(self, image: str = BAD, annotations: dict[str, str] | None = None) -> None:
        """From a healthy baseline (waits for it), ship an erroring image and wait until Prometheus sees it."""
        await self.clean_baseline()
        self.deploy(image, f"deploy {image.rsplit(':', 1)[-1]}", annotations)
        source = self.source()
        await wait_for(lambda: source.error_ratio("order-api"), lambda v: v is not None and v > 0.05, 60)

    async def clean_baseline(self, runbook: RunbookConfig | None = None) -> None:
        """Wait until a deploy made now would have a clean pre-deploy baseline to compare with: the
        error ratio is 0 now and also where the rule reads its baseline (`baseline_offset` before
        the deploy time, which the cluster reports to the second)."""
        source = self.source(runbook)
        offset = (runbook or rig_runbook()).metrics.baseline_offset + timedelta(seconds=1)
        await wait_for(lambda: source.error_ratio("order-api"), lambda v: v == 0.0, 60)
        await wait_for(lambda: source.error_ratio("order-api", datetime.now(UTC) - offset), lambda v: v == 0.0, 60)

    def image(self) -> str:
        with urllib.request.urlopen(
            f"{self.cluster.url}/apis/apps/v1/namespaces/production/deployments/order-api"
        ) as r:
            return json.load(r)["spec"]["template"]["spec"]["containers"][0]["image"]

    def in_process_worker(self, client: Client, root: Path, runbook: RunbookConfig | None = None) -> Any:
        """`running_worker` with this rig's Prometheus and cluster wired in (a `Harness` context manager)."""
        gateway = KubeGateway.from_settings(KubeSettings(kubeconfig=str(self.kubeconfig)))
        return running_worker(client, root, metrics=self.source(runbook), kube_activities=KubeActivities(gateway).all())

    def worker_env(self, temporal_address: str, runbook: RunbookConfig, root: Path, queue: str) -> dict[str, str]:
        """WARROOM_* for a production worker process wired to this rig (ansible's log shows each playbook run)."""
        runbook_file = root / "runbook.yaml"
        runbook_file.write_text(yaml.safe_dump(runbook.model_dump(mode="json"), sort_keys=False))
        return {
            "WARROOM_TEMPORAL_ADDRESS": temporal_address,
            "WARROOM_TASK_QUEUE": queue,
            "WARROOM_DATA_DIR": str(root / "data"),
            "WARROOM_PROMETHEUS_URL": self.prometheus_url,
            "WARROOM_KUBECONFIG": str(self.kubeconfig),
            "WARROOM_RUNBOOK": str(runbook_file),
            "ANSIBLE_LOG_PATH": str(root / "ansible.log"),
        }

    def rollback_patches(self) -> int:
        """JSON patches of order-api's template: what `kube_rollback` sends (the rig's own deploys are merge patches)."""
        return sum(
            1
            for r in self.cluster.requests
            if r.method == "PATCH"
            and "deployments/order-api" in r.path
            and "dryRun" not in r.query
            and r.content_type == "application/json-patch+json"
        )


@asynccontextmanager
async def live_rig(root: Path, scenario: Scenario = SCENARIO) -> AsyncIterator[Rig]:
    assert PROMETHEUS, "needs Debian's `prometheus` (.ci/run installs it)"
    cluster = start(scenario)
    kubeconfig = cluster.write_kubeconfig(root / "kubeconfig", namespace="production")
    service = SimulatedService(cluster.url, scenario).start()
    prom, base = await start_prometheus(
        root,
        "global: {scrape_interval: 1s}\nscrape_configs:\n  - job_name: order-api\n"
        f"    static_configs: [{{targets: ['{service.url.removeprefix('http://')}']}}]\n",
    )
    rig = Rig(cluster, service, base, kubeconfig)
    try:
        source = rig.source()
        await wait_for(lambda: source.error_ratio("order-api"), lambda v: v is not None and v == 0.0, 60)
        yield rig
    finally:
        prom.terminate()
        prom.wait(10)
        service.stop()
        cluster.stop()
