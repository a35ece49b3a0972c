"""The intake under test, as plain code: the real app on a loopback port, signed and authenticated
payloads, a recording client interceptor, and a real Alertmanager process.

tests/intake/conftest.py turns these into fixtures; other suites (tests/reliability) import them.
Temporal is never mocked: `TemporalCalls` wraps the real client and records every call able to
start or change a workflow, so "zero Temporal calls" can be asserted on it.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import shutil
import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families
from temporalio.client import Client, Interceptor, OutboundInterceptor
from temporalio.service import RPCError, RPCStatusCode

from tests.helpers import free_port
from warroom.enums import Phase
from warroom.intake import IntakeSettings, create_app
from warroom.intake.server import running
from warroom.settings import Settings

PAYLOADS = Path(__file__).with_name("payloads")
CREDENTIALS: dict[str, str] = dict(
    alertmanager_token="am-token",
    opsgenie_basic_user="opsgenie",
    opsgenie_basic_password="og-password",
    pagerduty_signing_secrets="pd-secret",
    grafana_signing_secrets="gf-secret",
    generic_token="generic-token",
)


class TemporalCalls(Interceptor):
    """Every start, update and signal the intake's client sends, by workflow id."""

    def __init__(self) -> None:
        self.workflow_ids: list[str] = []

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        seen = self.workflow_ids

        class Recording(OutboundInterceptor):
            async def start_workflow(self, input: Any) -> Any:
                seen.append(input.id)
                return await self.next.start_workflow(input)

            async def start_workflow_update(self, input: Any) -> Any:
                seen.append(input.id)
                return await self.next.start_workflow_update(input)

            async def start_update_with_start_workflow(self, input: Any) -> Any:
                seen.append(input.start_workflow_input.id)
                return await self.next.start_update_with_start_workflow(input)

            async def signal_workflow(self, input: Any) -> Any:
                seen.append(input.id)
                return await self.next.signal_workflow(input)

        return Recording(next)

    def __len__(self) -> int:
        return len(self.workflow_ids)


def payload(source: str, key: str | None = None, **changes: Any) -> dict[str, Any]:
    """A vendor's documented example (tests/intake/payloads), with a group key unique to the test."""
    data = json.loads((PAYLOADS / f"{source}.json").read_text())
    key = key or uuid.uuid4().hex[:10]
    if source in ("alertmanager", "grafana"):
        data["groupKey"] = data["groupKey"].replace('"}', f'", run="{key}"}}', 1)
    elif source == "pagerduty":
        data["event"]["id"] = str(uuid.uuid4())
        data["event"]["occurred_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        data["event"]["data"]["incident_key"] = f"{data['event']['data']['incident_key']}-{key}"
    elif source == "opsgenie":
        data["alert"]["alias"] = f"{data['alert']['alias']}-{key}"
    else:
        data["group_key"] = f"{data['group_key']}-{key}"
    data.update(changes)
    return data


def pagerduty_signature(body: bytes, *secrets: str) -> str:
    return ",".join("v1=" + hmac.new(s.encode(), body, hashlib.sha256).hexdigest() for s in secrets)


def grafana_headers(body: bytes, secret: str = "gf-secret", at: int | None = None) -> dict[str, str]:
    stamp = str(int(time.time()) if at is None else at)
    signature = hmac.new(secret.encode(), stamp.encode() + b":" + body, hashlib.sha256).hexdigest()
    return {"X-Grafana-Alerting-Signature": signature, "X-Grafana-Alerting-Timestamp": stamp}


def good_auth(source: str, body: bytes) -> dict[str, str]:
    """The headers each configured sender sends."""
    if source == "pagerduty":
        return {"X-PagerDuty-Signature": pagerduty_signature(body, "pd-secret")}
    if source == "grafana":
        return grafana_headers(body)
    if source == "opsgenie":
        return {"Authorization": httpx.BasicAuth("opsgenie", "og-password")._auth_header}
    return {"Authorization": f"Bearer {CREDENTIALS[source + '_token']}"}


@dataclass
class Intake:
    """A running intake app and what it did to Temporal."""

    url: str
    app: FastAPI
    calls: TemporalCalls
    client: Client
    http: httpx.AsyncClient
    created: list[str] = field(default_factory=list)

    async def post(
        self,
        source: str,
        body: dict[str, Any] | bytes | None = None,
        *,
        auth: bool = True,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        sent = {"Content-Type": "application/json", **(good_auth(source, raw) if auth else {}), **(headers or {})}
        response = await self.http.post(f"/alerts/{source}", content=raw, headers=sent, **kwargs)
        if response.status_code == 200 and response.json().get("workflow_id"):
            self.created.append(response.json()["workflow_id"])
        return response

    def metric(self, name: str, **labels: str) -> float:
        value = self.app.state.intake.metrics.registry.get_sample_value(name, labels)
        return value or 0.0

    async def exists(self, workflow_id: str) -> bool:
        try:
            await self.client.get_workflow_handle(workflow_id).describe()
            return True
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                return False
            raise


async def terminate(client: Client, workflow_ids: set[str]) -> None:
    """Stop the incidents a test opened, phase children first (the dev server needs no settling)."""
    for workflow_id in workflow_ids:
        for target in [f"{workflow_id}--{phase.value}" for phase in Phase] + [workflow_id]:
            try:
                await client.get_workflow_handle(target).terminate(reason="test finished")
            except RPCError:
                pass  # closed already, or never started


@asynccontextmanager
async def open_intake(
    temporal: Client, queue: str, /, *, client_factory: Any = None, http: bool = True, **settings: Any
) -> AsyncIterator[Intake]:
    """The app with every source's credentials (and `settings`; a `temporal=` Settings replaces the
    default one), recording its calls to `temporal` (the client);
    served over real HTTP on loopback (`http=False`: called in-process through ASGI)."""
    calls = TemporalCalls()
    client = Client(**{**temporal.config(), "interceptors": [calls]})

    async def factory() -> Client:
        return client

    temporal_settings = settings.pop("temporal", None) or Settings(task_queue=queue)
    options: dict[str, Any] = {**CREDENTIALS, "temporal_timeout": 10.0, **settings}
    app = create_app(IntakeSettings(temporal=temporal_settings, **options), client_factory or factory)
    if http:
        async with running(app) as url, httpx.AsyncClient(base_url=url, timeout=30) as session:
            intake = Intake(url, app, calls, client, session)
            try:
                yield intake
            finally:
                await terminate(temporal, set(intake.created) | set(calls.workflow_ids))
    else:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://intake", timeout=30) as session:
            intake = Intake("http://intake", app, calls, client, session)
            try:
                yield intake
            finally:
                await terminate(temporal, set(intake.created) | set(calls.workflow_ids))


ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")


def alertmanager_config(
    intake_url: str, *, group_interval: str = "1s", token: str = CREDENTIALS["alertmanager_token"]
) -> str:
    """An Alertmanager config routing every alert to the intake's webhook, grouped by alert name and
    the test's `run` label (so each test's group is its own), sent with the intake's bearer token."""
    return f"""
route:
  receiver: warroom
  group_by: [alertname, run]
  group_wait: 1s
  group_interval: {group_interval}
  repeat_interval: 1h
receivers:
  - name: warroom
    webhook_configs:
      - url: {intake_url}/alerts/alertmanager
        send_resolved: true
        http_config:
          authorization:
            type: Bearer
            credentials: {token}
"""


@asynccontextmanager
async def running_alertmanager(config: str, root: Path) -> AsyncIterator[str]:
    """A real Alertmanager with this YAML config on a free loopback port, not clustered (each one
    started here is independent); yields its base URL and stops it at the end."""
    assert ALERTMANAGER, "needs Debian's `prometheus-alertmanager` (apt-get install -y prometheus-alertmanager)"
    port = free_port()
    home = root / f"alertmanager-{port}"
    home.mkdir(parents=True)
    (home / "alertmanager.yml").write_text(config)
    log = (home / "alertmanager.log").open("wb")
    process = subprocess.Popen(
        [
            ALERTMANAGER,
            f"--config.file={home / 'alertmanager.yml'}",
            f"--storage.path={home / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base) as http:
            for _ in range(150):
                if process.poll() is not None:
                    raise AssertionError(f"alertmanager exited: {(home / 'alertmanager.log').read_text()[-2000:]}")
                try:
                    if (await http.get("/-/ready")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
            else:
                raise AssertionError("alertmanager did not become ready in 15 s")
        yield base
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


async def scrape(base_url: str, name: str, **labels: str) -> float:
    """The sum of the samples called `name` whose labels include `labels`, from `base_url`/metrics."""
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as http:
        text = (await http.get("/metrics")).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and labels.items() <= sample.labels.items()
    )
