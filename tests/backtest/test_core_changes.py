"""Backtests under changed runbooks: what moves, what disappears, and where the new runbook leaves
the recording (an input never recorded, a recorded update refused).

The incident is the committed P1 `order-api-step-catalog`: escalated to the team lead at 30 min,
mitigation applied at 31 min and verified by the clean window at 36 min, resolved at 48 min.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from tests.backtest.test_core_recording import history_set
from warroom.backtest.compare import backtest_incident, differences
from warroom.backtest.models import Decision, Difference, IncidentBacktest
from warroom.backtest.recording import record
from warroom.backtest.replay import Backtester
from warroom.client import DATA_CONVERTER
from warroom.config import RunbookConfig

INCIDENT = "incident-order-api-step-catalog"
ESCALATION = "escalation:escalation:engineering-team-lead"
MINUTE = 60.0


@pytest_asyncio.fixture(scope="module")
async def backtester() -> AsyncIterator[Backtester]:
    async with Backtester.start() as started:
        yield started


async def own_runbook() -> RunbookConfig:
    recording = await record(history_set(INCIDENT), DATA_CONVERTER)
    return RunbookConfig.model_validate(recording.input["runbook"])


def changed(runbook: RunbookConfig, path: str, value: Any) -> RunbookConfig:
    data = runbook.model_dump(mode="json")
    *parents, leaf = path.split(".")
    node = data
    for name in parents:
        node = node[name]
    node[leaf] = value
    return RunbookConfig.model_validate(data)


async def backtest(backtester: Backtester, path: str, value: Any) -> IncidentBacktest:
    runbook = changed(await own_runbook(), path, value)
    return await backtest_incident(backtester, history_set(INCIDENT), runbook, DATA_CONVERTER)


def escalations(result: IncidentBacktest) -> list[Difference]:
    return [d for d in result.differences if d.decision.key == ESCALATION]


@pytest.mark.parametrize(
    ("after", "shift"),
    [
        ("PT20M", -10 * MINUTE),  # earlier: 20 minutes without mitigation
        ("PT35M", 5 * MINUTE),  # later, still before the mitigation is verified (36 min): from Resolve
    ],
)
async def test_an_escalation_threshold_moves_the_escalation(backtester: Backtester, after: str, shift: float) -> None:
    result = await backtest(backtester, "severity_matrix.P1.escalate_after", after)
    [moved] = escalations(result)
    assert moved.change == "moved"
    assert moved.original_offset is not None and 1800 <= moved.original_offset < 1801
    assert moved.shift == pytest.approx(shift, abs=1.0)
    assert result.divergences == []


async def test_past_the_verified_mitigation_there_is_no_escalation(backtester: Backtester) -> None:
    """The other side of the boundary: 37 minutes, and the clean window verified mitigation at 36."""
    result = await backtest(backtester, "severity_matrix.P1.escalate_after", "PT37M")
    [removed] = escalations(result)
    assert removed.change == "removed" and removed.backtest_offset is None
    assert ESCALATION not in {d.key for d in result.backtest}
    assert result.divergences == []


async def test_a_reading_never_recorded_is_a_divergence_not_a_guess(backtester: Backtester) -> None:
    """A 10-minute clean window asks Prometheus a question the original never asked."""
    result = await backtest(backtester, "resolve.clean_window", "PT10M")
    [divergence] = [d for d in result.divergences if d.kind == "not_recorded"]
    assert divergence.detail.startswith("resolve: check_clean_window was never recorded")
    assert "window=PT10M" in divergence.detail
    assert 1860 < divergence.offset < 1862  # when the mitigation was applied


async def test_an_update_the_new_runbook_refuses_is_reported(backtester: Backtester) -> None:
    result = await backtest(backtester, "steps.disabled", ["page"])
    refused = [d for d in result.divergences if d.kind == "refused_update"]
    assert refused[0].detail.startswith("propose_step by bob: ") and "no step 'page'" in refused[0].detail
    assert refused[0].offset == pytest.approx(960.253, abs=0.01)
    removed = {d.decision.key for d in result.differences if d.change == "removed"}
    assert "escalation:escalation:dba-on-call" in removed  # the approved page never ran


def test_differences_match_in_order_within_the_tolerance() -> None:
    def at(offset: float, key: str = ESCALATION, workflow: str = "command") -> Decision:
        return Decision(offset=offset, workflow=workflow, kind=key.split(":")[0], key=key)

    original = [at(100.0), at(200.0), at(300.0, "page:oncall_page:x")]
    backtest = [at(100.4), at(260.0, workflow="resolve"), at(400.0, "status_page:status_initial:status-page")]
    found = differences("x", original, backtest)
    assert [(d.change, d.decision.key, d.shift) for d in found] == [
        ("moved", ESCALATION, 60.0),
        ("removed", "page:oncall_page:x", None),
        ("added", "status_page:status_initial:status-page", None),
    ]
    assert differences("x", original, original) == []
    assert [d.change for d in differences("x", original, backtest, tolerance=100.0)] == ["removed", "added"]
