"""The roster's client side against the dev server: the first write starts the roster
(update-with-start), later ones join it, and a validator's refusal is warroom's Refused."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from warroom import oncall_roster
from warroom.contracts.oncall import AddOverride, OverridesQuery, RemoveOverride, RosterNames, roster_id
from warroom.errors import Refused
from warroom.oncall.models import OncallConfig
from workflows.roster import RosterWorkflow

CONFIG = OncallConfig.model_validate(
    {
        "people": [{"name": "alice"}, {"name": "bob"}],
        "schedules": [
            {
                "name": "payments-primary",
                "layers": [{"name": "weekly", "start": "2026-01-05", "members": ["alice", "bob"]}],
            }
        ],
        "teams": [{"name": "payments", "roles": {"on-call-engineer": {"schedule": "payments-primary"}}}],
    }
)


async def test_overrides_through_the_client_start_the_roster_and_refusals_are_refused(
    dev_env: WorkflowEnvironment,
) -> None:
    client, queue = dev_env.client, f"roster-client-{uuid.uuid4().hex[:8]}"
    names = oncall_roster.names_of(CONFIG)
    assert names == RosterNames(people=["alice", "bob"], teams={"payments": ["on-call-engineer"]})
    now = datetime.now(UTC)
    tonight = {"team": "payments", "start": now + timedelta(hours=1), "end": now + timedelta(hours=10)}
    async with Worker(client, task_queue=queue, workflows=[RosterWorkflow]):
        assert await oncall_roster.list_overrides(client, queue) == OverridesQuery(), "never started: empty"
        try:
            first = await oncall_roster.add_override(
                client, queue, names, AddOverride(person="alice", by="bob", reason="swap", **tonight)
            )
            second = await oncall_roster.add_override(
                client, queue, names, AddOverride(person="bob", by="bob", **tonight)
            )
            assert (first.id, first.created_by, first.reason, second.id) == ("ovr-1", "bob", "swap", "ovr-2")
            listed = await oncall_roster.list_overrides(client, queue)
            assert [o.id for o in listed.overrides] == ["ovr-1", "ovr-2"] and listed.names == names

            with pytest.raises(Refused) as caught:
                await oncall_roster.add_override(
                    client, queue, names, AddOverride(person="mallory", by="bob", **tonight)
                )
            assert caught.value.type == "UnknownPerson" and "unknown person 'mallory'" in caught.value.reason
            backwards = {**tonight, "start": tonight["end"], "end": tonight["start"]}
            with pytest.raises(Refused, match="EndBeforeStart"):
                await oncall_roster.add_override(client, queue, names, AddOverride(person="bob", by="bob", **backwards))

            removed = await oncall_roster.remove_override(
                client, queue, names, RemoveOverride(override_id="ovr-1", by="alice", reason="bob is back")
            )
            assert removed == first
            with pytest.raises(Refused, match="UnknownOverride"):
                await oncall_roster.remove_override(client, queue, names, RemoveOverride(override_id="ovr-1", by="al"))
            assert [o.id for o in (await oncall_roster.list_overrides(client, queue)).overrides] == ["ovr-2"]

            renamed = RosterNames(people=["alice", "bob", "carol"], teams=names.teams)
            await oncall_roster.sync_roster(client, queue, renamed)
            assert (await oncall_roster.list_overrides(client, queue)).names == renamed
            history = await client.get_workflow_handle(roster_id(queue)).fetch_history()
            accepted = [e for e in history.events if e.HasField("workflow_execution_update_accepted_event_attributes")]
            assert len(accepted) == 4, "every accepted write (2 adds, a removal, a sync) joined the one roster run"
        finally:
            await client.get_workflow_handle(roster_id(queue)).terminate(reason="test over")
