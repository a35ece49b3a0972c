"""No configured secret reaches a span: the production worker (`run_worker`) and the intake
(`create_app` with its own `connect`) run traced, each secret in real use while they do: the intake's
tokens authenticate the alerts, the codec key encrypts every payload, the Slack token and the
PagerDuty routing key deliver the incident's messages to local stand-ins, the Statuspage API key is
configured, and a bearer token guards the sandbox cluster. Every span's name, attributes, events,
links, status and resource is searched for each secret, as it is and base64-encoded."""

from __future__ import annotations

import base64
import json
import os
import uuid
from pathlib import Path

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydantic import SecretStr
from temporalio.testing import WorkflowEnvironment

from sandbox.cluster import load_scenario, serve
from tests.comms.fakes import (
    PD_ROUTING_KEY,
    SLACK_TOKEN,
    SP_API_KEY,
    SP_COMPONENT,
    SP_PAGE,
    FakePagerDuty,
    FakeSlack,
    FakeStatuspage,
    served,
)
from tests.helpers import assert_eventually
from tests.insight_traces.conftest import NS, SCENARIO
from tests.intake.support import CREDENTIALS, good_auth, payload, terminate
from tests.reliability.test_secrets_scan import production_worker
from warroom.intake.app import create_app
from warroom.intake.server import default_client_factory, running
from warroom.intake.settings import IntakeSettings
from warroom.settings import Settings

pytestmark = pytest.mark.e2e

CODEC_KEY = base64.b64encode(bytes(range(40, 72))).decode()
KUBE_TOKEN = "kube-bearer-9d8c7b6a5f4e"
SECRETS = {
    **{f"intake {name}": value for name, value in CREDENTIALS.items()},
    "slack token": SLACK_TOKEN,
    "pagerduty routing key": PD_ROUTING_KEY,
    "statuspage api key": SP_API_KEY,
    "codec key": CODEC_KEY,
    "kubernetes token": KUBE_TOKEN,
}


def span_text(span: ReadableSpan) -> str:
    """Everything a span carries to a collector, as text."""
    parts: list[object] = [
        span.name,
        dict(span.attributes or {}),
        span.status.description,
        dict(span.resource.attributes),
    ]
    parts += [(e.name, dict(e.attributes or {})) for e in span.events]
    parts += [dict(link.attributes or {}) for link in span.links]
    return json.dumps(parts, default=str)


def leaked(text: str) -> list[str]:
    return sorted(
        name for name, value in SECRETS.items() if value in text or base64.b64encode(value.encode()).decode() in text
    )


def test_the_scan_sees_a_planted_secret() -> None:
    """The scan is not blind: a secret in any attribute is found, raw or base64-encoded."""
    assert leaked(json.dumps({"k8s.object.name": f"x{KUBE_TOKEN}x"})) == ["kubernetes token"]
    assert leaked(base64.b64encode(SLACK_TOKEN.encode()).decode()) == ["slack token"]


async def test_no_configured_secret_appears_in_any_span(
    dev_env: WorkflowEnvironment, spans: InMemorySpanExporter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    slack, pagerduty, statuspage = FakeSlack(), FakePagerDuty(), FakeStatuspage()
    with (
        served(slack) as slack_url,
        served(pagerduty) as pagerduty_url,
        served(statuspage) as statuspage_url,
        serve(load_scenario(SCENARIO), token=KUBE_TOKEN) as cluster,
    ):
        for name in [n for n in os.environ if n.startswith("WARROOM_")]:
            monkeypatch.delenv(name)
        for name, value in {
            "SLACK_TOKEN": SLACK_TOKEN,
            "SLACK_API_URL": f"{slack_url}/api",
            "PAGERDUTY_ROUTING_KEY": PD_ROUTING_KEY,
            "PAGERDUTY_EVENTS_URL": f"{pagerduty_url}/v2/enqueue",
            "STATUSPAGE_API_KEY": SP_API_KEY,
            "STATUSPAGE_PAGE_ID": SP_PAGE,
            "STATUSPAGE_COMPONENT_ID": SP_COMPONENT,
            "STATUSPAGE_API_URL": f"{statuspage_url}/v1",
        }.items():
            monkeypatch.setenv(f"WARROOM_{name}", value)  # the worker reads them as in production
        settings = Settings(
            temporal_address=dev_env.client.service_client.config.target_host,
            task_queue=f"trace-secrets-{uuid.uuid4().hex[:8]}",
            data_dir=tmp_path / "data",
            codec_keys=SecretStr(f"trace1:{CODEC_KEY}"),
            kubeconfig=cluster.write_kubeconfig(tmp_path / "kubeconfig", namespace=NS),
        )
        intake = IntakeSettings(temporal=settings, **CREDENTIALS)  # type: ignore[arg-type]
        opened: set[str] = set()
        async with production_worker(settings):
            app = create_app(intake, default_client_factory(intake))
            async with running(app) as url, httpx.AsyncClient(base_url=url, timeout=30) as http:
                for source in ("alertmanager", "pagerduty", "generic"):
                    body = json.dumps(payload(source)).encode()
                    headers = {"Content-Type": "application/json", **good_auth(source, body)}
                    answer = await http.post(f"/alerts/{source}", content=body, headers=headers)
                    assert answer.status_code == 200, (source, answer.text)
                    opened.add(answer.json()["workflow_id"])
                refused = await http.post(
                    "/alerts/alertmanager", content=b"{}", headers={"Authorization": f"Bearer {KUBE_TOKEN}"}
                )
                assert refused.status_code in (401, 403, 415), refused.text

                def in_use() -> None:
                    names = {s.name for s in spans.get_finished_spans()}
                    assert any(n.startswith("kubernetes ") for n in names), sorted(names)  # the token got us in
                    assert {"conversations.create", "chat.postMessage"} <= set(slack.calls), slack.calls
                    assert pagerduty.events, "the page went to PagerDuty"

                try:
                    await assert_eventually(in_use, timeout=120, interval=0.5)
                finally:
                    await terminate(dev_env.client, opened)

    finished = spans.get_finished_spans()
    requests = [s for s in finished if s.name.startswith("POST /alerts/")]
    assert len(finished) > 50 and len(requests) == 4, [s.name for s in requests]
    [turned_away] = [s for s in requests if (s.attributes or {}).get("warroom.outcome") != "ok"]
    assert (turned_away.attributes or {})["warroom.outcome"] == f"http_{refused.status_code}"
    found = {span.name: leaked(span_text(span)) for span in finished if leaked(span_text(span))}
    print(f"\n[traces] {len(finished)} spans scanned for {len(SECRETS)} secrets, each in use: {len(found)} found")
    assert found == {}, f"secrets in spans: {found}"
    print(f"[traces] statuspage requests: {len(statuspage.requests)}")
