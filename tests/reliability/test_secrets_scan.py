"""Secrets never enter workflow history: the intake's tokens and signing secrets, the codec key and
the Slack token are scanned for in every history the incidents they open write.

Each configured secret is really used while the incidents run, by the component that would leak it:
the tokens and the signing secret authenticate the alerts that open them, the codec key encrypts
every payload the intake and the production worker (`run_worker`) write, and the Slack token posts
the incident channel's messages to a local Slack. Histories are read raw (what Temporal stores) and
decrypted (what the Web UI shows through the codec server). A self-test plants each secret in a
history and proves that the same scan finds it.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from temporalio.client import Client, WorkflowHistory
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from tests.comms.fakes import FakeSlack, served
from tests.helpers import assert_eventually, state_of
from tests.history_scan import SOURCES, Ledger, SecretSourceMissing, history_text, payload_encodings, suite_secrets
from tests.intake.support import pagerduty_signature, payload
from warroom.codec import EncryptionCodec, encrypted_converter, parse_key_ring
from warroom.enums import Phase
from warroom.ids import phase_workflow_id
from warroom.intake.app import create_app
from warroom.intake.server import default_client_factory, running
from warroom.intake.settings import IntakeSettings
from warroom.settings import Settings
from warroom.worker import run_worker

SECRETS = {
    "alertmanager token": "am-tok-7f3a9c2e1d",
    "generic token": "gen-tok-55b1e0aa9c",
    "pagerduty signing secret": "pd-sign-0c8d7e6f5a",
    "codec key": base64.b64encode(bytes(range(100, 132))).decode(),
    "slack token": "xoxb-000000000-secret-token",
}
KEY_RING = f"scan1:{SECRETS['codec key']}"


def leaked(text: str) -> list[str]:
    """The configured secrets found in `text`, as they are or base64-encoded."""
    return sorted(
        name for name, value in SECRETS.items() if value in text or base64.b64encode(value.encode()).decode() in text
    )


async def histories_of(client: Client, workflow_id: str) -> list[WorkflowHistory]:
    """An incident's history and those of the phases it started."""
    out = []
    for target in [workflow_id, *(phase_workflow_id(workflow_id, phase) for phase in Phase)]:
        try:
            out.append(await client.get_workflow_handle(target).fetch_history())
        except RPCError:
            pass  # a phase that never ran
    return out


async def scan(histories: list[WorkflowHistory]) -> dict[str, list[str]]:
    """workflow id → secrets found in its history, raw or decrypted with the test's key ring."""
    codec = EncryptionCodec(parse_key_ring(KEY_RING))
    found: dict[str, list[str]] = {}
    for history in histories:
        names = set(leaked(await history_text(history))) | set(leaked(await history_text(history, codec)))
        if names:
            found[history.workflow_id] = sorted(names)
    return found


@asynccontextmanager
async def production_worker(settings: Settings) -> AsyncIterator[None]:
    """`run_worker`, exactly as `warroom worker` runs it, until the block ends."""
    ready = asyncio.Event()
    task = asyncio.create_task(run_worker(settings, ready))
    ready_wait = asyncio.create_task(ready.wait())
    await asyncio.wait([task, ready_wait], timeout=60, return_when=asyncio.FIRST_COMPLETED)
    ready_wait.cancel()
    if task.done():
        task.result()  # it failed to start: say why
    assert ready.is_set(), "the worker did not start in 60 s"
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_no_configured_secret_appears_in_any_history(
    dev_env: WorkflowEnvironment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    slack = FakeSlack(token=SECRETS["slack token"])
    target = dev_env.client.service_client.config.target_host
    temporal = Settings(
        temporal_address=target,
        task_queue=f"secrets-{uuid.uuid4().hex[:8]}",
        data_dir=tmp_path / "data",
        codec_keys=SecretStr(KEY_RING),
    )
    intake = IntakeSettings(
        temporal=temporal,
        alertmanager_token=SECRETS["alertmanager token"],
        generic_token=SECRETS["generic token"],
        pagerduty_signing_secrets=SECRETS["pagerduty signing secret"],
        publish_search_attributes=True,
    )
    with served(slack) as slack_url:
        for name in [n for n in os.environ if n.startswith("WARROOM_")]:
            monkeypatch.delenv(name)
        monkeypatch.setenv("WARROOM_SLACK_TOKEN", SECRETS["slack token"])  # the worker reads it as in production
        monkeypatch.setenv("WARROOM_SLACK_API_URL", f"{slack_url}/api")
        async with production_worker(temporal):
            app = create_app(intake, default_client_factory(intake))
            async with running(app) as url, httpx.AsyncClient(base_url=url, timeout=30) as http:
                opened = await open_three_incidents(http)
            client = await Client.connect(
                target, data_converter=encrypted_converter(dev_env.client.data_converter, parse_key_ring(KEY_RING))
            )
            try:
                generic = client.get_workflow_handle(opened["generic"])

                async def commanding() -> None:
                    state = await state_of(generic)
                    assert state.phase == Phase.COMMAND, state.phase
                    assert slack.messages, "the incident channel's messages went to Slack"
                    try:  # the phase's own workflow has started too (its history is scanned below)
                        await client.get_workflow_handle(phase_workflow_id(generic.id, Phase.COMMAND)).describe()
                    except RPCError as exc:
                        raise AssertionError(f"command phase not started yet: {exc}") from None

                await assert_eventually(commanding, timeout=60)
            finally:
                for workflow_id in opened.values():
                    for target_id in [phase_workflow_id(workflow_id, p) for p in Phase] + [workflow_id]:
                        try:
                            await client.get_workflow_handle(target_id).terminate(reason="test finished")
                        except RPCError:
                            pass
    histories = [h for workflow_id in opened.values() for h in await histories_of(dev_env.client, workflow_id)]
    # Each secret was used: the alerts authenticated (three incidents), Slack took the token, and
    # every payload Temporal stored is ciphertext under the test's key.
    assert sorted(opened) == ["alertmanager", "generic", "pagerduty"]
    assert {"conversations.create", "chat.postMessage"} <= set(slack.calls)
    encodings = {encoding for h in histories for encoding in payload_encodings(h)}
    assert encodings == {b"binary/encrypted"}, encodings
    found = await scan(histories)
    events = sum(len(h.events) for h in histories)
    print(
        f"\n[secrets] {len(histories)} histories, {events} events scanned raw and decrypted for "
        f"{len(SECRETS)} secrets, each one in use: {len(found)} found"
    )
    scanned = {h.workflow_id for h in histories}
    generic = opened["generic"]
    assert {generic, phase_workflow_id(generic, Phase.DECLARE), phase_workflow_id(generic, Phase.COMMAND)} <= scanned
    stored = [
        (await dev_env.client.get_workflow_handle(h.workflow_id).describe()).raw_description.workflow_execution_info
        for h in histories
    ]
    assert events == sum(info.history_length for info in stored), "every event of every history was read"

    async def every_execution_scanned() -> None:
        """Temporal's own visibility lists no execution under these incidents that the scan missed."""
        listed = {
            w.id
            for workflow_id in opened.values()
            async for w in dev_env.client.list_workflows(f'WorkflowId STARTS_WITH "{workflow_id}"')
        }
        assert listed == scanned, f"not scanned: {sorted(listed - scanned)}"

    await assert_eventually(every_execution_scanned)
    assert found == {}, f"secrets in history: {found}"


async def open_three_incidents(http: httpx.AsyncClient) -> dict[str, str]:
    """One incident per authenticated source; source → its workflow id."""
    opened: dict[str, str] = {}
    generic = {
        "group_key": f"secrets-{uuid.uuid4().hex[:10]}",
        "service": "order-api",
        "summary": "order-api 503s",
        "signals": {"user_error_ratio": 0.05},
    }
    alertmanager = json.dumps(payload("alertmanager")).encode()
    pagerduty = json.dumps(payload("pagerduty")).encode()
    sends = {
        "generic": ({"Authorization": f"Bearer {SECRETS['generic token']}"}, json.dumps(generic).encode()),
        "alertmanager": ({"Authorization": f"Bearer {SECRETS['alertmanager token']}"}, alertmanager),
        "pagerduty": (
            {"X-PagerDuty-Signature": pagerduty_signature(pagerduty, SECRETS["pagerduty signing secret"])},
            pagerduty,
        ),
    }
    for source, (headers, body) in sends.items():
        answer = await http.post(
            f"/alerts/{source}", content=body, headers={"Content-Type": "application/json", **headers}
        )
        assert answer.status_code == 200, (source, answer.text)
        reply = answer.json()
        opened[source] = reply["incidents"][0]["workflow_id"] if "incidents" in reply else reply["workflow_id"]
    return opened


async def test_the_scan_finds_every_configured_secret_planted_in_an_encrypted_history(
    skipping_env: WorkflowEnvironment,
) -> None:
    """The scan above is not blind: each secret, planted inside an encrypted argument, is found."""
    client = Client(
        **{
            **skipping_env.client.config(),
            "data_converter": encrypted_converter(skipping_env.client.data_converter, parse_key_ring(KEY_RING)),
        }
    )
    histories = []
    for name, value in SECRETS.items():
        handle = await client.start_workflow(
            "Incident", {"note": f"{name} is {value}"}, id=f"leaky-{name.replace(' ', '-')}", task_queue="nobody"
        )
        try:
            histories.append(await handle.fetch_history())
        finally:
            await handle.terminate()
    raw = [leaked(await history_text(h)) for h in histories]
    assert raw == [[]] * len(SECRETS), "encrypted: nothing readable without the key"
    found = await scan(histories)
    assert found == {f"leaky-{name.replace(' ', '-')}": [name] for name in SECRETS}


async def test_the_suite_wide_scan_finds_a_secret_inside_a_payload(skipping_env: WorkflowEnvironment) -> None:
    """The scan that runs over every history of the suite (tests/history_scan.py) is not blind:
    each secret the suite configures is found once planted inside a JSON argument."""
    ledger = Ledger()
    secrets = suite_secrets()
    handle = await skipping_env.client.start_workflow(
        "Incident", {"notes": list(secrets.values())}, id="leaky", task_queue="no-worker-here"
    )
    try:
        await ledger.scan(skipping_env.client, ["leaky", "never-started"])
    finally:
        await handle.terminate()
    assert len(ledger.scanned) == 1
    assert sorted(ledger.hits) == sorted(f"{name} in leaky" for name in secrets)


def test_a_renamed_secret_source_fails_the_scan(monkeypatch: pytest.MonkeyPatch) -> None:
    """A source that moved must not silently drop its secrets from the scan."""
    monkeypatch.setattr("tests.history_scan.SOURCES", [*SOURCES, ("tests.comms.fakes", "RENAMED_SECRETS")])
    with pytest.raises(SecretSourceMissing, match="tests.comms.fakes.RENAMED_SECRETS"):
        suite_secrets()
    monkeypatch.setattr("tests.history_scan.SOURCES", [*SOURCES, ("tests.no_such_module", "SECRETS")])
    with pytest.raises(SecretSourceMissing, match="tests.no_such_module.SECRETS"):
        suite_secrets()
