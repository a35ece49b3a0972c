"""The Roster workflow under the time-skipping server: overrides are updates (who, when, why in the
history), a refusal answers from the validator and leaves no event, ended overrides leave the
state, and continue-as-new carries the live ones, updates racing it included."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, Worker

from warroom.client import DATA_CONVERTER
from warroom.contracts.oncall import (
    AddOverride,
    OverridesQuery,
    RemoveOverride,
    RosterInput,
    RosterNames,
    SyncRoster,
    roster_id,
)
from warroom.oncall.models import Override
from workflows.roster import RosterWorkflow

NAMES = RosterNames(
    people=["alice", "bob", "carol"],
    teams={"payments": ["engineering-team-lead", "on-call-engineer"], "platform": []},
)


@dataclass
class Roster:
    client: Client
    handle: WorkflowHandle[RosterWorkflow, None]
    now: datetime
    skipping: bool = True

    async def add(self, **fields: Any) -> Override:
        req = AddOverride.model_validate({"team": "payments", "person": "alice", "by": "bob", **fields})
        result: Override = await self.handle.execute_update(RosterWorkflow.add_override, req)
        return result

    async def query(self) -> OverridesQuery:
        answer: OverridesQuery = await self.client.get_workflow_handle(self.handle.id).query(
            RosterWorkflow.overrides_query
        )
        return answer

    async def events(self) -> list[str]:
        """The history's event types. The Java test server writes the workflow task that ran a
        refusing validator; the real server drops it (a speculative task): it is left out there."""
        history = await self.client.get_workflow_handle(self.handle.id).fetch_history()
        types = [EventType.Name(e.event_type) for e in history.events]
        return [t for t in types if not (self.skipping and t.startswith("EVENT_TYPE_WORKFLOW_TASK_"))]


async def start_roster(env: WorkflowEnvironment, queue: str, **fields: Any) -> Roster:
    inp = RosterInput(names=NAMES, **fields)
    handle = await env.client.start_workflow(RosterWorkflow.run, inp, id=roster_id(queue), task_queue=queue)
    return Roster(env.client, handle, await env.get_current_time(), env.supports_time_skipping)


async def replays(roster: Roster) -> None:
    """The latest run's history replays under the sandbox: the roster is deterministic."""
    history = await roster.client.get_workflow_handle(roster.handle.id).fetch_history()
    replayed = await Replayer(workflows=[RosterWorkflow], data_converter=DATA_CONVERTER).replay_workflow(history)
    assert replayed.replay_failure is None


@asynccontextmanager
async def running(env: WorkflowEnvironment, **fields: Any) -> AsyncIterator[Roster]:
    """A roster on a fresh task queue with a worker of its own; terminated at the end."""
    queue = f"roster-{uuid.uuid4().hex[:8]}"
    async with Worker(env.client, task_queue=queue, workflows=[RosterWorkflow]):
        r = await start_roster(env, queue, **fields)
        try:
            yield r
        finally:
            await env.client.get_workflow_handle(r.handle.id).terminate(reason="test over")


@pytest.fixture
async def roster(skipping_env: WorkflowEnvironment) -> AsyncIterator[Roster]:
    async with running(skipping_env) as r:
        yield r


@pytest.fixture(params=["skipping_env", "dev_env"])
def any_env(request: pytest.FixtureRequest) -> WorkflowEnvironment:
    """The time-skipping server and the real dev server (whose histories drop a refusal's task)."""
    env: WorkflowEnvironment = request.getfixturevalue(request.param)
    return env


async def test_an_override_records_who_when_and_why_and_can_be_removed(roster: Roster) -> None:
    start, end = roster.now + timedelta(hours=1), roster.now + timedelta(hours=9)
    first = await roster.add(start=start, end=end, reason="swap with bob for the night")
    second = await roster.add(person="carol", role="engineering-team-lead", start=start, end=end)
    assert (first.id, second.id) == ("ovr-1", "ovr-2")
    assert (first.person, first.team, first.role, first.created_by) == ("alice", "payments", "on-call-engineer", "bob")
    assert first.reason == "swap with bob for the night"
    assert abs(first.created_at - roster.now) < timedelta(minutes=5)
    assert (first.start, first.end) == (start, end)

    listed = await roster.query()
    assert [o.id for o in listed.overrides] == ["ovr-1", "ovr-2"] and listed.names == NAMES

    removed = await roster.handle.execute_update(
        RosterWorkflow.remove_override, RemoveOverride(override_id="ovr-1", by="alice", reason="bob is back")
    )
    assert removed == first
    assert [o.id for o in (await roster.query()).overrides] == ["ovr-2"]
    third = await roster.add(start=start, end=end)
    assert third.id == "ovr-3", "ids are never reused"

    history = await roster.handle.fetch_history()
    accepted = [e.workflow_execution_update_accepted_event_attributes for e in history.events]
    assert [a.accepted_request.meta.update_id != "" for a in accepted].count(True) == 4
    await replays(roster)


REFUSALS = [
    ({"person": "mallory"}, "UnknownPerson", "unknown person 'mallory'"),
    ({"team": "billing"}, "UnknownTeam", "unknown team 'billing'"),
    ({"role": "engineering-manager"}, "UnknownRole", "team payments has no role 'engineering-manager'"),
    ({"start_h": 5, "end_h": 2}, "EndBeforeStart", "must end after it starts"),
    ({"start_h": 2, "end_h": 2}, "EndBeforeStart", "must end after it starts"),
    ({"start_h": -5, "end_h": -1}, "AlreadyOver", "already over"),
    ({"start_h": 1, "end_h": 24 * 91 + 1}, "OverrideTooLong", "at most 90 days"),
]


@pytest.mark.parametrize(("fields", "kind", "reason"), REFUSALS, ids=[k for _, k, _ in REFUSALS])
async def test_each_refusal_says_why_and_leaves_no_event(
    any_env: WorkflowEnvironment, fields: dict[str, Any], kind: str, reason: str
) -> None:
    async with running(any_env) as roster:
        await refused_without_an_event(roster, fields, kind, reason)


async def refused_without_an_event(roster: Roster, fields: dict[str, Any], kind: str, reason: str) -> None:
    await roster.add(start=roster.now, end=roster.now + timedelta(hours=1))  # the roster has run a task
    before = await roster.events()
    fields = dict(fields)  # the parameters are shared by both servers' runs
    start_h, end_h = fields.pop("start_h", 1), fields.pop("end_h", 2)
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await roster.add(start=roster.now + timedelta(hours=start_h), end=roster.now + timedelta(hours=end_h), **fields)
    cause = caught.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == kind
    assert reason in cause.message
    assert await roster.events() == before
    assert [o.id for o in (await roster.query()).overrides] == ["ovr-1"]


async def test_removing_an_unknown_override_is_refused_without_an_event(any_env: WorkflowEnvironment) -> None:
    async with running(any_env) as roster:
        await roster.add(start=roster.now, end=roster.now + timedelta(hours=1))
        before = await roster.events()
        with pytest.raises(WorkflowUpdateFailedError) as caught:
            await roster.handle.execute_update(
                RosterWorkflow.remove_override, RemoveOverride(override_id="ovr-7", by="al")
            )
        assert isinstance(caught.value.cause, ApplicationError) and caught.value.cause.type == "UnknownOverride"
        assert "no live override ovr-7" in caught.value.cause.message
        assert await roster.events() == before


async def test_a_team_that_maps_no_roles_takes_any_role(roster: Roster) -> None:
    got = await roster.add(team="platform", role="incident-commander", start=roster.now, end=roster.now + timedelta(1))
    assert got.role == "incident-commander"


async def test_sync_replaces_the_names_and_keeps_the_overrides(roster: Roster) -> None:
    await roster.add(start=roster.now, end=roster.now + timedelta(hours=3))
    names = RosterNames(people=["alice", "dave"], teams={"payments": []})
    assert await roster.handle.execute_update(RosterWorkflow.sync_roster, SyncRoster(names=names)) == names
    answer = await roster.query()
    assert answer.names == names and [o.id for o in answer.overrides] == ["ovr-1"]
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await roster.add(person="bob", start=roster.now, end=roster.now + timedelta(hours=1))
    assert isinstance(caught.value.cause, ApplicationError) and caught.value.cause.type == "UnknownPerson"
    assert (await roster.add(person="dave", start=roster.now, end=roster.now + timedelta(hours=1))).id == "ovr-2"


async def test_ended_overrides_leave_the_roster_when_they_end(
    skipping_env: WorkflowEnvironment, roster: Roster
) -> None:
    await roster.add(start=roster.now, end=roster.now + timedelta(hours=1))
    await roster.add(person="bob", start=roster.now, end=roster.now + timedelta(hours=5))
    await skipping_env.sleep(timedelta(hours=2))
    assert [o.id for o in (await roster.query()).overrides] == ["ovr-2"]
    with pytest.raises(WorkflowUpdateFailedError):
        await roster.handle.execute_update(RosterWorkflow.remove_override, RemoveOverride(override_id="ovr-1", by="a"))
    await skipping_env.sleep(timedelta(hours=4))
    assert (await roster.query()).overrides == []
    await replays(roster)


async def test_continue_as_new_keeps_the_overrides_and_racing_updates_land(skipping_env: WorkflowEnvironment) -> None:
    """The history limit is checked at each workflow task: a burst of updates delivered in one task
    can pass it, and the next task continues as new while more updates arrive."""
    async with running(skipping_env, history_limit=20) as roster:
        first_run = roster.handle.result_run_id
        later = roster.now + timedelta(days=1)
        await roster.add(start=roster.now, end=later)
        for _ in range(3):
            people = ["alice", "bob", "carol"] * 2
            await asyncio.gather(*(roster.add(person=p, start=roster.now, end=later) for p in people))
        runs = {(await skipping_env.client.get_workflow_handle(roster.handle.id).describe()).run_id, first_run}
        assert len(runs) == 2, "the roster continued as new"
        answer = await roster.query()
        assert sorted(int(o.id.removeprefix("ovr-")) for o in answer.overrides) == list(range(1, 20))
        assert answer.names == NAMES, "the names are carried too"
        assert (await roster.add(start=roster.now, end=later)).id == "ovr-20", "ids go on counting"
        history = await skipping_env.client.get_workflow_handle(roster.handle.id).fetch_history()
        started = history.events[0].workflow_execution_started_event_attributes
        assert started.continued_execution_run_id, "the latest run was continued from another"
        await replays(roster)
