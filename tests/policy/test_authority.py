"""Who may do what, and when: each rule an update validator checks, with both sides of its boundary.

The messages are what a person reads in the CLI and the Web UI, and the kinds are what callers
match on (the intake, scripts), so both are pinned word for word. The incident below is open and
declared as P2: alice commands, bob is the operations lead, carol is the on-call; mallory holds
nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import pytest
from temporalio import workflow

from warroom.enums import Phase, Role, Severity
from warroom.models import (
    Acknowledge,
    ActionItem,
    Alert,
    AssignRole,
    CompleteActionItem,
    CompletePir,
    Declare,
    ImpactSignals,
    IncidentState,
    MarkMitigated,
    PirState,
    ProposeStep,
    Resolve,
    SetFlags,
    SetSeverity,
    StatusUpdate,
    Step,
    StepDecision,
)
from warroom.policy import authority
from warroom.policy.authority import Rejected
from warroom.runbook import load_runbook

RUNBOOK = load_runbook()

AT = datetime(2026, 11, 28, 14, 23, 1, tzinfo=UTC)
IC, OPS, COMMS = Role.INCIDENT_COMMANDER, Role.OPERATIONS_LEAD, Role.COMMUNICATIONS_LEAD
StepStatus = Literal["pending", "approved", "denied", "done", "failed"]


def incident(**changes: Any) -> IncidentState:
    """An open, declared P2 incident in Command; `changes` set any field."""
    state = IncidentState(
        incident_id="order-api-1",
        service="order-api",
        summary="checkout 5xx",
        opened_at=AT,
        declared_at=AT,
        severity=Severity.P2,
        phase=Phase.COMMAND,
        on_call="carol",
        roles={IC: "alice", OPS: "bob"},
    )
    return state.model_copy(update=changes)


def closed() -> IncidentState:
    return incident(phase=Phase.CLOSED, closed_at=AT)


def refused(rule: Callable[..., None], *args: Any) -> tuple[str, str]:
    """The refusal's (kind, message); fails the test when the rule lets the request through."""
    with pytest.raises(Rejected) as caught:
        rule(*args)
    return caught.value.kind, str(caught.value)


CLOSED = ("IncidentClosed", "incident order-api-1 is closed")


def not_the_ic(who: str, doing: str) -> tuple[str, str]:
    return "NotIncidentCommander", f"only the Incident Commander (alice) may {doing}; {who} is not"


def no_role(who: str, doing: str) -> tuple[str, str]:
    return (
        "NotAResponder",
        f"{who} holds no role in incident order-api-1; ask the IC to assign you before you {doing}",
    )


# --- ingest_alert ---------------------------------------------------------------------------------

ALERT = Alert(fingerprint="f1", summary="5xx above 2%")


@pytest.mark.parametrize("phase", [p for p in Phase if p != Phase.CLOSED])
def test_an_open_incident_takes_alerts_in_every_phase(phase: Phase) -> None:
    authority.may_ingest_alert(incident(phase=phase), ALERT)


def test_a_closed_incident_sends_the_next_alert_to_a_new_incident() -> None:
    assert refused(authority.may_ingest_alert, closed(), ALERT) == (
        "IncidentClosed",
        "incident closed; the next alert opens a new one",
    )


# --- acknowledge ----------------------------------------------------------------------------------


def test_anyone_may_acknowledge_an_open_incident() -> None:
    authority.may_acknowledge(incident(roles={}), Acknowledge(by="mallory"))


def test_nobody_acknowledges_a_closed_incident() -> None:
    assert refused(authority.may_acknowledge, closed(), Acknowledge(by="alice")) == CLOSED


def test_acknowledging_while_someone_commands_is_just_an_acknowledgement() -> None:
    authority.may_acknowledge(incident(), Acknowledge(by="carol"))
    authority.may_acknowledge(incident(), Acknowledge(by="bob"))  # the Ops Lead answers their page too


def test_anyone_but_the_ops_lead_may_take_command_while_nobody_commands() -> None:
    authority.may_acknowledge(incident(roles={}), Acknowledge(by="carol", take_command=True))
    authority.may_acknowledge(incident(roles={OPS: "bob"}), Acknowledge(by="carol", take_command=True))
    assert refused(
        authority.may_acknowledge, incident(roles={OPS: "bob"}), Acknowledge(by="bob", take_command=True)
    ) == (
        "CommanderIsOpsLead",
        "bob is the Operations Lead and debugs; the IC coordinates: "
        "assign another Operations Lead first, then make bob IC",
    )


def test_the_ic_may_say_take_command_again_but_nobody_takes_it_from_them() -> None:
    authority.may_acknowledge(incident(), Acknowledge(by="alice", take_command=True))
    assert refused(authority.may_acknowledge, incident(), Acknowledge(by="carol", take_command=True)) == (
        "CommanderExists",
        "alice is the Incident Commander: a handover is theirs to make (`assign ic carol`)",
    )


# --- declare --------------------------------------------------------------------------------------


def test_anyone_may_declare_an_incident_still_in_detection() -> None:
    undeclared = incident(declared_at=None, severity=None, phase=Phase.DETECTION, roles={})
    authority.may_declare(undeclared, Declare(by="mallory"))


def test_an_incident_is_declared_once() -> None:
    assert refused(authority.may_declare, incident(), Declare(by="alice", severity=Severity.P1)) == (
        "AlreadyDeclared",
        "already declared at 14:23:01 UTC as P2",
    )


def test_a_closed_incident_is_not_declared() -> None:
    dismissed = incident(declared_at=None, phase=Phase.CLOSED)
    assert refused(authority.may_declare, dismissed, Declare(by="alice")) == CLOSED


# --- assign_role ----------------------------------------------------------------------------------


def test_the_ic_assigns_roles() -> None:
    authority.may_assign_role(incident(), AssignRole(role=COMMS, person="dave", by="alice"))
    authority.may_assign_role(incident(), AssignRole(role=IC, person="dave", by="alice"))
    authority.may_assign_role(incident(), AssignRole(role=OPS, person="carol", by="alice"))


def test_the_ic_is_never_also_the_ops_lead() -> None:
    assert refused(authority.may_assign_role, incident(), AssignRole(role=IC, person="bob", by="alice")) == (
        "CommanderIsOpsLead",
        "bob is the Operations Lead and debugs; the IC coordinates: "
        "assign another Operations Lead first, then make bob IC",
    )
    assert refused(authority.may_assign_role, incident(), AssignRole(role=OPS, person="alice", by="alice")) == (
        "CommanderIsOpsLead",
        "alice is the Incident Commander and coordinates; the Operations Lead debugs: pick someone else",
    )
    leaderless = incident(roles={OPS: "bob"})
    assert refused(authority.may_assign_role, leaderless, AssignRole(role=IC, person="bob", by="carol"))[0] == (
        "CommanderIsOpsLead"
    )
    # The other side of the boundary: once bob hands ops to carol, he may command.
    handed_over = incident(roles={IC: "alice", OPS: "carol"})
    authority.may_assign_role(handed_over, AssignRole(role=IC, person="bob", by="alice"))
    authority.may_assign_role(leaderless, AssignRole(role=IC, person="carol", by="carol"))


def test_nobody_else_assigns_roles_or_takes_command() -> None:
    request = AssignRole(role=COMMS, person="dave", by="bob")
    assert refused(authority.may_assign_role, incident(), request) == not_the_ic(
        "bob", "assign the communications_lead role"
    )
    coup = AssignRole(role=IC, person="mallory", by="mallory")
    assert refused(authority.may_assign_role, incident(), coup) == not_the_ic(
        "mallory", "assign the incident_commander role"
    )


def test_with_no_ic_anyone_may_name_the_ic_but_no_other_role() -> None:
    leaderless = incident(roles={})
    authority.may_assign_role(leaderless, AssignRole(role=IC, person="alice", by="mallory"))
    assert refused(authority.may_assign_role, leaderless, AssignRole(role=OPS, person="bob", by="alice")) == (
        "NoCommander",
        "no Incident Commander yet: `ack --take-command` or `assign ic PERSON` before you assign the operations_lead role",
    )


def test_roles_are_not_assigned_on_a_closed_incident() -> None:
    assert refused(authority.may_assign_role, closed(), AssignRole(role=IC, person="bob", by="alice")) == CLOSED


# --- set_severity ---------------------------------------------------------------------------------


def test_the_ic_changes_the_severity() -> None:
    authority.may_set_severity(incident(), SetSeverity(severity=Severity.P1, by="alice", reason="all regions"))


def test_a_severity_change_must_change_the_severity() -> None:
    same = SetSeverity(severity=Severity.P2, by="alice", reason="still P2")
    assert refused(authority.may_set_severity, incident(), same) == ("NoChange", "severity is already P2")


def test_only_the_ic_changes_the_severity() -> None:
    request = SetSeverity(severity=Severity.P1, by="bob", reason="worse")
    assert refused(authority.may_set_severity, incident(), request) == not_the_ic("bob", "change the severity")


def test_the_severity_of_a_closed_incident_stays() -> None:
    request = SetSeverity(severity=Severity.P1, by="alice", reason="worse")
    assert refused(authority.may_set_severity, closed(), request) == CLOSED


# --- set_flags, propose_step: any responder -------------------------------------------------------


@pytest.mark.parametrize("who", ["alice", "bob", "carol", "erin"])
def test_responders_change_flags_and_propose_steps(who: str) -> None:
    state = incident(acknowledged_by="erin")
    authority.may_set_flags(state, SetFlags(by=who, data_loss=True))
    authority.may_propose_step(state, ProposeStep(by=who, step="page", params={"who": "dba-oncall"}), RUNBOOK)


def test_people_holding_nothing_change_no_flags_and_propose_no_steps() -> None:
    state = incident(acknowledged_by="erin")
    flags = SetFlags(by="mallory", security=True)
    assert refused(authority.may_set_flags, state, flags) == no_role("mallory", "change the incident's flags")
    step = ProposeStep(by="mallory", action="rollback", target="deployment/order-api")
    assert refused(authority.may_propose_step, state, step, RUNBOOK) == no_role("mallory", "propose a step")


def test_a_closed_incident_takes_no_flags_and_no_steps() -> None:
    assert refused(authority.may_set_flags, closed(), SetFlags(by="alice", data_loss=True)) == CLOSED
    step = ProposeStep(by="alice", action="rollback", target="deployment/order-api")
    assert refused(authority.may_propose_step, closed(), step, RUNBOOK) == CLOSED


# --- post_update ----------------------------------------------------------------------------------


def test_a_responder_posts_the_update_and_the_status_page_with_its_wording() -> None:
    authority.may_post_update(incident(), StatusUpdate(by="bob", error_rate=8))
    public = StatusUpdate(by="carol", public_status="identified", public_message="a bad deploy; rolling back")
    authority.may_post_update(incident(), public)


def test_a_status_page_update_needs_its_public_wording() -> None:
    request = StatusUpdate(by="bob", public_status="investigating")
    assert refused(authority.may_post_update, incident(), request) == (
        "InvalidRequest",
        "a status page update needs --public-message",
    )


def test_no_update_before_the_incident_is_declared() -> None:
    undeclared = incident(declared_at=None, phase=Phase.DETECTION)
    assert refused(authority.may_post_update, undeclared, StatusUpdate(by="bob")) == (
        "NotDeclared",
        "the incident is not declared yet: declare it first",
    )


def test_updates_come_from_responders_on_open_incidents() -> None:
    undeclared = incident(declared_at=None, phase=Phase.DETECTION)
    assert refused(authority.may_post_update, undeclared, StatusUpdate(by="mallory")) == no_role(
        "mallory", "post an update"
    )
    assert refused(authority.may_post_update, closed(), StatusUpdate(by="alice")) == CLOSED


# --- approve and deny -----------------------------------------------------------------------------


def step(status: StepStatus = "pending", approver: Role = IC, **fields: Any) -> Step:
    return Step(
        step_id="s1",
        action="rollback" if approver == IC else "customer_email",
        target="deployment/order-api",
        approver_role=approver,
        proposed_by="bob",
        proposed_at=AT,
        status=status,
        **fields,
    )


def decision(by: str, step_id: str = "s1") -> StepDecision:
    return StepDecision(step_id=step_id, by=by, reason="deploy 20 min ago")


def test_the_ic_decides_a_pending_step() -> None:
    authority.may_decide_step(incident(steps=[step()]), decision("alice"))


def test_nobody_else_decides_a_step() -> None:
    assert refused(authority.may_decide_step, incident(steps=[step()]), decision("bob")) == not_the_ic(
        "bob", "approve or deny a step"
    )


def test_a_step_is_decided_once() -> None:
    decided = incident(steps=[step("approved", decided_by="alice")])
    assert refused(authority.may_decide_step, decided, decision("alice")) == (
        "StepDecided",
        "step s1 is already approved by alice",
    )


def test_an_unknown_step_names_the_pending_ones() -> None:
    assert refused(authority.may_decide_step, incident(steps=[step()]), decision("alice", "s9")) == (
        "UnknownStep",
        "no step 's9' in incident order-api-1 (s1)",
    )
    assert refused(authority.may_decide_step, incident(), decision("alice", "s9")) == (
        "UnknownStep",
        "no step 's9' in incident order-api-1 (none open)",
    )


def test_an_unknown_step_tells_a_non_ic_only_that_they_may_not_decide() -> None:
    assert refused(authority.may_decide_step, incident(), decision("bob", "s9")) == not_the_ic(
        "bob", "approve or deny a step"
    )


def test_the_comms_lead_decides_the_customer_email_not_the_ic() -> None:
    state = incident(steps=[step(approver=COMMS)], roles={IC: "alice", COMMS: "dave"})
    authority.may_decide_step(state, decision("dave"))
    assert refused(authority.may_decide_step, state, decision("alice")) == (
        "NotApprover",
        "only the communications lead (dave) may decide step s1; alice may not",
    )


def test_with_no_comms_lead_the_ic_decides_the_customer_email() -> None:
    state = incident(steps=[step(approver=COMMS)])
    authority.may_decide_step(state, decision("alice"))
    assert refused(authority.may_decide_step, state, decision("bob")) == (
        "NotApprover",
        "only the communications lead (alice) may decide step s1; bob may not",
    )


def test_no_step_is_decided_on_a_closed_incident() -> None:
    assert refused(authority.may_decide_step, incident(steps=[step()], phase=Phase.CLOSED), decision("alice")) == CLOSED


# --- mark_mitigated -------------------------------------------------------------------------------


def test_the_ic_declares_mitigation_once() -> None:
    authority.may_mark_mitigated(incident(), MarkMitigated(by="alice", action="rolled back"))
    mitigated = incident(mitigated_at=AT + timedelta(minutes=20))
    assert refused(authority.may_mark_mitigated, mitigated, MarkMitigated(by="alice", action="again")) == (
        "AlreadyMitigated",
        "already mitigated at 14:43:01 UTC",
    )


def test_mitigation_needs_a_declared_incident() -> None:
    undeclared = incident(declared_at=None, phase=Phase.DETECTION)
    assert refused(authority.may_mark_mitigated, undeclared, MarkMitigated(by="alice", action="restart")) == (
        "NotDeclared",
        "the incident is not declared yet: declare it first",
    )


def test_mitigation_is_the_ics_call() -> None:
    request = MarkMitigated(by="bob", action="restart")
    assert refused(authority.may_mark_mitigated, incident(), request) == not_the_ic("bob", "declare mitigation")
    assert refused(authority.may_mark_mitigated, incident(roles={}), request) == (
        "NoCommander",
        "no Incident Commander yet: `ack --take-command` or `assign ic PERSON` before you declare mitigation",
    )
    assert refused(authority.may_mark_mitigated, closed(), MarkMitigated(by="alice", action="x")) == CLOSED


# --- resolve --------------------------------------------------------------------------------------

MITIGATED = {"mitigation_applied_at": AT, "mitigated_at": AT + timedelta(minutes=5)}
VENDOR = ImpactSignals(third_party_vendor=True)


def test_the_ic_resolves_after_verified_mitigation() -> None:
    authority.may_resolve(incident(**MITIGATED), Resolve(by="alice", summary="rolled back"), True)


def test_resolution_waits_for_the_clean_metrics_window() -> None:
    request = Resolve(by="alice", summary="fixed")
    assert refused(authority.may_resolve, incident(mitigation_applied_at=AT), request, False) == (
        "NotMitigated",
        "mitigation is not verified yet: the clean-metrics window is still running",
    )
    assert refused(authority.may_resolve, incident(), request, False) == (
        "NotMitigated",
        "not mitigated yet: run `mitigated` first; the clean-metrics window must pass",
    )


def test_an_incident_is_resolved_once() -> None:
    resolved = incident(**MITIGATED, resolved_at=AT + timedelta(hours=1))
    assert refused(authority.may_resolve, resolved, Resolve(by="alice", summary="again"), False) == (
        "AlreadyResolved",
        "already resolved",
    )


def test_resolution_is_the_ics_call() -> None:
    request = Resolve(by="bob", summary="fixed")
    assert refused(authority.may_resolve, incident(**MITIGATED), request, False) == not_the_ic(
        "bob", "declare resolution"
    )
    assert refused(authority.may_resolve, closed(), Resolve(by="alice", summary="fixed"), False) == CLOSED


def test_a_vendor_incident_records_the_vendor_ticket_before_resolution_when_the_runbook_asks() -> None:
    request = Resolve(by="alice", summary="vendor fixed it")
    assert refused(authority.may_resolve, incident(**MITIGATED, signals=VENDOR), request, True) == (
        "VendorTicketMissing",
        "a third-party vendor is involved: record the vendor ticket reference first "
        "(`warroom flags ID --vendor-ticket REF`)",
    )
    authority.may_resolve(incident(**MITIGATED, signals=VENDOR, vendor_ticket="ZD-4711"), request, True)
    authority.may_resolve(incident(**MITIGATED, signals=VENDOR), request, False)
    authority.may_resolve(incident(**MITIGATED), request, True)


# --- complete_pir ---------------------------------------------------------------------------------

RESOLVED = {**MITIGATED, "resolved_at": AT + timedelta(hours=1), "pir": PirState(owner="bob")}
ITEM = ActionItem(title="alert on pool exhaustion", owner="erin", due=AT + timedelta(days=14))


@pytest.mark.parametrize("who", ["bob", "alice"])
def test_the_pir_owner_or_the_ic_completes_the_pir(who: str) -> None:
    authority.may_complete_pir(incident(**RESOLVED), CompletePir(by=who, action_items=[ITEM]))


def test_a_pir_needs_an_action_item() -> None:
    assert refused(authority.may_complete_pir, incident(**RESOLVED), CompletePir(by="bob")) == (
        "NoActionItems",
        "a PIR with no action items changes nothing: add at least one, with owner and due date",
    )


def test_nobody_else_completes_the_pir() -> None:
    request = CompletePir(by="carol", action_items=[ITEM])
    assert refused(authority.may_complete_pir, incident(**RESOLVED), request) == (
        "NotPirOwner",
        "only the PIR owner (bob) or the IC may complete the PIR",
    )


def test_the_pir_follows_resolution() -> None:
    request = CompletePir(by="alice", action_items=[ITEM])
    assert refused(authority.may_complete_pir, incident(**MITIGATED), request) == (
        "NotResolved",
        "the incident is not resolved yet",
    )
    assert refused(authority.may_complete_pir, closed(), request) == CLOSED


# --- complete_action_item -------------------------------------------------------------------------


def reviewed(*items: ActionItem) -> IncidentState:
    pir = PirState(owner="bob", completed_at=AT + timedelta(days=2), action_items=list(items))
    return incident(**{**RESOLVED, "pir": pir})


SECOND = ActionItem(title="load-test the pool", owner="carol", due=AT + timedelta(days=21))


@pytest.mark.parametrize("who", ["erin", "bob", "alice"])
def test_the_item_owner_the_pir_owner_or_the_ic_closes_an_action_item(who: str) -> None:
    authority.may_complete_action_item(reviewed(ITEM, SECOND), CompleteActionItem(by=who, item=1))


def test_nobody_else_closes_an_action_item() -> None:
    assert refused(
        authority.may_complete_action_item, reviewed(ITEM, SECOND), CompleteActionItem(by="carol", item=1)
    ) == (
        "NotItemOwner",
        "only erin (the owner), the PIR owner or the IC may close action item 1",
    )


def test_action_items_are_numbered_from_one_to_the_last() -> None:
    authority.may_complete_action_item(reviewed(ITEM, SECOND), CompleteActionItem(by="carol", item=2))
    assert refused(
        authority.may_complete_action_item, reviewed(ITEM, SECOND), CompleteActionItem(by="bob", item=3)
    ) == (
        "UnknownItem",
        "no action item 3: the PIR has 2",
    )


def test_an_action_item_is_closed_once() -> None:
    done = ITEM.model_copy(update={"done_at": AT + timedelta(days=3), "done_by": "erin"})
    assert refused(authority.may_complete_action_item, reviewed(done), CompleteActionItem(by="erin", item=1)) == (
        "AlreadyDone",
        "action item 1 is already done (erin)",
    )


def test_action_items_are_tracked_once_the_pir_is_complete() -> None:
    assert refused(authority.may_complete_action_item, incident(**RESOLVED), CompleteActionItem(by="bob", item=1)) == (
        "NoPir",
        "the PIR is not completed yet: its action items are not tracked",
    )
    assert refused(authority.may_complete_action_item, closed(), CompleteActionItem(by="bob", item=1)) == CLOSED


# --- Every update is checked ----------------------------------------------------------------------


def test_every_update_of_the_incident_has_a_validator() -> None:
    """A validator refuses before the update is accepted, so a refusal leaves no event in history."""
    from workflows.incident import IncidentWorkflow

    updates = workflow._Definition.must_from_class(IncidentWorkflow).updates
    assert updates and all(u.validator is not None for u in updates.values()), [
        name for name, u in updates.items() if u.validator is None
    ]
