"""The Resolve rule end to end: a real deploy on the sandbox cluster raises the error rate a real
Prometheus measures; warroom proposes the rollback with its evidence, honours the IC's veto, rolls
back like `kubectl rollout undo` when nobody objects, and calls it mitigated after clean metrics.

Each test has its own rig (cluster, simulated service, Prometheus): none depends on what another
did, and every count is taken relative to the test's own start.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment

from tests.helpers import state_of
from tests.rig import BAD, GOOD, MIGRATING, Rig, live_rig, timeline_has, wait_for
from tests.rig import p1_on_order_api as p1
from warroom.enums import Update
from warroom.models import StepDecision

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.system("prometheus"),
]

HEALTHY_NEXT = "registry.example.com/order-api:v2.14.4"  # not in the rig's scenario: a healthy image
RECENT = r"deployed \d+s ago \(within 2h\)"
ELEVATED = r"error rate \d+\.\d+% > pre-deploy baseline 0\.0%"


@pytest_asyncio.fixture(loop_scope="session")
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    """A rig of this test's own: order-api healthy on GOOD, with a baseline Prometheus has seen."""
    async with live_rig(tmp_path / "rig") as rig:
        yield rig


def worker_for(dev_env: WorkflowEnvironment, rig: Rig, tmp_path: Path) -> Any:
    return rig.in_process_worker(dev_env.client, tmp_path)


def rule_entry(state: Any) -> Any:
    [rule] = [e for e in state.timeline if e.kind == "rollback_rule"]
    return rule


def scheduled_activities(events: list[Any]) -> list[str]:
    return [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]


def veto_timer(events: list[Any]) -> list[str]:
    """What became of the veto window's timer(s): 'started', then 'fired' or 'canceled'."""
    ids = {
        e.timer_started_event_attributes.timer_id
        for e in events
        if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED
        and json.loads(e.user_metadata.summary.data or b'""') == "rollback veto window"
    }
    outcomes = {
        EventType.EVENT_TYPE_TIMER_STARTED: ("timer_started_event_attributes", "started"),
        EventType.EVENT_TYPE_TIMER_FIRED: ("timer_fired_event_attributes", "fired"),
        EventType.EVENT_TYPE_TIMER_CANCELED: ("timer_canceled_event_attributes", "canceled"),
    }
    return [
        outcomes[e.event_type][1]
        for e in events
        if e.event_type in outcomes and getattr(e, outcomes[e.event_type][0]).timer_id in ids
    ]


async def test_the_ic_can_veto_the_proposed_rollback(dev_env: WorkflowEnvironment, rig: Rig, tmp_path: Path) -> None:
    await rig.deploy_bad()
    patches = rig.rollback_patches()
    async with worker_for(dev_env, rig, tmp_path) as harness:
        handle = await harness.start(p1())
        rule = rule_entry(await timeline_has(handle, "rollback_rule"))
        assert re.fullmatch(f"rollback rule holds: {RECENT}; {ELEVATED}; no contraindication", rule.message), (
            rule.message
        )
        state = await timeline_has(handle, "rollback_proposed")
        assert float(rule.data["error_ratio"]) > 0.05 and float(rule.data["baseline_error_ratio"]) == 0.0
        assert rule.data["images"] == BAD and rule.data["previous_images"] == GOOD
        assert rule.data["revision"] == "2" and rule.data["previous_revision"] == "1"
        [step] = state.steps
        assert (step.step_id, step.action, step.status) == ("rb1", "rollback", "pending")
        assert step.description == "roll back deployment/order-api in production from revision 2 to 1"
        [step] = (await timeline_has(handle, "step_previewed")).steps  # the IC sees the dry run, then vetoes
        assert step.preview is not None and step.preview.changes, step.preview
        await handle.execute_update(
            Update.DENY, StepDecision(step_id=step.step_id, by="alice", reason="the pool change is a fix we need")
        )
        # The denial is where the rule would otherwise have rolled back: once it has told the
        # incident channel it will not, the decision is in history and nothing can follow.
        await wait_for(lambda: harness.sink.count("rollback_not_indicated"), lambda n: n == 1, 30)
        events = [e async for e in handle.fetch_history_events()]  # the catalog's rollback step runs in the incident
        assert veto_timer(events) == ["started", "canceled"], "the denial ended the veto window"
        assert "kube_step_preview" in scheduled_activities(events), "the IC saw the dry run first"
        assert "kube_step_apply" not in scheduled_activities(events)
        state = await state_of(handle)
        assert [s.status for s in state.steps] == ["denied"]
        assert not [e for e in state.timeline if e.kind in ("rollback_auto_approved", "rolled_back")]
        assert rig.image() == BAD and rig.rollback_patches() - patches == 0
        # With no mitigation the diagnosis runs to its end (a rollback can overtake and cancel it).
        [diagnosis] = [e for e in (await timeline_has(handle, "diagnosis")).timeline if e.kind == "diagnosis"]
        assert diagnosis.data["path"].startswith("error codes: 5xx → server errors → recent deployment: yes")
        assert "roll back immediately" in diagnosis.message


async def test_silence_through_the_veto_window_rolls_back_and_clean_metrics_mitigate(
    dev_env: WorkflowEnvironment, rig: Rig, tmp_path: Path
) -> None:
    await rig.deploy_bad()
    patches = rig.rollback_patches()
    async with worker_for(dev_env, rig, tmp_path) as harness:
        handle = await harness.start(p1())
        rule = rule_entry(await timeline_has(handle, "rollback_rule"))
        assert re.fullmatch(f"rollback rule holds: {RECENT}; {ELEVATED}; no contraindication", rule.message), (
            rule.message
        )
        state = await timeline_has(handle, "rolled_back", 60)
        assert [e.kind for e in state.timeline if e.kind.startswith("rollback")][:3] == [
            "rollback_rule",
            "rollback_proposed",
            "rollback_auto_approved",
        ]
        assert state.steps[0].decided_by == "warroom"
        state = await timeline_has(handle, "mitigated", 90)
        assert state.steps[0].status == "done" and state.steps[0].verification.startswith("passed")  # type: ignore[union-attr]
        assert rig.image() == GOOD and rig.rollback_patches() - patches == 1
        events = [e async for e in handle.fetch_history_events()]
        assert veto_timer(events) == ["started", "fired"]
        assert scheduled_activities(events).count("kube_step_apply") == 1
        assert state.mitigation_action and GOOD in state.mitigation_action
        [mitigated] = [e for e in state.timeline if e.kind == "mitigated"]
        assert "error ratio at baseline" in mitigated.message
        # The incident has a deploy: clean is its pre-deploy baseline, not the 1 % declare threshold.
        assert "(pre-deploy baseline 0.0% (+0.1%))" in mitigated.message
        assert state.deployed_at == datetime.fromisoformat(rule.data["deployed_at"])
        assert state.checks.verified_by == "metrics" and state.checks.baseline == "pre-deploy baseline 0.0% (+0.1%)"


async def test_errors_at_baseline_mean_no_rollback(dev_env: WorkflowEnvironment, rig: Rig, tmp_path: Path) -> None:
    """A recent deploy that is healthy: a new incident finds errors at baseline and proposes nothing."""
    await rig.clean_baseline()
    rig.deploy(HEALTHY_NEXT, "deploy v2.14.4")
    source = rig.source()
    await wait_for(rig.image, lambda image: image == HEALTHY_NEXT, 10)
    await wait_for(lambda: source.error_ratio("order-api"), lambda v: v == 0.0, 30)
    patches = rig.rollback_patches()
    async with worker_for(dev_env, rig, tmp_path) as harness:
        handle = await harness.start(p1())
        state = await timeline_has(handle, "rollback_rule")
        rule = rule_entry(state)
        assert re.fullmatch(
            f"rollback rule does not hold: {RECENT}; error rate 0.0% not above pre-deploy baseline 0.0%; "
            "no contraindication",
            rule.message,
        ), rule.message
        await wait_for(lambda: harness.sink.count("rollback_not_indicated"), lambda n: n == 1, 30)
        state = await state_of(handle)
        assert state.steps == [] and rig.rollback_patches() - patches == 0 and rig.image() == HEALTHY_NEXT


async def test_a_deploy_that_applied_a_db_migration_is_not_rolled_back(
    dev_env: WorkflowEnvironment, rig: Rig, tmp_path: Path
) -> None:
    await rig.deploy_bad(MIGRATING, annotations={"warroom.io/db-migration-applied": "2026-11-28-orders-index"})
    patches = rig.rollback_patches()
    async with worker_for(dev_env, rig, tmp_path) as harness:
        handle = await harness.start(p1())
        state = await timeline_has(handle, "rollback_rule")
        rule = rule_entry(state)
        assert re.fullmatch(
            f"rollback rule does not hold: {RECENT}; {ELEVATED}; contraindicated: db_migration_applied",
            rule.message,
        ), rule.message
        await wait_for(lambda: harness.sink.count("rollback_not_indicated"), lambda n: n == 1, 10)
        state = await state_of(handle)
        assert state.steps == [] and rig.rollback_patches() - patches == 0 and rig.image() == MIGRATING
        assert any(d.kind == "escalate" for d in state.deadlines), "the escalation timer keeps running"
