"""record() and decisions() over the committed histories: no server, just the events."""

from __future__ import annotations

from pathlib import Path

from temporalio.client import WorkflowHistory

from warroom.backtest.recording import decisions, match_key, notify_decision, record
from warroom.client import DATA_CONVERTER

HISTORIES = Path(__file__).parent.parent / "histories"


def history_set(workflow_id: str) -> list[WorkflowHistory]:
    """`<wid>.json` and its phases' `<wid>--<phase>.json`, the incident first."""
    paths = [HISTORIES / f"{workflow_id}.json", *sorted(HISTORIES.glob(f"{workflow_id}--*.json"))]
    return [WorkflowHistory.from_json(p.stem, p.read_text()) for p in paths]


def incident_ids() -> list[str]:
    return sorted(p.stem for p in HISTORIES.glob("*.json") if "--" not in p.stem)


async def test_a_recording_holds_the_input_the_people_and_every_activity() -> None:
    recording = await record(history_set("incident-order-api-step-catalog"), DATA_CONVERTER)
    assert recording.incident_id == "order-api-step-catalog"
    assert recording.input["runbook"]["severity_matrix"]["P1"]["escalate_after"]
    names = [(i.name, i.args[0].get("by")) for i in recording.inputs]
    assert names[:3] == [("acknowledge", "alice"), ("assign_role", "alice"), ("assign_role", "alice")]
    assert names[-1] == ("complete_action_item", "bob")
    assert all(i.update_id and i.kind == "update" and i.workflow == "incident" for i in recording.inputs)
    assert [i.offset for i in recording.inputs] == sorted(i.offset for i in recording.inputs)
    assert 960 < recording.inputs[3].offset < 961  # the status update, 16 minutes in
    # Every activity, with its phase, result or final failure.
    assert {a.workflow for a in recording.activities} == {"incident", "declare", "command", "resolve", "retrospective"}
    assert all(a.result is not None or a.failure is not None for a in recording.activities)
    clean = next(a for a in recording.activities if a.activity_type == "check_clean_window")
    assert clean.failure is not None and clean.failure.type == "NotConfigured" and clean.result is None
    assert "mitigation_applied_at" not in clean.key and "service=order-api" in clean.key
    assert recording.ended_offset is not None and recording.ended_offset > 2 * 86400
    assert "step-catalog" in recording.patches and "ack-is-not-command" in recording.patches


async def test_an_open_incident_has_no_end_and_internal_signals_are_not_inputs() -> None:
    recording = await record(history_set("incident-order-api-ack-took-command"), DATA_CONVERTER)
    assert recording.ended_offset is None
    assert {i.name for i in recording.inputs} <= {"acknowledge", "assign_role", "post_update", "declare"}
    assert "ack-is-not-command" not in recording.patches  # recorded before the IC was its own role


def test_match_keys_say_what_is_asked_never_when() -> None:
    note = {"channel": "page", "template": "escalation", "audience": ["engineering-team-lead"], "context": {"a": 1}}
    assert match_key("notify", note) == "notify:page:escalation:engineering-team-lead"
    early = {"service": "order-api", "mitigation_applied_at": "2026-12-06T13:00:00Z", "window": "PT5M"}
    late = {**early, "mitigation_applied_at": "2026-12-06T14:00:00Z"}
    assert match_key("check_clean_window", early) == match_key("check_clean_window", late)
    assert match_key("check_clean_window", early) != match_key("check_clean_window", {**early, "window": "PT10M"})
    step = {"action": "rollback", "namespace": "shop", "deployment": "order-api", "idempotency_key": "x/s1"}
    assert match_key("kube_step_apply", step) == "kube_step_apply:action=rollback:deployment=order-api:namespace=shop"
    assert match_key("next_channel_number", {"day": "2026-12-06", "incident_id": "x"}) == "next_channel_number"


def test_what_kind_of_message_a_notification_is() -> None:
    assert notify_decision({"channel": "page", "template": "escalation", "audience": ["lead"]}) == (
        "escalation",
        "escalation:escalation:lead",
    )
    assert notify_decision({"channel": "page", "template": "oncall_page", "audience": []})[0] == "page"
    assert notify_decision({"channel": "incident", "template": "ic_opening"})[0] == "channel"
    assert notify_decision({"channel": "status_page", "template": "status_initial"})[0] == "status_page"


async def test_decisions_are_what_the_runbook_did_at_its_offsets() -> None:
    found = await decisions(history_set("incident-order-api-step-catalog"), DATA_CONVERTER)
    kinds = {d.kind for d in found}
    assert {"page", "escalation", "status_page", "channel", "stakeholders", "ticket", "phase", "update"} <= kinds
    escalation = [d for d in found if d.key == "escalation:escalation:engineering-team-lead"]
    assert len(escalation) == 1 and escalation[0].workflow == "command"
    assert 1800 <= escalation[0].offset < 1801  # P1: 30 minutes without mitigation
    assert [d.key for d in found if d.kind == "phase"] == [
        "phase:declare",
        "phase:command",
        "phase:resolve",
        "phase:retrospective",
    ]
    assert found[-1].kind == "severity" and found[-1].key == "severity:P1"
    assert [d.offset for d in found] == sorted(d.offset for d in found)
