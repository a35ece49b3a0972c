"""The IC apart from the responder, and the war room's roles, under time skipping.

The on-call's ack acknowledges the page; the IC is paged as its own role (the runbook's IC
rotation) and takes command by saying so; nobody is both IC and Operations Lead; a declared
incident without an Operations Lead (a P1 without a Comms Lead) prompts the IC.

Running incidents keep the old behaviour: tests/histories/incident-order-api-ack-took-command*.json
were recorded by the code before this change (the on-call's plain ack took command and published
it as a search attribute), and tests/test_replay.py replays them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from tests.helpers import (
    MINUTE,
    SECOND,
    Harness,
    assert_eventually,
    incident_input,
    running_worker,
    state_of,
)
from warroom.enums import Phase, Role, Severity, Update
from warroom.models import (
    Acknowledge,
    Alert,
    AssignRole,
    Declare,
    ImpactSignals,
    SetSeverity,
    StatusUpdate,
    UpdateResult,
)

QUIET = Alert(fingerprint="fp-quiet", summary="error ratio 0.5%", signals=ImpactSignals(user_error_ratio=0.005))


@pytest.fixture
async def harness(skipping_env: WorkflowEnvironment, tmp_path: Path) -> AsyncIterator[Harness]:
    async with running_worker(skipping_env.client, tmp_path) as running:
        yield running


async def in_phase(handle: WorkflowHandle, phase: Phase) -> None:
    async def check() -> None:
        assert (await state_of(handle)).phase == phase

    await assert_eventually(check)


async def act(handle: WorkflowHandle, update: Update, request: object) -> UpdateResult:
    return await handle.execute_update(update, request, result_type=UpdateResult)


async def refusal(handle: WorkflowHandle, update: Update, request: object) -> tuple[str, str]:
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await act(handle, update, request)
    return caught.value.cause.type, caught.value.cause.message  # type: ignore[union-attr]


def sent(harness: Harness, template: str) -> list[tuple[list[str], str]]:
    """(audience, text) of every message of `template`, in order."""
    return [(audience, text) for _, name, audience, text in harness.sink.sent if name == template]


async def expect_sent(harness: Harness, template: str, count: int) -> None:
    await assert_eventually(lambda: _count(harness, template, count))


def _count(harness: Harness, template: str, count: int) -> None:
    assert harness.sink.count(template) == count, (template, harness.sink.templates())


async def declared(harness: Harness, severity: Severity, **fields: object) -> WorkflowHandle:
    handle = await harness.start(incident_input(declared=True, declared_by="alice", severity=severity, **fields))
    await in_phase(handle, Phase.COMMAND)
    return handle


# --- the on-call acknowledges; the IC is its own role ------------------------------------------------


async def test_the_on_calls_ack_acknowledges_and_the_ic_is_paged_from_the_rotation(harness: Harness) -> None:
    handle = await harness.start(incident_input(alert=QUIET, on_call="carol"))
    ack = await act(handle, Update.ACKNOWLEDGE, Acknowledge(by="carol"))
    assert ack.message == (
        "acknowledged by carol; no Incident Commander yet (the IC is paged at declaration, or `ack --take-command`)"
    )
    state = await state_of(handle)
    assert (state.acknowledged_by, state.commander) == ("carol", None)

    await act(handle, Update.DECLARE, Declare(by="carol", severity=Severity.P2, reason="customers calling"))
    await in_phase(handle, Phase.COMMAND)
    [(audience, text)] = sent(harness, "ic_page")
    assert audience == ["incident-commander"]
    assert "take command: warroom ack" in text and "--take-command" in text
    assert (await state_of(handle)).commander is None

    taken = await act(handle, Update.ACKNOWLEDGE, Acknowledge(by="dave", take_command=True))
    assert taken.message == "acknowledged by dave; takes command as Incident Commander"
    state = await state_of(handle)
    assert state.commander == "dave" and state.acknowledged_by == "carol"
    assert state.acknowledgements == ["carol", "dave"]


async def test_an_on_call_who_took_command_before_declaring_is_not_paged_as_ic(harness: Harness) -> None:
    handle = await harness.start(incident_input(alert=QUIET, on_call="carol"))
    await act(handle, Update.ACKNOWLEDGE, Acknowledge(by="carol", take_command=True))
    await act(handle, Update.DECLARE, Declare(by="carol", severity=Severity.P2))
    await in_phase(handle, Phase.COMMAND)
    await expect_sent(harness, "ic_opening", 1)
    assert harness.sink.count("ic_page") == 0
    state = await state_of(handle)
    assert state.commander == "carol"
    assert [e.message for e in state.timeline if e.kind == "ic_in_command"] == ["carol already commands: no IC page"]


async def test_a_named_ic_is_paged_by_name_unless_they_named_themselves(harness: Harness) -> None:
    await declared(harness, Severity.P2, commander="bob")
    await expect_sent(harness, "ic_opening", 1)
    [(audience, text)] = sent(harness, "ic_page")
    assert audience == ["bob"] and text.endswith("acknowledge: warroom ack " + text.split()[-1])
    await declared(harness, Severity.P2, commander="alice")
    await expect_sent(harness, "ic_opening", 2)
    assert harness.sink.count("ic_page") == 1


async def test_the_ops_lead_never_takes_command_and_the_ic_never_debugs(harness: Harness) -> None:
    handle = await declared(harness, Severity.P2, commander="alice")
    await act(handle, Update.ASSIGN_ROLE, AssignRole(role=Role.OPERATIONS_LEAD, person="bob", by="alice"))
    assert await refusal(
        handle, Update.ASSIGN_ROLE, AssignRole(role=Role.INCIDENT_COMMANDER, person="bob", by="alice")
    ) == (
        "CommanderIsOpsLead",
        "bob is the Operations Lead and debugs; the IC coordinates: assign another Operations Lead first, then make bob IC",
    )
    assert (
        await refusal(handle, Update.ASSIGN_ROLE, AssignRole(role=Role.OPERATIONS_LEAD, person="alice", by="alice"))
    )[0] == "CommanderIsOpsLead"
    assert (await refusal(handle, Update.ACKNOWLEDGE, Acknowledge(by="carol", take_command=True)))[0] == (
        "CommanderExists"
    )
    # The other side: with carol debugging, bob may take over command.
    await act(handle, Update.ASSIGN_ROLE, AssignRole(role=Role.OPERATIONS_LEAD, person="carol", by="alice"))
    await act(handle, Update.ASSIGN_ROLE, AssignRole(role=Role.INCIDENT_COMMANDER, person="bob", by="alice"))
    roles = (await state_of(handle)).roles
    assert roles == {Role.INCIDENT_COMMANDER: "bob", Role.OPERATIONS_LEAD: "carol"}


# --- roles prompted ----------------------------------------------------------------------------------


async def test_no_ops_lead_prompts_the_ic_once_at_2_minutes(
    skipping_env: WorkflowEnvironment, harness: Harness
) -> None:
    handle = await declared(harness, Severity.P2, commander="alice")
    await skipping_env.sleep(2 * MINUTE - SECOND)
    await expect_sent(harness, "role_prompt", 0)
    await skipping_env.sleep(2 * SECOND)
    await expect_sent(harness, "role_prompt", 1)
    [(audience, text)] = sent(harness, "role_prompt")
    assert audience == ["alice"]
    assert "no Operations Lead 2m after declaring: someone must always be investigating" in text
    assert f"warroom assign {handle.id.removeprefix('incident-')} ops PERSON" in text
    await skipping_env.sleep(30 * MINUTE)
    await expect_sent(harness, "ic_checklist", 2)
    assert harness.sink.count("role_prompt") == 1


async def test_an_ops_lead_assigned_in_time_is_not_asked_for(
    skipping_env: WorkflowEnvironment, harness: Harness
) -> None:
    handle = await declared(harness, Severity.P2, commander="alice")
    await skipping_env.sleep(2 * MINUTE - 2 * SECOND)
    await act(handle, Update.ASSIGN_ROLE, AssignRole(role=Role.OPERATIONS_LEAD, person="bob", by="alice"))
    await skipping_env.sleep(20 * MINUTE)
    await expect_sent(harness, "ic_checklist", 1)
    assert harness.sink.count("role_prompt") == 0


async def test_a_p1_with_nobody_in_command_prompts_the_rotation_for_ops_and_comms(
    skipping_env: WorkflowEnvironment, harness: Harness
) -> None:
    await declared(harness, Severity.P1)
    await skipping_env.sleep(2 * MINUTE + SECOND)
    await expect_sent(harness, "role_prompt", 2)
    prompts = sent(harness, "role_prompt")
    assert [audience for audience, _ in prompts] == [["incident-commander"], ["incident-commander"]]
    assert "no Communications Lead 2m after declaring: a P1 needs someone talking to stakeholders" in prompts[0][1]
    assert "no Operations Lead" in prompts[1][1]


async def test_a_p2_made_p1_asks_for_a_comms_lead_at_once(skipping_env: WorkflowEnvironment, harness: Harness) -> None:
    handle = await declared(harness, Severity.P2, commander="alice")
    await act(handle, Update.ASSIGN_ROLE, AssignRole(role=Role.OPERATIONS_LEAD, person="bob", by="alice"))
    await skipping_env.sleep(10 * MINUTE)
    assert harness.sink.count("role_prompt") == 0
    await act(handle, Update.SET_SEVERITY, SetSeverity(severity=Severity.P1, by="alice", reason="all regions"))
    await expect_sent(harness, "severity_needs_comms_lead", 1)
    assert sent(harness, "severity_needs_comms_lead")[0][1].startswith("📣 P1 needs a Communications Lead")
    # Asked once: the severity change's own request stands in for the role prompt.
    await skipping_env.sleep(MINUTE)
    await expect_sent(harness, "role_prompt", 0)


# --- the war-room setup, checked at 5 minutes ---------------------------------------------------------


async def test_the_war_room_setup_is_checked_at_5_minutes_and_what_is_missing_is_posted(
    skipping_env: WorkflowEnvironment, harness: Harness
) -> None:
    handle = await declared(harness, Severity.P1, commander="bob")  # named by alice, not acknowledged yet
    iid = handle.id.removeprefix("incident-")
    await expect_sent(harness, "status_initial", 1)
    await skipping_env.sleep(5 * MINUTE - SECOND)
    await expect_sent(harness, "war_room_check", 0)
    await skipping_env.sleep(2 * SECOND)
    await expect_sent(harness, "war_room_check", 1)
    [(audience, text)] = sent(harness, "war_room_check")
    assert audience == ["bob"]
    assert text == (
        "📋 bob, war-room setup after 5m: missing "
        f"Incident Commander identified and acknowledged (bob: warroom ack {iid}); "
        f"Operations Lead assigned (warroom assign {iid} ops PERSON); "
        f"Communications Lead assigned (warroom assign {iid} comms PERSON)."
    )
    state = await state_of(handle)
    assert [e.kind for e in state.timeline].count("war_room_check") == 1
    await skipping_env.sleep(30 * MINUTE)
    await expect_sent(harness, "ic_checklist", 2)
    assert harness.sink.count("war_room_check") == 1


async def test_a_war_room_set_up_in_time_is_confirmed_complete(
    skipping_env: WorkflowEnvironment, harness: Harness
) -> None:
    handle = await declared(harness, Severity.P2, commander="bob")
    await act(handle, Update.ACKNOWLEDGE, Acknowledge(by="bob"))
    await skipping_env.sleep(5 * MINUTE - 2 * SECOND)
    await act(handle, Update.ASSIGN_ROLE, AssignRole(role=Role.OPERATIONS_LEAD, person="carol", by="bob"))
    await skipping_env.sleep(3 * SECOND)
    await expect_sent(harness, "war_room_check", 1)
    [(_, text)] = sent(harness, "war_room_check")
    assert text == (
        "📋 bob, war-room setup after 5m: complete (incident channel opened, Incident Commander identified "
        "and acknowledged, Operations Lead assigned, severity assessed, status page updated)."
    )


# --- a silent IC escalates; a stuck team hears the script's line ---------------------------------------


async def staffed(harness: Harness, severity: Severity) -> WorkflowHandle:
    """Declared by alice, who commands; bob, the on-call, acknowledged and debugs (nothing else due)."""
    handle = await declared(harness, severity, commander="alice", on_call="bob")
    await act(handle, Update.ACKNOWLEDGE, Acknowledge(by="bob"))
    await act(handle, Update.ASSIGN_ROLE, AssignRole(role=Role.OPERATIONS_LEAD, person="bob", by="alice"))
    if severity == Severity.P1:
        await act(handle, Update.ASSIGN_ROLE, AssignRole(role=Role.COMMUNICATIONS_LEAD, person="carol", by="alice"))
    return handle


def update(hypothesis: str = "", next_action: str = "", error_rate: float | None = None) -> StatusUpdate:
    return StatusUpdate(by="alice", hypothesis=hypothesis, next_action=next_action, error_rate=error_rate)


async def test_two_missed_updates_in_a_row_notify_the_team_lead(
    skipping_env: WorkflowEnvironment, harness: Harness
) -> None:
    handle = await staffed(harness, Severity.P2)
    await skipping_env.sleep(30 * MINUTE - SECOND)
    await expect_sent(harness, "ic_checklist", 1)
    await expect_sent(harness, "silent_ic", 0)
    await skipping_env.sleep(2 * SECOND)
    await expect_sent(harness, "silent_ic", 1)
    [(audience, text)] = sent(harness, "silent_ic")
    assert audience == ["engineering-team-lead"]
    assert "has gone silent: 2 15m updates missed in a row: no update for 30m (IC: alice)" in text
    assert "engineering-team-lead" in (await state_of(handle)).escalated_to
    await skipping_env.sleep(20 * MINUTE)  # still silent: the team lead was told once
    await expect_sent(harness, "ic_checklist", 3)
    assert harness.sink.count("silent_ic") == 1


async def test_an_update_after_one_missed_restarts_the_count(
    skipping_env: WorkflowEnvironment, harness: Harness
) -> None:
    handle = await staffed(harness, Severity.P2)
    await skipping_env.sleep(16 * MINUTE)  # one update missed (due at 15)
    await act(handle, Update.POST_UPDATE, update("pool leak"))
    await skipping_env.sleep(30 * MINUTE - 2 * SECOND)  # minute 46 - 2 s: 30 was not the second miss
    await expect_sent(harness, "ic_checklist", 2)
    assert harness.sink.count("silent_ic") == 0
    await skipping_env.sleep(3 * SECOND)
    await expect_sent(harness, "silent_ic", 1)


async def test_the_stuck_line_is_posted_after_30_minutes_without_progress(
    skipping_env: WorkflowEnvironment, harness: Harness
) -> None:
    handle = await staffed(harness, Severity.P2)
    await skipping_env.sleep(10 * MINUTE)
    await act(handle, Update.POST_UPDATE, update("pool leak", "heap dump", error_rate=8))  # progress
    await skipping_env.sleep(15 * MINUTE)
    await act(handle, Update.POST_UPDATE, update("Pool leak", "heap dump", error_rate=9))  # the same again
    await skipping_env.sleep(15 * MINUTE - 2 * SECOND)  # minute 40 - 2 s
    await expect_sent(harness, "no_progress", 0)
    await skipping_env.sleep(3 * SECOND)
    await expect_sent(harness, "no_progress", 1)
    [(audience, text)] = sent(harness, "no_progress")
    assert audience == ["alice"]
    assert text == (
        'We\'ve been investigating "Order API returning 503s" without progress '
        "(no update has reported progress for 30m).\n"
        "Do we want to try an alternative, or do we need a different approach?"
    )
    await skipping_env.sleep(30 * MINUTE)  # minute 70: still no progress
    await expect_sent(harness, "no_progress", 2)
    assert "progress for 1h" in sent(harness, "no_progress")[1][1]
    state = await state_of(handle)
    assert state.progress_at is not None and 10 * MINUTE <= state.progress_at - state.declared_at < 10 * MINUTE + SECOND


async def test_at_the_p1_escalation_without_progress_the_stuck_line_is_posted_once(
    skipping_env: WorkflowEnvironment, harness: Harness
) -> None:
    await staffed(harness, Severity.P1)
    await skipping_env.sleep(30 * MINUTE + SECOND)
    await expect_sent(harness, "no_progress", 1)
    await expect_sent(harness, "escalation", 1)
    assert harness.sink.count("ic_stuck") == 0
