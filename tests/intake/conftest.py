"""Intake fixtures: the real app on a loopback port, the session's dev server, a real worker.

Temporal is never mocked. `TemporalCalls` is a client interceptor on the real client that
records every call able to start or change a workflow: "zero Temporal calls" is asserted on it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from temporalio.client import Client, Interceptor, OutboundInterceptor
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from tests.helpers import Harness, running_worker
from warroom.enums import Phase
from warroom.intake import IntakeSettings, create_app
from warroom.intake.server import running
from warroom.settings import Settings

PAYLOADS = Path(__file__).with_name("payloads")
CREDENTIALS: dict[str, str] = dict(
    alertmanager_token="am-token", opsgenie_basic_user="opsgenie", opsgenie_basic_password="og-password",
    pagerduty_signing_secrets="pd-secret", grafana_signing_secrets="gf-secret", generic_token="generic-token")


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

    async def post(self, source: str, body: dict[str, Any] | bytes | None = None, *, auth: bool = True,
                   headers: dict[str, str] | None = None, **kwargs: Any) -> httpx.Response:
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


MakeIntake = Callable[..., Any]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def worker(dev_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Harness]:
    """One real worker per test module, on its own task queue."""
    async with running_worker(dev_env.client, tmp_path_factory.mktemp("intake-worker")) as harness:
        yield harness


async def terminate(client: Client, workflow_ids: set[str]) -> None:
    """Stop the incidents a test opened, phase children first (the dev server needs no settling)."""
    for workflow_id in workflow_ids:
        for target in [f"{workflow_id}--{phase.value}" for phase in Phase] + [workflow_id]:
            try:
                await client.get_workflow_handle(target).terminate(reason="test finished")
            except RPCError:
                pass  # closed already, or never started


@asynccontextmanager
async def open_intake(dev_env: WorkflowEnvironment, queue: str, *, client_factory: Any = None, http: bool = True,
                      **settings: Any) -> AsyncIterator[Intake]:
    calls = TemporalCalls()
    client = Client(**{**dev_env.client.config(), "interceptors": [calls]})

    async def factory() -> Client:
        return client

    options: dict[str, Any] = {**CREDENTIALS, "temporal_timeout": 10.0, **settings}
    app = create_app(IntakeSettings(temporal=Settings(task_queue=queue), **options), client_factory or factory)
    if http:
        async with running(app) as url, httpx.AsyncClient(base_url=url, timeout=30) as session:
            intake = Intake(url, app, calls, client, session)
            try:
                yield intake
            finally:
                await terminate(dev_env.client, set(intake.created) | set(calls.workflow_ids))
    else:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://intake", timeout=30) as session:
            intake = Intake("http://intake", app, calls, client, session)
            try:
                yield intake
            finally:
                await terminate(dev_env.client, set(intake.created) | set(calls.workflow_ids))


@pytest.fixture
def make_intake(dev_env: WorkflowEnvironment, worker: Harness) -> MakeIntake:
    """`async with make_intake(**settings) as intake:` an app with these settings, on the module's worker."""
    return lambda **settings: open_intake(dev_env, worker.queue, **settings)


@pytest_asyncio.fixture(loop_scope="session")
async def intake(make_intake: MakeIntake) -> AsyncIterator[Intake]:
    """The app with every source's credentials configured, served over real HTTP on loopback."""
    async with make_intake() as running_intake:
        yield running_intake


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def module_intake(dev_env: WorkflowEnvironment, worker: Harness) -> AsyncIterator[Intake]:
    """One app for a whole module, called in-process (ASGI): for property tests' many examples."""
    async with open_intake(dev_env, worker.queue, http=False) as running_intake:
        yield running_intake


@pytest.fixture(name="payload")
def payload_fixture() -> Callable[..., dict[str, Any]]:
    """`payload("alertmanager")`: a documented example with a fresh group key."""
    return payload


@pytest.fixture(name="pagerduty_signature")
def pagerduty_signature_fixture() -> Callable[..., str]:
    """`pagerduty_signature(body, *secrets)`: an X-PagerDuty-Signature value."""
    return pagerduty_signature


@pytest.fixture(name="grafana_headers")
def grafana_headers_fixture() -> Callable[..., dict[str, str]]:
    """`grafana_headers(body, secret=, at=)`: Grafana's signature and timestamp headers."""
    return grafana_headers
