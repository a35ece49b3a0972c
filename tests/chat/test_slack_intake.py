"""The Slack endpoints of the real intake, over HTTP, against a real worker on the dev server and
FakeSlack served over real HTTP (Web API calls and response_urls)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from tests.chat.slack_support import (
    FORM,
    SIGNING_SECRET,
    block_actions,
    command_body,
    interaction_body,
    post_message,
    signed,
    url_verification,
    view_submission,
)
from tests.comms.fakes import SLACK_TOKEN, FakeSlack, assert_no_secrets, served
from tests.helpers import Harness, assert_eventually, incident_input, running_worker, state_of
from tests.intake.support import Intake, open_intake
from warroom.chat.settings import ChatSettings
from warroom.contracts.chat import ChatAction
from warroom.enums import Severity, Update
from warroom.incidents import Incidents
from warroom.models import IncidentState
from warroom.settings import Settings
from warroom.step_models import ProposeStep

ROSTER = """
people:
  - name: alice
    contacts: {slack_id: U0ALICE}
  - name: bob
    contacts: {slack_id: U0BOB}
"""
ALICE, BOB, MALLORY = "U0ALICE", "U0BOB", "U0MALLORY"


@dataclass
class Rig:
    intake: Intake
    fake: FakeSlack
    fake_url: str
    harness: Harness
    roster: Path
    responses: int = 0

    def response_url(self) -> str:
        self.responses += 1
        return f"{self.fake_url}/responses/{self.responses}"

    async def post(self, path: str, body: bytes, headers: dict[str, str] | None = None, **kw: Any) -> httpx.Response:
        sent = {**FORM, **signed(body), **(headers or {})}
        return await self.intake.http.post(f"/slack/{path}", content=body, headers=sent, **kw)

    async def response(self, url: str) -> dict[str, Any]:
        path = url.removeprefix(self.fake_url)

        def arrived() -> dict[str, Any]:
            found = [r for r in self.fake.responses if r["path"] == path]
            assert found, f"nothing posted to {path}"
            return found[0]

        result: dict[str, Any] = await assert_eventually(arrived, timeout=15)
        return result

    async def declared(self) -> tuple[WorkflowHandle[Any, IncidentState], str]:
        """A P2 with alice as IC, and a step (s1) alice proposed."""
        handle = await self.harness.start(
            incident_input(declared=True, severity=Severity.P2, commander="alice", declared_by="alice")
        )
        incident = handle.id.removeprefix("incident-")
        proposal = ProposeStep(by="alice", action="custom", target="redis", description="check the cache")
        await Incidents(self.harness.client).act(incident, Update.PROPOSE_STEP, proposal)
        return handle, incident


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def rig(dev_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Rig]:
    root = tmp_path_factory.mktemp("slack-intake")
    roster = root / "oncall.yaml"
    roster.write_text(ROSTER)
    fake = FakeSlack()
    async with running_worker(dev_env.client, root) as harness:
        with served(fake) as fake_url:
            chat = ChatSettings(slack_signing_secret=SIGNING_SECRET, slack_token=SLACK_TOKEN, slack_api_url=fake_url)
            temporal = Settings(task_queue=harness.queue, oncall=roster)
            async with open_intake(dev_env.client, harness.queue, temporal=temporal, chat=chat) as intake:
                yield Rig(intake, fake, fake_url, harness, roster)


def _events(state: IncidentState, kind: str) -> int:
    return [e.kind for e in state.timeline].count(kind)


def _step(state: IncidentState, step_id: str = "s1") -> Any:
    return next(s for s in state.steps if s.step_id == step_id)


# --- the gate ------------------------------------------------------------------------------------


async def test_forged_stale_and_missing_signatures_are_401_and_reach_nothing(rig: Rig) -> None:
    calls, slack_calls = len(rig.intake.calls), len(rig.fake.calls)
    body = command_body("ack order-api-1", ALICE, rig.response_url())
    post = rig.intake.http.post
    cases: dict[str, dict[str, Any]] = {
        "missing": {},
        "forged": signed(body, secret="not-the-secret"),
        "stale": signed(body, at=int(time.time()) - 301),
        "junk stamp": {**signed(body), "X-Slack-Request-Timestamp": "12ab"},
        "other body": signed(body + b"&text=resolve"),
        "superscript stamp": {**signed(body), "X-Slack-Request-Timestamp": "17²".encode("latin-1")},
        "non-ascii signature": {**signed(body), "X-Slack-Signature": ("v0=" + "é" * 64).encode("latin-1")},
        "v1 signature": {**signed(body), "X-Slack-Signature": signed(body)["X-Slack-Signature"].replace("v0=", "v1=")},
    }
    for name, headers in cases.items():
        response = await post("/slack/commands", content=body, headers={**FORM, **headers})
        assert response.status_code == 401, (name, response.text)
        assert response.json()["detail"], name
    assert (
        "outside the 300s window"
        in (await post("/slack/commands", content=body, headers={**FORM, **cases["stale"]})).text
    )
    assert len(rig.intake.calls) == calls and len(rig.fake.calls) == slack_calls
    refused = rig.intake.metric(
        "warroom_chat_requests_total", platform="slack", kind="commands", outcome="bad_signature"
    )
    assert refused >= 2, "forged and other-body are counted as bad signatures"


async def test_an_exact_replay_is_answered_and_does_nothing(rig: Rig) -> None:
    body = command_body("help", ALICE, rig.response_url())
    headers = {**FORM, **signed(body)}
    first = await rig.intake.http.post("/slack/commands", content=body, headers=headers)
    assert first.status_code == 200 and "/incident ack" in first.json()["text"]
    again = await rig.intake.http.post("/slack/commands", content=body, headers=headers)
    assert again.status_code == 200 and again.content == b""
    assert rig.intake.metric("warroom_chat_requests_total", platform="slack", kind="commands", outcome="replay") >= 1


async def test_hostile_bodies_get_a_clear_4xx_and_no_temporal_call(rig: Rig) -> None:
    calls = len(rig.intake.calls)
    url = rig.response_url()
    cases: list[tuple[str, bytes, dict[str, str], int, str]] = [
        ("interactions", b"payload=%7Bnot+json", FORM, 422, "not JSON"),
        ("interactions", interaction_body({"type": "block_actions"}), FORM, 422, "BlockActions"),
        ("interactions", b"payload=1&payload=2", FORM, 422, "sent twice"),
        ("commands", command_body("ack", ALICE, url, channel_name="a\x00b"), FORM, 422, "NUL"),
        ("commands", command_body("ack", "U0ALICE<script>", url), FORM, 422, "user_id"),
        ("commands", command_body("ack", ALICE, "file:///etc/passwd"), FORM, 422, "response_url"),
        ("commands", b'{"text": "ack"}', {"Content-Type": "application/json"}, 415, "urlencoded"),
        ("events", b'{"type": "url_verification"', {"Content-Type": "application/json"}, 422, "not JSON"),
        ("events", b"[" * 100_000, {"Content-Type": "application/json"}, 422, "not JSON"),
        (
            "events",
            b'{"type": "url_verification", "challenge": "\\ud800"}',
            {"Content-Type": "application/json"},
            422,
            "challenge",
        ),
        ("interactions", b"payload=%FF%FE", FORM, 422, "not JSON"),
    ]
    for path, body, content_type, status, says in cases:
        response = await rig.intake.http.post(f"/slack/{path}", content=body, headers={**content_type, **signed(body)})
        assert (response.status_code, says in response.text) == (status, True), (path, body[:80], response.text)
    huge = b"payload=" + b"x" * (300 * 1024)
    response = await rig.intake.http.post("/slack/interactions", content=huge, headers={**FORM, **signed(huge)})
    assert response.status_code == 413
    forged = ChatAction(kind="ack", incident_id="order-api-1")
    message = {"ts": "1700000000.000001", "channel": "C1", "text": "", "blocks": []}
    payload = block_actions(message, forged, ALICE, url, action_id="warroom_approve")
    response = await rig.post("interactions", interaction_body(payload))
    assert response.status_code == 422 and "does not match" in response.text
    assert len(rig.intake.calls) == calls


async def test_slack_is_refused_until_its_signing_secret_is_set(dev_env: WorkflowEnvironment, rig: Rig) -> None:
    async with open_intake(dev_env.client, rig.harness.queue, chat=ChatSettings()) as intake:
        body = command_body("help", ALICE, rig.response_url())
        response = await intake.http.post("/slack/commands", content=body, headers={**FORM, **signed(body)})
        assert response.status_code == 403
        assert response.json() == {"detail": "Slack is not configured: set WARROOM_SLACK_SIGNING_SECRET"}


async def test_url_verification_answers_the_challenge(rig: Rig) -> None:
    challenge = "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    response = await rig.post("events", url_verification(challenge), {"Content-Type": "application/json"})
    assert response.status_code == 200 and response.json() == {"challenge": challenge}
    other = json.dumps({"type": "event_callback", "event": {"type": "app_mention"}}).encode()
    response = await rig.post("events", other, {"Content-Type": "application/json"})
    assert response.status_code == 200


# --- /incident ------------------------------------------------------------------------------------


async def test_ack_in_the_incidents_channel_and_status(rig: Rig) -> None:
    handle, incident = await rig.declared()
    state = await assert_eventually(lambda: _channel_named(handle), timeout=20)
    url = rig.response_url()
    body = command_body("ack", BOB, url, channel_name=state.channel.lstrip("#"))
    started = time.perf_counter()
    response = await rig.post("commands", body)
    assert response.status_code == 200 and time.perf_counter() - started < 3
    reply = await rig.response(url)
    assert reply["response_type"] == "in_channel", reply
    assert reply["text"].startswith("<@U0BOB> `/incident ack`"), reply
    assert "bob" in (await state_of(handle)).acknowledgements

    url = rig.response_url()
    await rig.post("commands", command_body(f"status {incident}", ALICE, url))
    reply = await rig.response(url)
    assert reply["response_type"] == "ephemeral" and incident in reply["text"] and "P2" in reply["text"], reply


async def _channel_named(handle: WorkflowHandle[Any, IncidentState]) -> IncidentState:
    state = await state_of(handle)
    assert state.channel
    return state


async def test_hostile_arguments_are_refused_by_the_validators(rig: Rig) -> None:
    handle, incident = await rig.declared()
    calls = len(rig.intake.calls)
    for text, says in [
        (f"update {incident} --owner '$(rm -rf /)'", "--owner"),
        (f"assign {incident} ic '<!channel> everyone'", "PERSON"),
    ]:
        url = rig.response_url()
        assert (await rig.post("commands", command_body(text, ALICE, url))).status_code == 200
        reply = await rig.response(url)
        assert reply["response_type"] == "ephemeral" and says in reply["text"], reply
        assert "<!channel>" not in reply["text"]
    assert len(rig.intake.calls) == calls
    assert _events(await state_of(handle), "role_assigned") == 0


async def test_an_unknown_user_is_told_and_changes_nothing(rig: Rig) -> None:
    handle, incident = await rig.declared()
    calls = len(rig.intake.calls)
    response = await rig.post("commands", command_body(f"ack {incident}", MALLORY, rig.response_url()))
    assert response.status_code == 200
    assert response.json()["response_type"] == "ephemeral" and "not in warroom's roster" in response.json()["text"]
    channel = rig.fake.add_channel(f"incident-{incident}", member=True)
    action = ChatAction(kind="approve", incident_id=incident, step_id="s1")
    message = post_message(rig.fake, channel, action)
    await rig.post("interactions", interaction_body(block_actions(message, action, MALLORY, rig.response_url())))
    said = await assert_eventually(lambda: _ephemeral_to(rig.fake, MALLORY, channel), timeout=15)
    assert "not in warroom's roster" in said["text"] and "U0MALLORY" in said["text"]
    assert len(rig.intake.calls) == calls and "edits" not in message
    state = await state_of(handle)
    assert state.acknowledged_at is None and _step(state).status == "pending"


def _ephemeral_to(fake: FakeSlack, user: str, channel: str) -> dict[str, Any]:
    found = [e for e in fake.ephemeral if e["user"] == user and e["channel"] == channel]
    assert found, f"no ephemeral message to {user} in {channel}"
    return found[-1]


# --- buttons ----------------------------------------------------------------------------------------


async def test_a_non_ic_approving_is_told_why_and_the_buttons_stay(rig: Rig) -> None:
    handle, incident = await rig.declared()
    channel = rig.fake.add_channel(f"incident-{incident}", member=True)
    action = ChatAction(kind="approve", incident_id=incident, step_id="s1")
    message = post_message(rig.fake, channel, action, ChatAction(kind="deny", incident_id=incident, step_id="s1"))
    await rig.post("interactions", interaction_body(block_actions(message, action, BOB, rig.response_url())))
    said = await assert_eventually(lambda: _ephemeral_to(rig.fake, BOB, channel), timeout=15)
    assert "Incident Commander" in said["text"], said
    state = await state_of(handle)
    assert _step(state).status == "pending" and _events(state, "step_approved") == 0
    assert "edits" not in message and message["blocks"][-1]["type"] == "actions"


async def test_the_ic_approving_updates_the_message_in_place(rig: Rig) -> None:
    handle, incident = await rig.declared()
    channel = rig.fake.add_channel(f"incident-{incident}", member=True)
    action = ChatAction(kind="approve", incident_id=incident, step_id="s1")
    message = post_message(rig.fake, channel, action, ChatAction(kind="deny", incident_id=incident, step_id="s1"))
    started = time.perf_counter()
    response = await rig.post(
        "interactions", interaction_body(block_actions(message, action, ALICE, rig.response_url()))
    )
    assert response.status_code == 200 and time.perf_counter() - started < 3
    await assert_eventually(lambda: _edited(message), timeout=15)
    assert [b["type"] for b in message["blocks"]] == ["section", "context"]
    decided = message["blocks"][-1]["elements"][0]["text"]
    assert "Step s1 approved by alice (slack:U0ALICE)" in decided
    state = await state_of(handle)
    assert _step(state).decided_by == "alice" and _events(state, "step_approved") == 1


def _edited(message: dict[str, Any]) -> None:
    assert message.get("edits"), "the message was not updated"


async def test_a_double_click_is_one_decision(rig: Rig) -> None:
    handle, incident = await rig.declared()
    channel = rig.fake.add_channel(f"incident-{incident}", member=True)
    action = ChatAction(kind="approve", incident_id=incident, step_id="s1")
    message = post_message(rig.fake, channel, action)
    clicks = [interaction_body(block_actions(message, action, ALICE, rig.response_url())) for _ in range(2)]
    answers = await asyncio.gather(*(rig.post("interactions", body) for body in clicks))
    assert [a.status_code for a in answers] == [200, 200]
    await assert_eventually(lambda: _edited_twice(message), timeout=15)
    state = await state_of(handle)
    assert _events(state, "step_approved") == 1 and _step(state).decided_by == "alice"
    assert not [e for e in rig.fake.ephemeral if e["channel"] == channel]


def _edited_twice(message: dict[str, Any]) -> None:
    assert message.get("edits") == 2, message.get("edits")


async def test_a_slack_retry_after_a_slow_first_attempt_is_one_decision(rig: Rig) -> None:
    handle, incident = await rig.declared()
    channel = rig.fake.add_channel(f"incident-{incident}", member=True)
    action = ChatAction(kind="approve", incident_id=incident, step_id="s1")
    message = post_message(rig.fake, channel, action)
    body = interaction_body(block_actions(message, action, ALICE, rig.response_url()))
    first_headers = {**FORM, **signed(body), "Content-Length": str(len(body))}

    async def slowly() -> AsyncIterator[bytes]:
        yield body[:20]
        await asyncio.sleep(1.5)  # past Slack's patience: it retries while this one is still arriving
        yield body[20:]

    first = asyncio.create_task(rig.intake.http.post("/slack/interactions", content=slowly(), headers=first_headers))
    await asyncio.sleep(0.3)
    retry_headers = signed(
        body, at=int(time.time()) + 1, **{"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
    )
    retry = await rig.post("interactions", body, retry_headers)
    assert retry.status_code == 200 and not first.done()
    assert (await first).status_code == 200
    await assert_eventually(lambda: _edited_twice(message), timeout=15)
    state = await state_of(handle)
    assert _events(state, "step_approved") == 1 and _step(state).decided_by == "alice"
    assert not [e for e in rig.fake.ephemeral if e["channel"] == channel], (
        "the retry was not refused: it is the same update"
    )


async def test_deny_asks_for_a_reason_in_a_modal_then_denies_with_it(rig: Rig) -> None:
    handle, incident = await rig.declared()
    channel = rig.fake.add_channel(f"incident-{incident}", member=True)
    deny = ChatAction(kind="deny", incident_id=incident, step_id="s1")
    message = post_message(rig.fake, channel, ChatAction(kind="approve", incident_id=incident, step_id="s1"), deny)
    views = len(rig.fake.views)
    await rig.post("interactions", interaction_body(block_actions(message, deny, ALICE, rig.response_url())))
    opened = await assert_eventually(lambda: _view_opened(rig.fake, views), timeout=15)
    view = opened["view"]
    assert view["callback_id"] == "warroom_deny" and view["blocks"][0]["element"]["max_length"] == 300
    assert json.loads(view["private_metadata"]) == {"value": deny.to_value(), "channel": channel, "ts": message["ts"]}
    assert _step(await state_of(handle)).status == "pending", "nothing is sent before the reason"

    empty = await rig.post("interactions", interaction_body(view_submission(view, ALICE, "   ")))
    assert empty.json() == {
        "response_action": "errors",
        "errors": {"reason": "Say why: the reason stays in the timeline"},
    }

    response = await rig.post("interactions", interaction_body(view_submission(view, ALICE, "cache ruled out")))
    assert response.status_code == 200 and response.content == b""
    await assert_eventually(lambda: _edited(message), timeout=15)
    decided = message["blocks"][-1]["elements"][0]["text"]
    assert "Step s1 denied by alice (slack:U0ALICE)" in decided and decided.endswith(": cache ruled out")
    assert [b["type"] for b in message["blocks"]] == ["section", "context"]
    step = _step(await state_of(handle))
    assert (step.status, step.decided_by, step.reason) == ("denied", "alice", "cache ruled out")


def _view_opened(fake: FakeSlack, before: int) -> dict[str, Any]:
    assert len(fake.views) > before, "views.open was not called"
    return fake.views[-1]


async def test_a_failing_slack_api_is_logged_without_the_bot_token(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    handle, incident = await rig.declared()
    channel = rig.fake.add_channel(f"incident-{incident}", member=True)
    action = ChatAction(kind="approve", incident_id=incident, step_id="s1")
    message = post_message(rig.fake, channel, action)
    rig.fake.failing["chat.update"] = {"ok": False, "error": "cant_update_message"}
    try:
        with caplog.at_level("DEBUG"):
            body = interaction_body(block_actions(message, action, ALICE, rig.response_url()))
            assert (await rig.post("interactions", body)).status_code == 200
            await assert_eventually(lambda: _logged(caplog, "slack: button failed"), timeout=15)
    finally:
        del rig.fake.failing["chat.update"]
    assert "cant_update_message" in caplog.text
    assert_no_secrets(caplog.text, *(r.getMessage() for r in caplog.records))
    assert SIGNING_SECRET not in caplog.text
    assert _step(await state_of(handle)).decided_by == "alice", "the decision stands; only the message is stale"


def _logged(caplog: pytest.LogCaptureFixture, text: str) -> None:
    assert text in caplog.text, "not logged yet"


async def test_without_a_bot_token_the_answers_go_to_the_response_url(dev_env: WorkflowEnvironment, rig: Rig) -> None:
    handle, incident = await rig.declared()
    action = ChatAction(kind="approve", incident_id=incident, step_id="s1")
    message = post_message(rig.fake, "C0NOTOKEN", action)
    chat = ChatSettings(slack_signing_secret=f"old-secret,{SIGNING_SECRET}", slack_api_url=rig.fake_url)
    temporal = Settings(task_queue=rig.harness.queue, oncall=rig.roster)
    slack_calls = len(rig.fake.calls)
    async with open_intake(dev_env.client, rig.harness.queue, temporal=temporal, chat=chat) as intake:
        for user, url in [(BOB, rig.response_url()), (ALICE, rig.response_url())]:
            body = interaction_body(block_actions(message, action, user, url))
            assert (
                await intake.http.post("/slack/interactions", content=body, headers={**FORM, **signed(body)})
            ).is_success
            reply = await rig.response(url)
            if user == BOB:
                assert reply["replace_original"] is False and reply["response_type"] == "ephemeral"
                assert "Incident Commander" in reply["text"], reply
            else:
                assert reply["replace_original"] is True and [b["type"] for b in reply["blocks"]] == [
                    "section",
                    "context",
                ]
                assert "Step s1 approved by alice" in reply["blocks"][-1]["elements"][0]["text"]
    assert len(rig.fake.calls) == slack_calls, "no Web API call without a token"
    assert _step(await state_of(handle)).decided_by == "alice"


async def test_declare_from_a_pages_button(rig: Rig) -> None:
    handle = await rig.harness.start(incident_input())
    incident = handle.id.removeprefix("incident-")
    channel = rig.fake.add_channel(f"page-{incident}", member=True)
    ack = ChatAction(kind="ack", incident_id=incident)
    p1, p2 = (ChatAction(kind="declare", incident_id=incident, severity=s) for s in (Severity.P1, Severity.P2))
    message = post_message(rig.fake, channel, ack, p1, p2)
    body = interaction_body(block_actions(message, p2, ALICE, rig.response_url()))
    assert (await rig.post("interactions", body)).status_code == 200
    await assert_eventually(lambda: _edited(message), timeout=15)
    assert "Declared P2 by alice (slack:U0ALICE)" in message["blocks"][-1]["elements"][0]["text"]
    state = await state_of(handle)
    assert state.severity == Severity.P2 and _events(state, "declared") == 1
