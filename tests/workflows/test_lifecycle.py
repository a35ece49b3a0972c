"""The whole lifecycle under time skipping: declare → command → mitigate → resolve → PIR → closed."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from tests.helpers import (
    MINUTE,
    assert_eventually,
    incident_input,
    mitigate,
    not_yet,
    resolve_when_ready,
    running_worker,
    state_of,
)
from warroom.enums import Phase, Severity, Update
from warroom.models import (
    Acknowledge,
    ActionItem,
    CompleteActionItem,
    CompletePir,
    Resolve,
    UpdateResult,
)


async def test_p2_runs_every_phase_and_closes_after_the_pir(skipping_env: WorkflowEnvironment, tmp_path: Path) -> None:
    client = skipping_env.client
    async with running_worker(client, tmp_path) as harness:
        sink = harness.sink
        # carol declares and names alice IC: the IC is paged, and acknowledges.
        handle = await harness.start(
            incident_input(declared=True, declared_by="carol", severity=Severity.P2, commander="alice")
        )

        async def in_phase(phase: Phase) -> None:
            assert (await state_of(handle)).phase == phase

        async def paged() -> None:
            assert "ic_paged" in [e.kind for e in (await state_of(handle)).timeline]

        await assert_eventually(paged)  # an ack before the page would be the IC already in command
        await handle.execute_update(Update.ACKNOWLEDGE, Acknowledge(by="alice"), result_type=UpdateResult)
        await assert_eventually(lambda: in_phase(Phase.COMMAND))

        await mitigate(skipping_env, handle, action="rolled back to v2.14.2")

        result = await resolve_when_ready(skipping_env, handle, Resolve(by="alice", summary="bad deploy rolled back"))
        assert "PIR by alice" in result.message
        await assert_eventually(lambda: in_phase(Phase.RETROSPECTIVE))
        state = await state_of(handle)
        assert state.pir.due is not None and state.resolved_at is not None
        assert state.pir.due - state.resolved_at >= timedelta(days=5)

        item = ActionItem(title="canary deploys for order-api", owner="bob", due=state.pir.due + timedelta(days=14))
        await handle.execute_update(Update.COMPLETE_PIR, CompletePir(by="alice", action_items=[item]))
        now = await skipping_env.get_current_time()
        await skipping_env.sleep(item.due - timedelta(days=1) + MINUTE - now)  # the reminder: a day before it is due
        await assert_eventually(lambda: sink.count("action_item_reminder") == 1 or not_yet())
        assert sink.count("action_item_overdue") == 0
        await handle.execute_update(
            Update.COMPLETE_ACTION_ITEM, CompleteActionItem(by="bob", item=1, note="canary shipped")
        )
        final = await handle.result()
        assert final.phase == Phase.CLOSED
        kinds = [e.kind for e in final.timeline]
        assert final.pir.action_items[0].done_by == "bob"
        for expected in (
            "declared",
            "acknowledged",
            "channel_opened",
            "ic_paged",
            "status_page_initial",
            "mitigation_applied",
            "mitigated",
            "resolved",
            "status_page_resolved",
            "ticket_opened",
            "ticket_updated",
            "pir_completed",
            "action_item_done",
            "closed",
        ):
            assert expected in kinds, expected
        assert sorted((channel, template) for channel, template, _, _ in sink.sent) == sorted(
            [
                ("incident", "channel_opened"),
                ("page", "page_acknowledged"),
                ("page", "ic_page"),
                ("stakeholders", "stakeholder_notice"),
                ("status_page", "status_initial"),
                ("incident", "ic_opening"),
                ("ticket", "ticket_opened"),
                ("incident", "ticket_link"),
                ("incident", "mitigation_applied"),
                ("incident", "cannot_verify"),  # no metrics, no alerts: the IC confirms errors at baseline
                ("incident", "checklist_confirmed"),
                ("incident", "mitigated"),
                ("incident", "ic_checklist"),  # 15 min after declaring, in the monitoring period
                ("incident", "monitoring_complete"),
                ("incident", "checklist_confirmed"),  # no new customer reports, synthetic monitors green
                ("incident", "resolved"),
                ("stakeholders", "stakeholder_resolved"),  # the engineering manager told at start
                ("status_page", "status_resolved"),
                ("ticket", "ticket_timeline"),
                ("incident", "action_item_reminder"),
            ]
        )
        # The channel log holds every message delivered outside the status page and the ticket, and nothing else.
        log = (tmp_path / "channels" / f"{final.incident_id}.log").read_text()
        delivered = [(channel, text) for channel, _, _, text in sink.sent if channel not in ("status_page", "ticket")]
        logged = re.findall(r"^\[[^\]]+\] \[(\w+)\] \[[^\]]*\]$", log, flags=re.MULTILINE)
        assert sorted(logged) == sorted(channel for channel, _ in delivered) and len(logged) == 16
        assert all(text in log for _, text in delivered)
        # The ticket (the local one: no ticket system configured) has its description and then its timeline.
        ticket = (tmp_path / "tickets" / f"{final.incident_id}.md").read_text()
        assert ticket.startswith("# [P2] order-api: Order API returning 503s\n")
        assert (
            ticket.index("Incident Commander: alice")
            < ticket.index("Timeline recorded by warroom")
            < ticket.index("UTC resolved")
        )
        link = next(text for _, template, _, text in sink.sent if template == "ticket_link")
        opened = next(e for e in final.timeline if e.kind == "ticket_opened")
        assert opened.data["url"] == (tmp_path / "tickets" / f"{final.incident_id}.md").resolve().as_uri()
        assert link == f"🎫 Incident ticket {final.incident_id}: {opened.data['url']}"


async def test_an_overdue_action_item_is_escalated_to_the_engineering_manager(
    skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    async with running_worker(skipping_env.client, tmp_path) as harness:
        handle = await harness.start(
            incident_input(declared=True, declared_by="alice", severity=Severity.P3, commander="alice")
        )
        await mitigate(skipping_env, handle, action="restart")
        await resolve_when_ready(skipping_env, handle, Resolve(by="alice", summary="restarted"))
        state = await state_of(handle)
        item = ActionItem(title="add pool metrics", owner="bob", due=state.resolved_at + timedelta(days=3))
        await handle.execute_update(Update.COMPLETE_PIR, CompletePir(by="alice", action_items=[item]))
        await skipping_env.sleep(timedelta(days=3, minutes=1))
        await assert_eventually(lambda: harness.sink.count("action_item_overdue") == 1 or not_yet())
        state = await state_of(handle)
        assert "engineering-manager" in state.escalated_to and state.phase == Phase.RETROSPECTIVE


async def _mitigated(handle) -> None:
    state = await state_of(handle)
    assert state.mitigated_at is not None, " ".join(f"{e.at:%H:%M:%S.%f}:{e.kind}" for e in state.timeline)
