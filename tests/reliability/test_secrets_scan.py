"""Secrets never enter workflow history: the intake's tokens and signing secrets, the codec keys and
the channel credentials are scanned for in every history an alert-driven incident writes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from pathlib import Path

import httpx
from temporalio.testing import WorkflowEnvironment

from tests.helpers import assert_eventually, running_worker, state_of
from tests.history_scan import Ledger, suite_secrets
from warroom.enums import Phase
from warroom.intake.app import create_app
from warroom.intake.server import running
from warroom.intake.settings import IntakeSettings
from warroom.settings import Settings

SECRETS = {
    "alertmanager token": "am-tok-7f3a9c2e1d",
    "generic token": "gen-tok-55b1e0aa9c",
    "pagerduty signing secret": "pd-sign-0c8d7e6f5a",
    "codec key": base64.b64encode(b"k" * 32).decode(),
    "slack token": "xoxb-000000000-secret-token",
}


async def test_no_configured_secret_appears_in_any_history(
    dev_env: WorkflowEnvironment, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("WARROOM_SLACK_TOKEN", SECRETS["slack token"])  # present in the worker's environment
    async with running_worker(dev_env.client, tmp_path) as harness:
        target = dev_env.client.service_client.config.target_host
        intake = IntakeSettings(
            temporal=Settings(temporal_address=target, task_queue=harness.queue),
            alertmanager_token=SECRETS["alertmanager token"],
            generic_token=SECRETS["generic token"],
            pagerduty_signing_secrets=SECRETS["pagerduty signing secret"],
            publish_search_attributes=True,
        )
        app = create_app(intake, lambda: _client(dev_env))
        async with running(app) as url, httpx.AsyncClient() as http:
            body = {
                "group_key": f"secrets-{time.time_ns()}",
                "service": "order-api",
                "summary": "order-api 503s",
                "signals": {"user_error_ratio": 0.05},
            }
            answer = await http.post(
                f"{url}/alerts/generic", json=body, headers={"Authorization": f"Bearer {SECRETS['generic token']}"}
            )
            assert answer.status_code == 200, answer.text
            workflow_id = (
                answer.json()["incidents"][0]["workflow_id"]
                if "incidents" in answer.json()
                else answer.json()["workflow_id"]
            )
            pd = json.dumps(
                {
                    "event": {
                        "id": "e1",
                        "event_type": "incident.triggered",
                        "occurred_at": "2026-11-28T10:00:00Z",
                        "data": {"id": "Q1", "type": "incident", "title": "x", "service": {"summary": "order-api"}},
                    }
                }
            )
            signature = hmac.new(SECRETS["pagerduty signing secret"].encode(), pd.encode(), hashlib.sha256).hexdigest()
            await http.post(
                f"{url}/alerts/pagerduty",
                content=pd,
                headers={"Content-Type": "application/json", "X-PagerDuty-Signature": f"v1={signature}"},
            )
        handle = dev_env.client.get_workflow_handle(workflow_id)

        async def commanding() -> None:
            assert (await state_of(handle)).phase == Phase.COMMAND

        await assert_eventually(commanding)
        histories = [await handle.fetch_history()]
        for phase in ("detection", "declare", "command"):
            try:
                histories.append(await dev_env.client.get_workflow_handle(f"{workflow_id}--{phase}").fetch_history())
            except Exception:
                pass  # a phase that never ran
        text = "\n".join(h.to_json() for h in histories)
        found = {
            name: value
            for name, value in SECRETS.items()
            if value in text or base64.b64encode(value.encode()).decode() in text
        }
        events = sum(len(h.events) for h in histories)
        print(
            f"\n[secrets] {len(histories)} histories, {events} events scanned for {len(SECRETS)} secrets: "
            f"{len(found)} found"
        )
        assert not found, f"secrets in history: {sorted(found)}"


async def _client(env: WorkflowEnvironment):
    return env.client


async def test_the_suite_wide_scan_finds_a_secret_inside_a_payload(skipping_env: WorkflowEnvironment) -> None:
    """The scan that runs over every history of the suite (tests/history_scan.py) is not blind:
    a secret inside a JSON argument is found once the payload is decoded."""
    ledger = Ledger()
    leaked = next(iter(suite_secrets().values()))
    handle = await skipping_env.client.start_workflow(
        "Incident", {"note": f"token is {leaked}"}, id="leaky", task_queue="no-worker-here"
    )
    try:
        await ledger.scan(skipping_env.client, ["leaky", "never-started"])
    finally:
        await handle.terminate()
    assert len(ledger.scanned) == 1 and len(ledger.hits) == 1 and "in leaky" in ledger.hits[0]
