"""The chat core: `/incident` parsing, button values, and the desk on a real dev server and worker."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from tests.helpers import Harness, assert_eventually, incident_input, running_worker, state_of
from warroom.audit import audit_rows, incident_histories
from warroom.chat.commands import parse
from warroom.chat.desk import ChatDesk, update_id
from warroom.chat.identity import ChatRoster
from warroom.contracts.chat import ChatAction, ChatInputError, ChatUser
from warroom.enums import Role, Severity, Update
from warroom.incidents import Incidents
from warroom.models import Acknowledge, StepDecision
from warroom.oncall.models import OncallConfig

ROSTER = OncallConfig.model_validate(
    {
        "people": [
            {"name": "alice", "contacts": {"slack_id": "U0ALICE"}},
            {"name": "bob", "contacts": {"slack_id": "U0BOB", "mattermost_id": "b" * 26}},
        ]
    }
)
ALICE = ChatUser(platform="slack", user_id="U0ALICE", team_id="T1")
BOB = ChatUser(platform="slack", user_id="U0BOB", team_id="T1")
MALLORY = ChatUser(platform="slack", user_id="U0MALLORY", team_id="T1")


# --- parsing ---------------------------------------------------------------------------------


def test_a_command_reads_like_the_cli() -> None:
    cmd = parse("approve order-api-1 s2 --preview 3f9a0c1b2d4e --reason “pods wedged”")
    assert (cmd.name, cmd.incident, cmd.positionals) == ("approve", "order-api-1", ["s2"])
    request = cmd.request("alice")
    assert request == StepDecision(step_id="s2", by="alice", reason="pods wedged", preview="3f9a0c1b2d4e")


def test_in_a_channel_the_incident_may_be_left_out() -> None:
    cmd = parse("assign ops bob")
    assert cmd.incident is None and cmd.positionals == ["ops", "bob"]
    assert cmd.request("alice").model_dump()["role"] == Role.OPERATIONS_LEAD


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("frobnicate", "unknown command"),
        ("deny s1", "needs --reason"),
        ("approve a b c", "takes [ID] STEP"),
        ("ack --sudo", "has no option --sudo"),
        ("update --error-rate lots", "takes a number"),
        ("assign ops", "takes [ID] ROLE PERSON"),
        ("resolve --summary", "needs a value"),
        ("mitigated 'unclosed", "close your quotes"),
        ("x" * 5000, "over 3000 characters"),
    ],
)
def test_bad_commands_say_what_was_expected(text: str, says: str) -> None:
    with pytest.raises(ChatInputError, match=re.escape(says)):
        parse(text).request("alice")


def test_hostile_values_are_refused_by_the_request_model() -> None:
    with pytest.raises(ChatInputError, match="--owner"):
        parse("update inc-1 --owner '$(rm -rf /)'").request("alice")


def test_a_button_value_round_trips_and_forgeries_do_not() -> None:
    action = ChatAction(kind="approve", incident_id="order-api-1", step_id="s2", digest="3f9a0c1b2d4e")
    assert ChatAction.from_value(action.to_value()) == action
    assert action.action_id == "warroom_approve"
    assert ChatAction(kind="declare", incident_id="x", severity=Severity.P2).action_id == "warroom_declare_P2"
    for forged in ('{"kind":"rm","incident_id":"x"}', '{"kind":"ack","incident_id":"../x"}', "not json", "[" * 3000):
        with pytest.raises(ChatInputError):
            ChatAction.from_value(forged)


def test_the_same_action_gives_the_same_update_id() -> None:
    assert update_id(ALICE, "C1/1700.1/warroom_ack") == update_id(ALICE, "C1/1700.1/warroom_ack")
    assert update_id(ALICE, "C1/1700.1/warroom_ack") != update_id(BOB, "C1/1700.1/warroom_ack")
    assert update_id(ALICE, "k").startswith("chat-slack-U0ALICE-")


# --- the desk, on the dev server ----------------------------------------------------------------


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def harness(dev_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Harness]:
    async with running_worker(dev_env.client, tmp_path_factory.mktemp("chat-core")) as running:
        yield running


@pytest.fixture
def desk(dev_env: WorkflowEnvironment) -> ChatDesk:
    incidents = Incidents(dev_env.client)

    async def factory() -> Incidents:
        return incidents

    return ChatDesk(factory, ChatRoster(ROSTER))


async def test_a_double_click_acknowledges_once(harness: Harness, desk: ChatDesk) -> None:
    handle = await harness.start(incident_input(on_call="alice"))
    incident = handle.id.removeprefix("incident-")
    action = ChatAction(kind="ack", incident_id=incident)
    first = await desk.press(ALICE, action, key="C1/1700.1/warroom_ack")
    second = await desk.press(ALICE, action, key="C1/1700.1/warroom_ack")
    assert first.ok and second.ok, (first, second)
    assert first.result == second.result
    assert first.decided and "Acknowledged by alice (slack:U0ALICE)" in first.decided
    state = await state_of(handle)
    assert [e.kind for e in state.timeline].count("acknowledged") == 1
    assert state.acknowledged_by == "alice"
    # The audit names the roster person and the chat user the act came from.
    rows = await audit_rows(await incident_histories(harness.client, handle.id), harness.client.data_converter)
    acks = [r for r in rows if "acknowledge:" in r.summary]
    assert len(acks) == 1 and acks[0].actor == "alice" and "slack:U0ALICE" in acks[0].summary, acks


async def test_unknown_users_change_nothing(harness: Harness, desk: ChatDesk) -> None:
    handle = await harness.start(incident_input())
    incident = handle.id.removeprefix("incident-")
    outcome = await desk.press(MALLORY, ChatAction(kind="ack", incident_id=incident), key="k1")
    assert not outcome.ok and "not in warroom's roster" in outcome.text and "U0MALLORY" in outcome.text
    outcome = await desk.command(MALLORY, f"ack {incident}", key="k2")
    assert not outcome.ok and "roster" in outcome.text
    assert (await state_of(handle)).acknowledged_at is None


async def test_a_refusal_answers_with_the_validators_reason(harness: Harness, desk: ChatDesk) -> None:
    handle = await harness.start(
        incident_input(declared=True, severity=Severity.P2, commander="alice", declared_by="alice")
    )
    incident = handle.id.removeprefix("incident-")
    outcome = await desk.command(BOB, f"mitigated {incident} --action 'rolled back'", key="t1")
    assert not outcome.ok and "Incident Commander" in outcome.text, outcome
    outcome = await desk.command(ALICE, f"status {incident}", key="t2")
    assert outcome.ok and "P2" in outcome.text and "alice" in outcome.text


async def test_a_deny_button_asks_for_a_reason_first(harness: Harness, desk: ChatDesk) -> None:
    action = ChatAction(kind="deny", incident_id="whatever-1", step_id="s1")
    outcome = await desk.press(ALICE, action, key="k")
    assert outcome.ok and outcome.needs_reason and outcome.result is None


async def test_in_the_incidents_channel_the_id_is_implied(harness: Harness, desk: ChatDesk) -> None:
    handle = await harness.start(
        incident_input(declared=True, severity=Severity.P2, commander="alice", declared_by="alice")
    )
    state = await assert_eventually(_channel_named(handle), timeout=20)
    outcome = await desk.command(BOB, "ack", key="t3", channel_name=state.channel.lstrip("#"))
    assert outcome.ok, outcome
    assert "bob" in (await state_of(handle)).acknowledgements
    outcome = await desk.command(BOB, "ack", key="t4", channel_name="random")
    assert not outcome.ok and "name the incident" in outcome.text


def _channel_named(handle):  # type: ignore[no-untyped-def]
    async def check():  # type: ignore[no-untyped-def]
        state = await state_of(handle)
        assert state.channel
        return state

    return check


def test_update_requests_stay_the_clis(tmp_path: Path) -> None:
    assert parse("ack --take-command").request("alice") == Acknowledge(by="alice", take_command=True)
    assert parse("declare inc-1 --severity p2").spec.update == Update.DECLARE


async def test_declare_from_chat_opens_one_incident_however_often_it_is_retried(
    harness: Harness, dev_env: WorkflowEnvironment
) -> None:
    incidents = Incidents(dev_env.client)

    async def factory() -> Incidents:
        return incidents

    desk = ChatDesk(factory, ChatRoster(ROSTER), runbook=incident_input().runbook, task_queue=harness.queue)
    text = "declare --service payments --severity p2 --summary 'checkout failing' --commander alice"
    first = await desk.command(BOB, text, key="trigger-1")
    assert first.ok and "bob declared P2 incident payments-" in first.text, first
    incident_id = first.text.split("incident ", 1)[1].split(":", 1)[0]
    harness.handles.append(dev_env.client.get_workflow_handle(f"incident-{incident_id}"))
    again = await desk.command(BOB, text, key="trigger-1")
    assert again.ok and f"{incident_id} is already declared" in again.text, again
    state = await state_of(harness.handles[-1])
    assert (state.severity, state.commander, state.service) == (Severity.P2, "alice", "payments")
    refused = await desk.command(BOB, "declare --service payments --summary x", key="trigger-2")
    assert not refused.ok and "needs --severity" in refused.text
    refused = await desk.command(BOB, "declare --service 'pay ments;rm' --severity P1 --summary x", key="t3")
    assert not refused.ok and "service" in refused.text
