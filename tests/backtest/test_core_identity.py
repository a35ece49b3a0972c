"""The identity check, the backtest's correctness proof: every incident committed under
tests/histories, re-run under its OWN runbook, decides the same things at the same instants.

Incidents recorded before a revised rule (`workflow.patched`) run the current code, which takes
the new branch: their differences must be exactly the ones those revisions explain, pinned below
by the patches the original predates and the divergences they cause. Every difference comes at or
after the first divergence: nothing moves before the recording stops being followed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio
from temporalio.exceptions import ApplicationError

from tests.backtest.test_core_recording import HISTORIES, history_set, incident_ids
from warroom.backtest.answers import Answers
from warroom.backtest.compare import backtest_incident, backtest_many
from warroom.backtest.recording import record
from warroom.backtest.replay import Backtester
from warroom.cli.backtest import histories_in
from warroom.client import DATA_CONVERTER
from warroom.config import RunbookConfig

REVISED: dict[str, tuple[set[str], list[tuple[str, str]]]] = {
    # Before the IC was its own role, alice's acknowledgement made her IC: now nobody commands, so
    # carol's role assignment and bob's update are refused; and before the day's channel sequence
    # the channel number was never asked for.
    "incident-order-api-ack-took-command": (
        {"ack-is-not-command", "channel-sequence"},
        [
            ("not_recorded", "incident: next_channel_number"),
            ("refused_update", "assign_role by carol"),
            ("refused_update", "post_update by bob"),
        ],
    ),
    # Before the step catalog, a custom step was proposed without a catalog entry (now refused, so
    # its approval and the next denial name steps that do not exist); before the metrics clean
    # window, mitigation was not verified by a reading (now asked for, never recorded), so the
    # resolution, the PIR and its action item are refused.
    "incident-order-api-action-items": (
        {"step-catalog", "metrics-clean-window", "channel-sequence"},
        [
            ("not_recorded", "incident: next_channel_number"),
            ("refused_update", "propose_step by bob"),
            ("refused_update", "approve by alice"),
            ("refused_update", "deny by alice"),
            ("not_recorded", "resolve: check_clean_window"),
            ("refused_update", "resolve by alice"),
            ("refused_update", "complete_pir by bob"),
            ("refused_update", "complete_action_item by bob"),
        ],
    ),
    "incident-order-api-recorded": (
        {"step-catalog", "metrics-clean-window", "channel-sequence"},
        [
            ("not_recorded", "incident: next_channel_number"),
            ("refused_update", "propose_step by bob"),
            ("refused_update", "approve by alice"),
            ("refused_update", "deny by alice"),
            ("not_recorded", "resolve: check_clean_window"),
            ("refused_update", "resolve by alice"),
            ("refused_update", "complete_pir by bob"),
        ],
    ),
}


@pytest_asyncio.fixture(scope="module")
async def backtester() -> AsyncIterator[Backtester]:
    async with Backtester.start() as started:
        yield started


def test_every_committed_incident_is_checked() -> None:
    assert len(incident_ids()) >= 5
    assert set(REVISED) < set(incident_ids()), "an incident the current code reproduces must remain"


@pytest.mark.parametrize("workflow_id", incident_ids())
async def test_own_runbook_reproduces_every_decision(backtester: Backtester, workflow_id: str) -> None:
    histories = history_set(workflow_id)
    recording = await record(histories, DATA_CONVERTER)
    runbook = RunbookConfig.model_validate(recording.input["runbook"])
    result = await backtest_incident(backtester, histories, runbook, DATA_CONVERTER)
    assert result.original, "an incident that decided nothing proves nothing"
    if workflow_id not in REVISED:
        assert result.divergences == []
        assert result.differences == [], [(d.change, d.decision.key, d.shift) for d in result.differences]
        assert len(result.backtest) == len(result.original)
        return
    predates, expected = REVISED[workflow_id]
    assert predates.isdisjoint(recording.patches), "the original took the revised branch after all"
    assert [(d.kind, d.detail.split(" (")[0].split(":")[0]) for d in result.divergences] == [
        (kind, head.split(":")[0]) for kind, head in expected
    ]
    for divergence, (_, head) in zip(result.divergences, expected, strict=True):
        assert divergence.detail.startswith(head)
    assert result.differences
    first = result.divergences[0].offset
    assert all(
        (d.original_offset if d.original_offset is not None else d.backtest_offset or 0.0) >= first - 1.0
        for d in result.differences
    )


async def test_two_servers_at_once_reproduce_every_decision_in_the_order_given() -> None:
    """`warroom backtest` runs one server per core: the results come back in the order asked, each as
    identical as on one server."""
    reproduced = [wid for wid in incident_ids() if wid not in REVISED]
    jobs = []
    for workflow_id in reproduced:
        histories = history_set(workflow_id)
        recording = await record(histories, DATA_CONVERTER)
        jobs.append((histories, RunbookConfig.model_validate(recording.input["runbook"])))
    finished: list[tuple[int, str]] = []
    seconds: dict[int, float] = {}
    results = await backtest_many(
        jobs, DATA_CONVERTER, servers=2, progress=lambda done, _, i: finished.append((done, i)), seconds=seconds
    )
    assert [f"incident-{r.incident_id}" for r in results] == reproduced
    assert all(r.differences == [] and r.divergences == [] for r in results), [
        (r.incident_id, r.differences, r.divergences) for r in results if r.differences or r.divergences
    ]
    assert [done for done, _ in finished] == list(range(1, len(reproduced) + 1))
    assert sorted(seconds) == list(range(len(reproduced)))


async def test_a_continued_incident_is_recorded_across_its_runs_and_reproduced(backtester: Backtester) -> None:
    """The committed chain (tests/histories/chain): what reached either run is one recording, the
    signals between a run, its phase and the next run are not inputs from outside, a run that
    continued as new did not end the incident, and its own runbook reproduces every decision."""
    histories = histories_in(HISTORIES / "chain")["order-api-continued"]
    assert [h.workflow_id for h in histories][:2] == ["incident-order-api-continued"] * 2
    recording = await record(histories, DATA_CONVERTER)
    names = [i.name for i in recording.inputs]
    assert "parent_continues" not in names and "phase_finished" not in names
    assert names[-1] == "mark_mitigated", "the second run's updates are in the recording"
    assert recording.ended_offset is None, "still open in its second run"
    runbook = RunbookConfig.model_validate(recording.input["runbook"])
    result = await backtest_incident(backtester, histories, runbook, DATA_CONVERTER)
    assert any(d.workflow == "resolve" for d in result.original), "the second run's phase decided things"
    assert result.divergences == []
    assert result.differences == [], [(d.change, d.decision.key, d.shift) for d in result.differences]
    assert len(result.backtest) == len(result.original)


async def test_a_continued_run_s_probe_the_recording_never_made_is_answered_running() -> None:
    """A backtest runs longer than the original, or at other moments: a re-attached run's probe of
    its phase (`phase_status`) finds the phase the backtest itself runs, not a divergence. Any other
    activity the recording lacks still is one."""
    histories = histories_in(HISTORIES / "chain")["order-api-continued"]
    answers = Answers(await record(histories, DATA_CONVERTER))
    answers.started_at = datetime.now(UTC)
    request = {"workflow_id": "incident-order-api-continued--resolve"}
    at = answers.started_at + timedelta(hours=1)
    assert answers.answer("phase_status", "incident-order-api-continued", request, at) == {
        "running": True,
        "status": "RUNNING",
    }
    assert answers.divergences == []
    with pytest.raises(ApplicationError, match="never recorded"):
        answers.answer("kube_rollback", "incident-order-api-continued--command", {"service": "order-api"}, at)
    assert [d.kind for d in answers.divergences] == ["not_recorded"]
