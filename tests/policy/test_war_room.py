"""The war room's own deadlines, as pure functions: roles prompted, the setup checked, silences watched.

The incident below is a P2 declared at 14:00, commanded by alice (who acknowledged), with the
seed's runbook. `changes` set any field.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from warroom.enums import Phase, Role, Severity
from warroom.models import Deadline, IncidentState, StatusUpdate, UpdateDigest
from warroom.policy.timers import pending_deadlines
from warroom.policy.war_room import (
    COMMS_LEAD_ASKED,
    missing_roles,
    no_progress,
    reports_progress,
    role_prompts,
    setup_check,
    setup_checklist,
    silent_ic,
    stuck_line_due,
)
from warroom.runbook import load_runbook

RUNBOOK = load_runbook()
AT = datetime(2026, 11, 28, 14, 0, tzinfo=UTC)
IC, OPS, COMMS = Role.INCIDENT_COMMANDER, Role.OPERATIONS_LEAD, Role.COMMUNICATIONS_LEAD


def incident(**changes: Any) -> IncidentState:
    state = IncidentState(
        incident_id="order-api-1",
        service="order-api",
        summary="checkout 5xx",
        channel="#incident-2026-11-28-order-api-1400",
        opened_at=AT,
        declared_at=AT,
        severity=Severity.P2,
        phase=Phase.COMMAND,
        roles={IC: "alice"},
        acknowledgements=["alice"],
        last_external_update_at=AT,
    )
    return state.model_copy(update=changes)


def test_the_seed_runbook_prompts_at_2_minutes_and_checks_the_setup_at_5() -> None:
    assert RUNBOOK.roles.prompt_after == timedelta(minutes=2)
    assert RUNBOOK.war_room.setup_within == timedelta(minutes=5)
    assert RUNBOOK.war_room.missed_updates_escalate == 2
    assert RUNBOOK.war_room.no_progress_after == timedelta(minutes=30)
    assert RUNBOOK.roles.incident_commander_page == "incident-commander"


# --- roles --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("severity", "roles", "missing"),
    [
        (Severity.P3, {IC: "alice"}, [OPS]),
        (Severity.P2, {IC: "alice"}, [OPS]),
        (Severity.P2, {IC: "alice", OPS: "bob"}, []),
        (Severity.P1, {IC: "alice", OPS: "bob"}, [COMMS]),
        (Severity.P1, {IC: "alice", OPS: "bob", COMMS: "carol"}, []),
        (Severity.P1, {}, [OPS, COMMS]),
    ],
)
def test_an_ops_lead_is_always_required_and_a_comms_lead_for_p1(
    severity: Severity, roles: dict[Role, str], missing: list[Role]
) -> None:
    assert missing_roles(incident(severity=severity, roles=roles), RUNBOOK) == missing


def test_a_missing_role_is_prompted_to_the_ic_2_minutes_after_declaring() -> None:
    [prompt] = role_prompts(incident(), RUNBOOK)
    assert (prompt.key, prompt.kind, prompt.at, prompt.audience) == (
        "role_prompt:operations_lead",
        "role_prompt",
        AT + timedelta(minutes=2),
        ["alice"],
    )
    assert prompt.reason == (
        "no Operations Lead 2m after declaring: someone must always be investigating, and the IC "
        "coordinates rather than debugs (warroom assign order-api-1 ops PERSON)"
    )


def test_with_nobody_in_command_the_prompt_goes_to_the_ic_rotation() -> None:
    prompts = role_prompts(incident(roles={}, severity=Severity.P1), RUNBOOK)
    assert [(p.key, p.audience) for p in prompts] == [
        ("role_prompt:operations_lead", ["incident-commander"]),
        ("role_prompt:communications_lead", ["incident-commander"]),
    ]


@pytest.mark.parametrize(
    "changes",
    [
        {"declared_at": None, "severity": None, "phase": Phase.DETECTION},
        {"mitigation_applied_at": AT + timedelta(minutes=1)},
        {"resolved_at": AT + timedelta(minutes=1)},
    ],
    ids=["undeclared", "mitigation-applied", "resolved"],
)
def test_the_war_room_deadlines_live_from_declaration_to_mitigation(changes: dict[str, Any]) -> None:
    assert role_prompts(incident(**changes), RUNBOOK) == []
    assert setup_check(incident(**changes), RUNBOOK) == []
    assert silent_ic(incident(**changes), RUNBOOK) == []
    assert no_progress(incident(**changes), RUNBOOK) == []


def test_a_prompt_that_fired_never_fires_again() -> None:
    kinds = {d.key for d in pending_deadlines(incident(), RUNBOOK)}
    assert "role_prompt:operations_lead" in kinds
    fired = incident(fired=["role_prompt:operations_lead"])
    assert "role_prompt:operations_lead" not in {d.key for d in pending_deadlines(fired, RUNBOOK)}


def test_a_comms_lead_the_severity_change_asked_for_is_not_prompted_again() -> None:
    p1 = incident(severity=Severity.P1, roles={IC: "alice", OPS: "bob"})
    assert [d.key for d in role_prompts(p1, RUNBOOK)] == ["role_prompt:communications_lead"]
    asked = Deadline(key="comms_lead_needed#1", kind=COMMS_LEAD_ASKED, at=AT, audience=["alice"], reason="P1")
    other = asked.model_copy(update={"key": "severity_summary#2", "kind": "severity_summary"})
    assert [d.key for d in role_prompts(p1.model_copy(update={"owed": [other]}), RUNBOOK)] == [
        "role_prompt:communications_lead"
    ]
    assert role_prompts(p1.model_copy(update={"owed": [asked, other]}), RUNBOOK) == []
    # Only the Comms Lead: a missing Ops Lead is still prompted.
    both = p1.model_copy(update={"roles": {IC: "alice"}, "owed": [asked]})
    assert [d.key for d in role_prompts(both, RUNBOOK)] == ["role_prompt:operations_lead"]


# --- the war-room setup -------------------------------------------------------------------------


def test_the_setup_checklist_as_the_seed_writes_it() -> None:
    p1 = incident(severity=Severity.P1, roles={IC: "alice", OPS: "bob", COMMS: "carol"})
    assert [(item.what, item.done) for item in setup_checklist(p1, RUNBOOK)] == [
        ("incident channel opened", True),
        ("Incident Commander identified and acknowledged", True),
        ("Operations Lead assigned", True),
        ("Communications Lead assigned", True),
        ("severity assessed", True),
        ("status page updated", True),
    ]
    p3 = incident(severity=Severity.P3, roles={IC: "alice", OPS: "bob"}, last_external_update_at=None)
    assert [item.what for item in setup_checklist(p3, RUNBOOK)] == [
        "incident channel opened",
        "Incident Commander identified and acknowledged",
        "Operations Lead assigned",
        "severity assessed",
    ]


@pytest.mark.parametrize(
    ("changes", "missing"),
    [
        ({"channel": ""}, "incident channel opened"),
        ({"roles": {}}, "Incident Commander identified and acknowledged"),
        ({"acknowledgements": []}, "Incident Commander identified and acknowledged"),
        ({"roles": {IC: "dave"}}, "Incident Commander identified and acknowledged"),
        ({"last_external_update_at": None}, "status page updated"),
    ],
)
def test_each_setup_item_is_missing_without_its_fact(changes: dict[str, Any], missing: str) -> None:
    complete = {OPS: "bob", **changes.pop("roles", {IC: "alice"})}
    items = {item.what: item.done for item in setup_checklist(incident(roles=complete, **changes), RUNBOOK)}
    assert [what for what, done in items.items() if not done] == [missing]


def test_the_setup_check_fires_once_at_5_minutes_with_what_is_missing_and_how() -> None:
    [check] = setup_check(incident(roles={IC: "dave"}), RUNBOOK)
    assert (check.key, check.at, check.audience) == ("war_room_check", AT + timedelta(minutes=5), ["dave"])
    assert check.reason == (
        "war-room setup after 5m: missing Incident Commander identified and acknowledged "
        "(dave: warroom ack order-api-1); Operations Lead assigned (warroom assign order-api-1 ops PERSON)"
    )
    [leaderless] = setup_check(incident(roles={}), RUNBOOK)
    assert "(warroom ack order-api-1 --take-command, or warroom assign order-api-1 ic PERSON)" in leaderless.reason
    assert leaderless.audience == ["incident-commander"]
    [complete] = setup_check(incident(roles={IC: "alice", OPS: "bob"}), RUNBOOK)
    assert complete.reason.startswith("war-room setup after 5m: complete (incident channel opened, ")


# --- silences -----------------------------------------------------------------------------------

LAST = UpdateDigest(at=AT, error_rate=8.0, hypothesis="Pool leak", next_action="heap dump")


def said(hypothesis: str = "", next_action: str = "", error_rate: float | None = None) -> StatusUpdate:
    return StatusUpdate(by="alice", hypothesis=hypothesis, next_action=next_action, error_rate=error_rate)


@pytest.mark.parametrize(
    ("previous", "update", "progress"),
    [
        (None, said("pool leak"), True),
        (None, said(next_action="read the logs"), True),
        (None, said(error_rate=8), False),
        (None, said(), False),
        (LAST, said("pool  LEAK", "heap dump", 8), False),
        (LAST, said("pool leak", "heap dump", 8.0), False),
        (LAST, said("pool leak", "heap dump", 9), False),
        (LAST, said(), False),
        (LAST, said("DNS", "heap dump", 8), True),
        (LAST, said("pool leak", "roll back", 8), True),
        (LAST, said("pool leak", "heap dump", 7.9), True),
        (LAST, said(error_rate=7.9), True),
        (LAST.model_copy(update={"error_rate": None}), said(error_rate=1), False),
    ],
)
def test_an_update_reports_progress_when_it_says_something_new(
    previous: UpdateDigest | None, update: StatusUpdate, progress: bool
) -> None:
    assert reports_progress(previous, update) is progress


def test_two_missed_updates_notify_the_matrix_team_lead_30_minutes_after_the_last_update() -> None:
    [quiet] = silent_ic(incident(), RUNBOOK)
    assert (quiet.key, quiet.kind, quiet.at, quiet.audience) == (
        "silent_ic@20261128T140000",
        "silent_ic",
        AT + timedelta(minutes=30),
        ["engineering-team-lead"],
    )
    assert quiet.reason == "2 15m updates missed in a row: no update for 30m (IC: alice)"
    [later] = silent_ic(incident(last_internal_update_at=AT + timedelta(minutes=16)), RUNBOOK)
    assert (later.key, later.at) == ("silent_ic@20261128T141600", AT + timedelta(minutes=46))
    fired = incident(fired=["silent_ic@20261128T140000"])
    assert "silent_ic@20261128T140000" not in {d.key for d in pending_deadlines(fired, RUNBOOK)}


def test_no_progress_posts_the_stuck_line_every_30_minutes_from_the_last_progress() -> None:
    [first] = no_progress(incident(), RUNBOOK)
    assert (first.key, first.at, first.audience, first.reason) == (
        "no_progress@20261128T140000#1",
        AT + timedelta(minutes=30),
        ["alice"],
        "no update has reported progress for 30m",
    )
    [second] = no_progress(incident(fired=["no_progress@20261128T140000#1"]), RUNBOOK)
    assert (second.at, second.reason) == (AT + timedelta(hours=1), "no update has reported progress for 1h")
    [moved] = no_progress(incident(progress_at=AT + timedelta(minutes=10)), RUNBOOK)
    assert (moved.key, moved.at) == ("no_progress@20261128T141000#1", AT + timedelta(minutes=40))


def test_the_escalation_leaves_the_stuck_line_to_the_no_progress_deadline_only_when_it_is_due() -> None:
    state = incident()
    assert not stuck_line_due(state, RUNBOOK, AT + timedelta(minutes=30) - timedelta(seconds=1))
    assert stuck_line_due(state, RUNBOOK, AT + timedelta(minutes=30))
    assert not stuck_line_due(incident(progress_at=AT + timedelta(minutes=10)), RUNBOOK, AT + timedelta(minutes=30))
