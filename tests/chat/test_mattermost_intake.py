"""Mattermost into the intake: the slash command, buttons and the deny dialog, shaped like
Mattermost's requests, against the real intake app, a real worker and the dev server.

The intake's own Mattermost calls (opening the dialog, patching the post) go to FakeMattermost over
real HTTP. `TemporalCalls` counts what the intake sent to Temporal: a forged request sends nothing.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from pydantic import SecretStr
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from activities.channels._http import HttpClient
from activities.channels.mattermost import MattermostChannel
from tests.comms.fakes import MATTERMOST_TOKEN, FakeMattermost, served
from tests.helpers import Harness, assert_eventually, incident_input, running_worker, state_of
from tests.intake.support import Intake, open_intake
from warroom.chat.settings import ChatSettings
from warroom.contracts.chat import SIGNATURE_FIELD, ChatAction, sign_context
from warroom.enums import Phase, Role, Severity, Update
from warroom.models import AssignRole, Notification, ProposeStep, UpdateResult

ALICE, BOB, MALLORY = "a" * 26, "b" * 26, "m" * 26
TEAM, CHANNEL = "t" * 26, "c" * 26
TOKEN = "mm-command-t0ken-current"
SECRET = "mm-action-secret-0123456789"
ROSTER = f"""
people:
  - name: alice
    contacts: {{mattermost_id: "{ALICE}"}}
  - name: bob
    contacts: {{mattermost_id: "{BOB}"}}
"""
MESSAGE = "🛠 Step proposed: custom on deployment/order-api"


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def harness(dev_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Harness]:
    async with running_worker(dev_env.client, tmp_path_factory.mktemp("mattermost")) as running:
        yield running


@pytest.fixture(scope="module")
def mattermost() -> Iterator[tuple[FakeMattermost, str]]:
    fake = FakeMattermost()
    with served(fake) as base:
        yield fake, base


def chat_settings(base: str | None = None, **changes: Any) -> ChatSettings:
    values: dict[str, Any] = dict(
        mattermost_command_token=f"old-token-value,{TOKEN}",
        mattermost_action_secret=SECRET,
        mattermost_url=base,
        mattermost_token=MATTERMOST_TOKEN if base else None,
    )
    values.update(changes)
    return ChatSettings(**values)


@pytest.fixture
def roster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The roster file, as WARROOM_ONCALL (open_intake's `temporal` parameter is the client, so the
    intake's Temporal settings come from the environment here)."""
    path = tmp_path / "oncall.yaml"
    path.write_text(ROSTER)
    monkeypatch.setenv("WARROOM_ONCALL", str(path))
    return path


@pytest_asyncio.fixture(loop_scope="session")
async def intake(
    dev_env: WorkflowEnvironment, harness: Harness, mattermost: tuple[FakeMattermost, str], roster: Path
) -> AsyncIterator[Intake]:
    async with open_intake(dev_env.client, harness.queue, chat=chat_settings(mattermost[1])) as it:
        yield it


def command_form(text: str, **changes: str) -> dict[str, str]:
    form = dict(
        token=TOKEN,
        team_id=TEAM,
        team_domain="acme",
        channel_id=CHANNEL,
        channel_name="town-square",
        user_id=ALICE,
        user_name="alice",
        command="/incident",
        text=text,
        response_url="https://chat.example.test/hooks/commands/xyz",
        trigger_id="dHJpZ2dlcjpjb21tYW5k:" + text.replace(" ", "-")[:40],
    )
    form.update(changes)
    return {k: v for k, v in form.items() if v is not None}


async def command(intake: Intake, text: str, **changes: str) -> httpx.Response:
    return await intake.http.post("/mattermost/commands", data=command_form(text, **changes))


def action_body(action: ChatAction, post_id: str, user: str = ALICE, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = dict(
        user_id=user,
        user_name={ALICE: "alice", BOB: "bob"}.get(user, "mallory"),
        channel_id=CHANNEL,
        channel_name="incident-x",
        team_id=TEAM,
        team_domain="acme",
        post_id=post_id,
        trigger_id=f"trigger-{post_id[:6]}",
        type="",
        data_source="",
        context=sign_context({"action": action.to_value(), "message": MESSAGE}, SECRET.encode()),
    )
    body.update(changes)
    return body


async def press(intake: Intake, action: ChatAction, post_id: str, user: str = ALICE, **changes: Any) -> httpx.Response:
    return await intake.http.post("/mattermost/actions", json=action_body(action, post_id, user, **changes))


async def commanding(harness: Harness) -> WorkflowHandle[Any, Any]:
    """A declared P2 with alice as IC and bob as Ops Lead, in the command phase."""
    handle = await harness.start(
        incident_input(declared=True, severity=Severity.P2, commander="alice", declared_by="alice")
    )
    await handle.execute_update(Update.ASSIGN_ROLE, AssignRole(role=Role.OPERATIONS_LEAD, person="bob", by="alice"))

    async def in_command() -> Any:
        state = await state_of(handle)
        assert state.phase == Phase.COMMAND and state.channel
        return state

    await assert_eventually(in_command, timeout=20)
    return handle


async def proposed(handle: WorkflowHandle[Any, Any]) -> str:
    result = await handle.execute_update(
        Update.PROPOSE_STEP,
        ProposeStep(by="bob", action="custom", target="deployment/order-api"),
        result_type=UpdateResult,
    )
    assert result.step_id
    return result.step_id


async def accepted(handle: WorkflowHandle[Any, Any], name: str) -> int:
    history = await handle.fetch_history()
    return sum(
        1
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
        and e.workflow_execution_update_accepted_event_attributes.accepted_request.input.name == name
    )


# --- refused before anything reaches Temporal ---------------------------------------------------------


async def test_a_missing_or_wrong_command_token_is_401_and_sends_nothing(intake: Intake) -> None:
    cases = [
        command_form("ack inc-1", token=""),
        command_form("ack inc-1", token="wrong"),
        command_form("ack inc-1", token=TOKEN + "x"),
        {k: v for k, v in command_form("ack inc-1").items() if k != "token"},
    ]
    for form in cases:
        response = await intake.http.post("/mattermost/commands", data=form)
        assert response.status_code == 401, (form, response.text)
        assert TOKEN not in response.text
    old = await command(intake, "help", token="old-token-value")  # a rotated value still works
    assert old.status_code == 200 and old.json()["response_type"] == "ephemeral"
    assert len(intake.calls) == 0


async def test_hostile_command_bodies_get_4xx_and_send_nothing(intake: Intake) -> None:
    as_json = await intake.http.post("/mattermost/commands", json=command_form("ack inc-1"))
    assert as_json.status_code == 415
    nul = await command(intake, "ack inc-1\x00; rm -rf /")
    assert nul.status_code == 422 and "control characters" in nul.text
    bad_user = await command(intake, "ack inc-1", user_id="../../etc/passwd")
    assert bad_user.status_code == 422
    big = await intake.http.post(
        "/mattermost/commands",
        content=b"token=" + b"x" * 300_000,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert big.status_code == 413
    junk = await intake.http.post(
        "/mattermost/commands", content=b"\xff\xfe=\xff", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert junk.status_code == 422
    injected = await command(intake, "update inc-1 --owner '$(rm -rf /)'")
    assert injected.status_code == 200 and injected.json()["response_type"] == "ephemeral"
    assert "--owner" in injected.json()["text"]
    assert len(intake.calls) == 0


async def test_a_forged_or_altered_context_is_401_and_sends_nothing(intake: Intake) -> None:
    action = ChatAction(kind="ack", incident_id="order-api-1")
    genuine = action_body(action, "p" * 26)["context"]
    other = ChatAction(kind="approve", incident_id="order-api-1", step_id="s1")
    forged = [
        {"action": action.to_value()},  # unsigned
        sign_context({"action": action.to_value()}, b"someone-elses-secret"),
        {**genuine, "action": other.to_value()},  # signed for ack, altered to approve
        {**genuine, SIGNATURE_FIELD: "0" * 64},
        "not an object",
        None,
    ]
    for context in forged:
        response = await press(intake, action, "p" * 26, context=context)
        assert response.status_code == 401, (context, response.text)
    junk = await intake.http.post(
        "/mattermost/actions", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert junk.status_code == 422
    form = await intake.http.post("/mattermost/actions", data={"context": "x"})
    assert form.status_code == 415
    big = await intake.http.post(
        "/mattermost/actions", content=b'{"x":"' + b"y" * 300_000 + b'"}', headers={"Content-Type": "application/json"}
    )
    assert big.status_code == 413
    nul = await press(intake, action, "p" * 26, user_name="al\x00ice")
    assert nul.status_code == 422 and "control characters" in nul.text
    bad_post = await press(intake, action, "../../posts")
    assert bad_post.status_code == 422
    deep = await intake.http.post(
        "/mattermost/dialogs", content=b"[" * 100_000, headers={"Content-Type": "application/json"}
    )
    assert deep.status_code == 422
    dialog = await intake.http.post(
        "/mattermost/dialogs",
        json={
            "type": "dialog_submission",
            "callback_id": "warroom_deny",
            "state": json.dumps(genuine),
            "user_id": ALICE,
            "team_id": TEAM,
            "channel_id": CHANNEL,
            "submission": {"reason": "x"},
        },
    )
    assert dialog.status_code == 401, "a button's signed context does not pass for a dialog's state"
    assert len(intake.calls) == 0


async def test_unconfigured_mattermost_is_403_and_names_the_variable(
    dev_env: WorkflowEnvironment, harness: Harness, roster: Path
) -> None:
    async with open_intake(dev_env.client, harness.queue, chat=ChatSettings()) as bare:
        response = await command(bare, "help")
        assert response.status_code == 403 and "WARROOM_MATTERMOST_COMMAND_TOKEN" in response.text
        response = await press(bare, ChatAction(kind="ack", incident_id="x-1"), "p" * 26)
        assert response.status_code == 403 and "WARROOM_MATTERMOST_ACTION_SECRET" in response.text
        assert len(bare.calls) == 0


# --- acting ----------------------------------------------------------------------------------------------


async def test_ack_in_the_incidents_channel_needs_no_id(intake: Intake, harness: Harness) -> None:
    handle = await commanding(harness)
    channel = (await state_of(handle)).channel.lstrip("#")
    response = await command(intake, "ack", user_id=BOB, user_name="bob", channel_name=channel)
    assert response.status_code == 200 and response.json()["response_type"] == "in_channel", response.json()
    assert "bob" in (await state_of(handle)).acknowledgements
    status = await command(intake, "status", channel_name=channel)
    assert status.json()["response_type"] == "ephemeral" and "P2" in status.json()["text"]
    elsewhere = await command(intake, "ack", channel_name="town-square", trigger_id="other")
    assert elsewhere.json()["response_type"] == "ephemeral" and "name the incident" in elsewhere.json()["text"]
    assert set(intake.calls.workflow_ids) == {handle.id}


async def test_an_unknown_user_changes_nothing(intake: Intake, harness: Harness) -> None:
    handle = await harness.start(incident_input())
    incident = handle.id.removeprefix("incident-")
    pressed = await press(intake, ChatAction(kind="ack", incident_id=incident), "p" * 26, user=MALLORY)
    assert pressed.status_code == 200 and "not in warroom's roster" in pressed.json()["ephemeral_text"]
    assert MALLORY in pressed.json()["ephemeral_text"] and "update" not in pressed.json()
    typed = await command(intake, f"ack {incident}", user_id=MALLORY, user_name="mallory")
    assert typed.json() == {"response_type": "ephemeral", "text": typed.json()["text"]}
    assert "roster" in typed.json()["text"]
    assert len(intake.calls) == 0 and (await state_of(handle)).acknowledged_at is None


async def test_the_ic_approves_once_and_a_non_ic_is_told_why_not(
    intake: Intake, harness: Harness, mattermost: tuple[FakeMattermost, str]
) -> None:
    fake, _ = mattermost
    handle = await commanding(harness)
    step = await proposed(handle)
    incident = handle.id.removeprefix("incident-")
    post_id = fake.add_post(CHANNEL, MESSAGE)
    approve = ChatAction(kind="approve", incident_id=incident, step_id=step)

    refused = await press(intake, approve, post_id, user=BOB)
    assert refused.status_code == 200 and "Incident Commander" in refused.json()["ephemeral_text"], refused.json()
    assert (await state_of(handle)).steps[0].status == "pending"

    first = await press(intake, approve, post_id)
    second = await press(intake, approve, post_id)  # a double click: the same update, decided once
    for response in (first, second):
        update = response.json()["update"]
        assert update["message"] == MESSAGE
        (attachment,) = update["props"]["attachments"]
        assert "actions" not in attachment
        assert f"Step {step} approved by alice (mattermost:{ALICE})" in attachment["text"]
    state = await state_of(handle)
    assert (state.steps[0].status, state.steps[0].decided_by) == ("approved", "alice")
    assert await accepted(handle, "approve") == 1


async def test_deny_opens_a_dialog_and_its_reason_decides_once(
    intake: Intake, harness: Harness, mattermost: tuple[FakeMattermost, str]
) -> None:
    fake, _ = mattermost
    handle = await commanding(harness)
    step = await proposed(handle)
    incident = handle.id.removeprefix("incident-")
    post_id = fake.add_post(CHANNEL, MESSAGE, {"attachments": [{"actions": [{"id": "warroomdeny"}]}]})
    deny = ChatAction(kind="deny", incident_id=incident, step_id=step)

    opened = await press(intake, deny, post_id)
    assert opened.status_code == 200 and opened.json() == {}
    assert len(intake.calls) == 0, "pressing Deny only asks why"
    sent = fake.dialogs[-1]
    assert sent["url"] == f"{intake.url}/mattermost/dialogs" and sent["trigger_id"] == f"trigger-{post_id[:6]}"
    dialog = sent["dialog"]
    assert dialog["callback_id"] == "warroom_deny"
    assert [(e["name"], e["type"], e["max_length"]) for e in dialog["elements"]] == [("reason", "textarea", 300)]

    def submission(reason: str, state: str = dialog["state"]) -> dict[str, Any]:
        return {
            "type": "dialog_submission",
            "callback_id": "warroom_deny",
            "state": state,
            "user_id": ALICE,
            "channel_id": CHANNEL,
            "team_id": TEAM,
            "submission": {"reason": reason},
            "cancelled": False,
        }

    empty = await intake.http.post("/mattermost/dialogs", json=submission("   "))
    assert empty.status_code == 200 and "reason" in empty.json()["errors"]
    tampered = json.loads(dialog["state"]) | {"post_id": "q" * 26}
    forged = await intake.http.post("/mattermost/dialogs", json=submission("x", json.dumps(tampered)))
    assert forged.status_code == 401
    assert len(intake.calls) == 0

    for _ in range(2):  # a second submission is the same update
        done = await intake.http.post("/mattermost/dialogs", json=submission("not a database problem"))
        assert done.status_code == 200 and done.json() == {}, done.text
    state = await state_of(handle)
    assert (state.steps[0].status, state.steps[0].decided_by) == ("denied", "alice")
    assert await accepted(handle, "deny") == 1
    post = fake.posts[post_id]
    assert post["message"] == MESSAGE, "a patch keeps the text"
    (attachment,) = post["props"]["attachments"]
    assert "actions" not in attachment
    assert f"Step {step} denied by alice (mattermost:{ALICE})" in attachment["text"]
    assert attachment["text"].endswith(": not a database problem")


async def test_without_a_bot_token_deny_points_to_the_command(
    dev_env: WorkflowEnvironment, harness: Harness, roster: Path
) -> None:
    async with open_intake(dev_env.client, harness.queue, chat=chat_settings()) as it:
        response = await press(it, ChatAction(kind="deny", incident_id="order-api-1", step_id="s1"), "p" * 26)
        assert response.json() == {"ephemeral_text": "deny with `/incident deny order-api-1 s1 --reason ...`"}
        assert len(it.calls) == 0


async def test_a_button_warroom_posted_is_pressed_as_mattermost_sends_it(
    intake: Intake, harness: Harness, mattermost: tuple[FakeMattermost, str]
) -> None:
    """The whole loop: the worker's adapter posts the proposal with buttons; Mattermost sends the
    pressed button's context, as it was posted, to the button's integration URL."""
    fake, base = mattermost
    handle = await commanding(harness)
    step = await proposed(handle)
    state = await state_of(handle)
    channel = MattermostChannel(
        HttpClient(),
        SecretStr(MATTERMOST_TOKEN),
        api_url=base,
        team="acme",
        action_url=f"{intake.url}/mattermost/actions",
        action_secret=SecretStr(SECRET),
    )
    notification = Notification(
        incident_id=state.incident_id,
        channel="incident",
        template="step_proposed",
        context={"channel": state.channel, "step_id": step},
    )
    try:
        await channel.deliver(notification, "🛠 Step proposed")
    finally:
        await channel.http.aclose()
    post = fake.in_channel(state.channel.lstrip("#"))[-1]
    approve = next(a for a in post["props"]["attachments"][0]["actions"] if a["name"] == "Approve")
    sent = action_body(
        ChatAction(kind="ack", incident_id="unused-1"), post["id"], context=approve["integration"]["context"]
    )
    async with httpx.AsyncClient() as mattermost_server:
        response = await mattermost_server.post(approve["integration"]["url"], json=sent)
    assert response.status_code == 200, response.text
    update = response.json()["update"]
    assert update["message"] == "🛠 Step proposed"
    assert f"Step {step} approved by alice" in update["props"]["attachments"][0]["text"]
    assert (await state_of(handle)).steps[0].status == "approved"
