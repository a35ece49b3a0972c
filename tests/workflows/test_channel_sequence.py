"""`#incident-YYYY-MM-DD-NNN`: the day's ChannelSequence numbers incident channels, unique under
races, the same number again for an incident that asks again, nothing once its day has closed."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.sequence import next_channel_number
from tests.helpers import Harness, assert_eventually, incident_input, running_worker, state_of
from warroom.contracts.sequence import SEQUENCE_WORKFLOW, ChannelNumber, ChannelNumberRequest, SequenceInput
from warroom.enums import Phase
from warroom.ids import channel_sequence_workflow_id
from warroom.models import IncidentState


@pytest.fixture
async def harness(skipping_env: WorkflowEnvironment, tmp_path: Path) -> AsyncIterator[Harness]:
    async with running_worker(skipping_env.client, tmp_path) as h:
        yield h


def activity_env(client: Client, queue: str) -> ActivityEnvironment:
    """The activity as a worker on `queue` runs it: with the worker's client, starting sequences there."""
    env = ActivityEnvironment(client=client)
    env.info = dataclasses.replace(env.info, task_queue=queue)
    return env


async def ask(env: ActivityEnvironment, day: date, incident_id: str) -> int:
    reply: ChannelNumber = await env.run(next_channel_number, ChannelNumberRequest(day=day, incident_id=incident_id))
    return reply.number


async def declared_state(harness: Harness, **fields: object) -> IncidentState:
    handle = await harness.start(incident_input(declared=True, declared_by="alice", **fields))

    async def in_command() -> IncidentState:
        state = await state_of(handle)
        assert state.phase == Phase.COMMAND, state.phase
        return state

    state: IncidentState = await assert_eventually(in_command)
    return state


async def test_incidents_declared_the_same_day_get_the_day_s_numbers_each_once(harness: Harness) -> None:
    states = await asyncio.gather(*(declared_state(harness) for _ in range(5)))
    day = states[0].declared_at
    assert day is not None and all(s.declared_at and s.declared_at.date() == day.date() for s in states)
    assert sorted(s.channel for s in states) == [f"#incident-{day:%Y-%m-%d}-{n:03d}" for n in range(1, 6)]
    opened = [text for channel, template, _, text in harness.sink.sent if template == "channel_opened"]
    assert sorted(t.split()[3] for t in opened) == sorted(s.channel for s in states)
    assert not [e for s in states for e in s.timeline if e.kind == "channel_unnumbered"]


async def test_an_incident_asking_again_gets_its_own_number_again(
    skipping_env: WorkflowEnvironment, harness: Harness
) -> None:
    env = activity_env(harness.client, harness.queue)
    day = (await skipping_env.get_current_time()).date()
    assert [await ask(env, day, "a"), await ask(env, day, "b"), await ask(env, day, "a")] == [1, 2, 1]
    assert await ask(env, day + timedelta(days=1), "c") == 1, "each day counts from 1"


async def closed_day_numbers_nothing_more(env: WorkflowEnvironment, tmp_path: Path) -> None:
    """A day long past: its sequence answers the request that started it, then closes for good
    (a restarted one would count from 1 again); the failure is ChannelSequenceClosed, not retried."""
    async with running_worker(env.client, tmp_path) as h:
        activities = activity_env(env.client, h.queue)
        past = date(2020, 1, 1)
        assert await ask(activities, past, "late-1") == 1
        sequence_id = channel_sequence_workflow_id(past, h.queue)
        handle = env.client.get_workflow_handle(sequence_id, result_type=SequenceInput)
        assert await handle.result() == SequenceInput(day=past, numbers={"late-1": 1})
        with pytest.raises(ApplicationError) as caught:
            await ask(activities, past, "late-2")
        assert (caught.value.type, caught.value.non_retryable) == ("ChannelSequenceClosed", True)


async def test_a_closed_day_numbers_nothing_more(skipping_env: WorkflowEnvironment, tmp_path: Path) -> None:
    await closed_day_numbers_nothing_more(skipping_env, tmp_path)


async def test_a_closed_day_numbers_nothing_more_on_the_dev_server(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """The dev server refuses the restart with another error than the test server's: both are caught."""
    await closed_day_numbers_nothing_more(dev_env, tmp_path)


async def test_without_a_number_the_incident_names_its_channel_by_service_and_says_why(
    skipping_env: WorkflowEnvironment, harness: Harness
) -> None:
    today = (await skipping_env.get_current_time()).date()
    sequence = await harness.client.start_workflow(
        SEQUENCE_WORKFLOW,
        SequenceInput(day=today),
        id=channel_sequence_workflow_id(today, harness.queue),
        task_queue=harness.queue,
    )
    await sequence.terminate(reason="test: the day's sequence is gone")
    state = await declared_state(harness)
    assert state.declared_at is not None
    assert state.channel == f"#incident-{state.declared_at:%Y-%m-%d}-order-api-{state.declared_at:%H%M}"
    note = [e for e in state.timeline if e.kind == "channel_unnumbered"]
    assert len(note) == 1 and "ChannelSequenceClosed" in note[0].message


async def test_a_storm_of_declarations_past_the_servers_in_flight_limit_gets_every_number(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """The dev server (like a production one) takes at most 10 updates in flight per workflow. 40
    incidents declared while the sequence's worker is busy (here: not yet polling) are answered
    "busy" or "aborted" (after 10 s, past the client's own retries), ask again with jitter, and each
    still gets its own number once the worker runs, rather than falling back to the old channel name."""
    harness = Harness(dev_env.client, tmp_path)
    activities = activity_env(dev_env.client, harness.queue)
    today = datetime.now(UTC).date()  # a day whose sequence is open
    asks = [asyncio.ensure_future(ask(activities, today, f"storm-{i}")) for i in range(40)]
    await asyncio.sleep(12)  # the first 10 wait in flight; the others are refused and ask again
    assert not any(a.done() for a in asks), [a.exception() for a in asks if a.done()][:1]
    async with harness.worker:
        numbers = await asyncio.gather(*asks)
    assert sorted(numbers) == list(range(1, 41))
