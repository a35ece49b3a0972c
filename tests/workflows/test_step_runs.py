"""Catalog steps inside a running incident, under the time-skipping server: a step is previewed
before anyone is asked, approved by the preview's digest (two people under `two_person`), then
run; an undecided step re-prompts the IC after `approve_within` and escalates after twice that;
a step is cancelled by the IC or its proposer. (Kubernetes, playbook and HTTP steps against real
components are in tests/steps/.)"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from tests.helpers import Scene, assert_eventually, incident_input, running_worker, state_of
from warroom.catalog import StepCatalog
from warroom.enums import Phase, Role, Severity, Update
from warroom.models import AssignRole, CancelStep, ProposeStep, Step, StepDecision, UpdateResult
from warroom.runbook import load_runbook

MINUTE, SECOND = timedelta(minutes=1), timedelta(seconds=1)


def runbook_with(*entries: dict[str, Any]) -> Any:
    base = load_runbook()
    return base.model_copy(update={"steps": StepCatalog.model_validate({"entries": list(entries)})})


@pytest.fixture
async def scene_factory(skipping_env: WorkflowEnvironment, tmp_path: Path) -> AsyncIterator:
    async with running_worker(skipping_env.client, tmp_path) as harness:

        async def make(severity: Severity = Severity.P2, runbook: Any = None) -> Scene:
            inp = incident_input(
                declared=True, declared_by="alice", severity=severity, commander="alice", runbook=runbook
            )
            handle = await harness.start(inp)
            for role, person in ((Role.OPERATIONS_LEAD, "bob"), (Role.COMMUNICATIONS_LEAD, "carol")):
                await handle.execute_update(Update.ASSIGN_ROLE, AssignRole(role=role, person=person, by="alice"))
            scene = Scene(skipping_env, harness.sink, handle)
            await scene.phase_is(Phase.COMMAND)
            return scene

        yield make


async def propose(handle: WorkflowHandle, by: str = "bob", **fields: Any) -> str:
    result = await handle.execute_update(Update.PROPOSE_STEP, ProposeStep(by=by, **fields), result_type=UpdateResult)
    assert result.step_id
    return result.step_id


async def previewed(handle: WorkflowHandle, step_id: str) -> Step:
    async def check() -> Step:
        step = next(s for s in (await state_of(handle)).steps if s.step_id == step_id)
        assert step.preview is not None and step.preview_digest
        return step

    return await assert_eventually(check)


async def refusal(handle: WorkflowHandle, name: str, arg: object) -> tuple[str, str]:
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await handle.execute_update(name, arg, result_type=UpdateResult)
    cause = caught.value.cause
    return cause.type, cause.message  # type: ignore[union-attr]


async def step_status(handle: WorkflowHandle, step_id: str, status: str) -> Step:
    async def check() -> Step:
        step = next(s for s in (await state_of(handle)).steps if s.step_id == step_id)
        assert step.status == status, (step.status, step.result)
        return step

    return await assert_eventually(check)


async def test_a_page_is_previewed_approved_by_its_digest_and_reaches_the_person(scene_factory) -> None:
    scene = await scene_factory()
    step_id = await propose(scene.handle, step="page", params={"who": "database-oncall"}, description="pg is slow")
    step = await previewed(scene.handle, step_id)
    assert step.preview is not None and step.preview.summary == "page database-oncall"
    await scene.expect_count("step_preview", 1)
    asked = next(text for _, template, _, text in scene.sink.sent if template == "step_preview")
    assert step.preview_digest in asked and "warroom approve" in asked

    assert (await refusal(scene.handle, Update.APPROVE, StepDecision(step_id=step_id, by="alice", reason="go")))[0] == (
        "PreviewRequired"
    )
    stale = StepDecision(step_id=step_id, by="alice", reason="go", preview="000000000000")
    assert (await refusal(scene.handle, Update.APPROVE, stale))[0] == "PreviewChanged"
    by_bob = StepDecision(step_id=step_id, by="bob", reason="go", preview=step.preview_digest)
    assert (await refusal(scene.handle, Update.APPROVE, by_bob))[0] == "NotIncidentCommander"
    assert scene.sink.count("escalation") == 0  # nothing ran while nobody approved

    decision = StepDecision(step_id=step_id, by="alice", reason="dba needed", preview=step.preview_digest)
    await scene.handle.execute_update(Update.APPROVE, decision, result_type=UpdateResult)
    done = await step_status(scene.handle, step_id, "done")
    assert done.result == "paged database-oncall" and done.decided_by == "alice"
    assert done.approvals[0].preview == step.preview_digest
    pages = [
        audience for channel, template, audience, _ in scene.sink.sent if (channel, template) == ("page", "escalation")
    ]
    assert pages == [["database-oncall"]]
    await scene.expect_count("step_result", 1)
    kinds = [e.kind for e in (await state_of(scene.handle)).timeline if e.data.get("step_id") == step_id]
    assert kinds == ["step_proposed", "step_previewed", "step_approved", "step_started", "step_done"]


async def test_an_undecided_step_reprompts_the_ic_at_approve_within_and_escalates_at_twice_that(scene_factory) -> None:
    scene = await scene_factory(Severity.P2)  # approve_within: 20 min on P2
    step_id = await propose(scene.handle, step="page", params={"who": "database-oncall"})
    await previewed(scene.handle, step_id)
    await scene.advance(20 * MINUTE - 10 * SECOND)
    await scene.expect_count("step_reprompt", 0)
    await scene.advance(20 * SECOND)
    await scene.expect_count("step_reprompt", 2)  # the channel, and a page to the IC
    reprompts = [(c, a) for c, t, a, _ in scene.sink.sent if t == "step_reprompt"]
    assert reprompts == [("incident", []), ("page", ["alice"])]
    await scene.advance(20 * MINUTE - 20 * SECOND)
    await scene.expect_count("step_reprompt", 2)
    await scene.advance(20 * SECOND)
    await scene.expect_count("step_reprompt", 4)
    reprompts = [(c, a) for c, t, a, _ in scene.sink.sent if t == "step_reprompt"]
    assert reprompts[2:] == [("incident", []), ("page", ["engineering-team-lead"])]
    state = await state_of(scene.handle)
    assert "engineering-team-lead" in state.escalated_to
    assert [e.kind for e in state.timeline if e.kind in ("step_reprompt", "step_escalated")] == [
        "step_reprompt",
        "step_escalated",
    ]
    step = next(s for s in state.steps if s.step_id == step_id)
    assert step.status == "pending"  # still the IC's call: nothing runs by itself


async def test_a_p1_step_is_reprompted_after_10_minutes(scene_factory) -> None:
    scene = await scene_factory(Severity.P1)
    step_id = await propose(scene.handle, step="page", params={"who": "database-oncall"})
    step = await previewed(scene.handle, step_id)
    await scene.advance(10 * MINUTE - 10 * SECOND)
    await scene.expect_count("step_reprompt", 0)
    decision = StepDecision(step_id=step_id, by="alice", reason="go", preview=step.preview_digest)
    await scene.handle.execute_update(Update.APPROVE, decision, result_type=UpdateResult)
    await step_status(scene.handle, step_id, "done")
    await scene.advance(30 * MINUTE)
    await scene.expect_count("step_reprompt", 0)  # decided in time: no prompt later either


TWO_PERSON = {
    "name": "escalate",
    "kind": "escalate",
    "description": "escalate now",
    "approval": {"default": "two_person"},
}


async def test_a_two_person_step_needs_two_approvers_neither_the_proposer(scene_factory) -> None:
    scene = await scene_factory(runbook=runbook_with(TWO_PERSON))
    step_id = await propose(scene.handle, step="escalate")
    digest = (await previewed(scene.handle, step_id)).preview_digest

    def by(person: str) -> StepDecision:
        return StepDecision(step_id=step_id, by=person, reason="we need the lead", preview=digest)

    kind, message = await refusal(scene.handle, Update.APPROVE, by("bob"))
    assert kind == "NotApprover" and "proposer" in message
    await scene.handle.execute_update(Update.APPROVE, by("alice"), result_type=UpdateResult)
    assert (await step_status(scene.handle, step_id, "pending")).approvals[0].by == "alice"
    kind, message = await refusal(scene.handle, Update.APPROVE, by("alice"))
    assert kind == "NotApprover" and "second, different approver" in message
    assert scene.sink.count("escalation") == 0
    await scene.handle.execute_update(Update.APPROVE, by("carol"), result_type=UpdateResult)
    done = await step_status(scene.handle, step_id, "done")
    assert [a.by for a in done.approvals] == ["alice", "carol"]
    assert "engineering-team-lead" in (await state_of(scene.handle)).escalated_to
    timeline = [e.kind for e in (await state_of(scene.handle)).timeline if e.data.get("step_id") == step_id]
    assert timeline.count("step_approval") == 1 and timeline.count("step_approved") == 1


async def test_an_auto_step_runs_once_previewed(scene_factory) -> None:
    auto_page = {
        "name": "page",
        "kind": "page",
        "description": "page now",
        "params": [{"name": "who", "type": "name"}],
        "approval": {"default": "auto"},
    }
    scene = await scene_factory(runbook=runbook_with(auto_page))
    step_id = await propose(scene.handle, step="page", params={"who": "network-oncall"})
    done = await step_status(scene.handle, step_id, "done")
    assert done.decided_by == "warroom" and done.preview is not None


async def test_a_step_is_cancelled_by_its_proposer_and_then_decided_by_nobody(scene_factory) -> None:
    scene = await scene_factory()
    step_id = await propose(scene.handle, step="page", params={"who": "database-oncall"})
    digest = (await previewed(scene.handle, step_id)).preview_digest
    kind, _ = await refusal(scene.handle, Update.CANCEL_STEP, CancelStep(step_id=step_id, by="carol", reason="no"))
    assert kind == "NotApprover"
    await scene.handle.execute_update(
        Update.CANCEL_STEP, CancelStep(step_id=step_id, by="bob", reason="wrong person"), result_type=UpdateResult
    )
    await step_status(scene.handle, step_id, "cancelled")
    decision = StepDecision(step_id=step_id, by="alice", reason="go", preview=digest)
    assert (await refusal(scene.handle, Update.APPROVE, decision))[0] == "StepDecided"
    await scene.advance(45 * MINUTE)
    await scene.expect_count("step_reprompt", 0)  # a cancelled step prompts nobody
    assert scene.sink.count("escalation") == 0 or all(
        a != ["database-oncall"] for _, t, a, _ in scene.sink.sent if t == "escalation"
    )


async def test_hostile_parameters_are_refused_by_name_and_leave_no_step(scene_factory) -> None:
    scene = await scene_factory()
    for params in ({"who": "x; rm -rf /"}, {"who": "../../etc/passwd"}, {"who": "a\x00b"}, {"whom": "bob"}):
        kind, message = await refusal(
            scene.handle, Update.PROPOSE_STEP, ProposeStep(by="bob", step="page", params=params)
        )
        assert kind == "InvalidParameter" and ("'who'" in message or "'whom'" in message)
    kind, _ = await refusal(scene.handle, Update.PROPOSE_STEP, ProposeStep(by="bob", step="nuke"))
    assert kind == "UnknownStep"
    assert (await state_of(scene.handle)).steps == []


async def test_a_manual_step_is_decided_and_never_run(scene_factory) -> None:
    scene = await scene_factory()
    step_id = await propose(scene.handle, action="custom", target="flush the CDN")
    await scene.handle.execute_update(
        Update.APPROVE, StepDecision(step_id=step_id, by="alice", reason="do it"), result_type=UpdateResult
    )
    step = await step_status(scene.handle, step_id, "approved")
    assert step.entry is None and step.preview is None
    await scene.advance(MINUTE)
    assert (await step_status(scene.handle, step_id, "approved")).result is None
