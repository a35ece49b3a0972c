"""The backtest on a recorded drill: real Prometheus readings, real Kubernetes calls, real time at ×30.

The drill was recorded on the dev server (tests/backtest/drill/): its readings carry absolute times
(the deploy's, the clean window's), and its activities took real seconds. Under its own runbook the
backtest reproduces every decision but one at the same instant; under a rollback rule that asks for
an approval, the rollback no longer runs by itself.

The one: the drill runs its timers 30 times faster than an incident, so the dev server's own latency
counts. Its Command phase started 0.56 s after the incident (workflow tasks at real speed; the
time-skipping server takes none), so the rollback, proposed once the migration check answered, came
about a second later than the backtest's. The backtest's rollback mitigates at 9.9 s, before the
war-room check falls due at 10.0 s, and the check is never sent. Before the backtest told apart the
two deploy reads scheduled together by activity id, the rule's read sometimes took the diagnosis's
1.6-s answer, which hid this half the time and failed it the other half.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.client import WorkflowHistory

from warroom.backtest.compare import backtest_incident
from warroom.backtest.recording import record
from warroom.backtest.replay import Backtester
from warroom.client import DATA_CONVERTER
from warroom.config import RunbookConfig
from warroom.enums import Severity

DRILL = Path(__file__).with_name("drill")
PHASES = ["detection", "declare", "command", "resolve", "retrospective"]
COMPRESSED = [("removed", "channel:war_room_check:drill-ic")]
"""What the drill's time compression changes under its own runbook (see the module docstring)."""


def drill_histories() -> list[WorkflowHistory]:
    paths = sorted(
        DRILL.glob("*.json"), key=lambda p: -1 if "--" not in p.stem else PHASES.index(p.stem.rsplit("--", 1)[1])
    )
    return [WorkflowHistory.from_json(p.stem, p.read_text()) for p in paths]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def backtester() -> AsyncIterator[Backtester]:
    async with Backtester.start() as started:
        yield started


@pytest.fixture(scope="module")
def runbook() -> RunbookConfig:
    import asyncio

    recording = asyncio.run(record(drill_histories(), DATA_CONVERTER))
    return RunbookConfig.model_validate(recording.input["runbook"])


async def test_the_drill_is_reproduced_under_its_own_runbook(backtester: Backtester, runbook: RunbookConfig) -> None:
    result = await backtest_incident(backtester, drill_histories(), runbook, DATA_CONVERTER)
    assert result.divergences == []
    assert [(d.change, d.decision.key) for d in result.differences] == COMPRESSED, [
        (d.change, d.decision.key, d.original_offset, d.backtest_offset) for d in result.differences
    ]
    kinds = {d.kind for d in result.original}
    assert {"page", "channel", "status_page", "step", "phase"} <= kinds, kinds
    assert any(d.kind == "step" and d.key.startswith("kube_step_apply:action=rollback") for d in result.backtest)


async def test_a_rollback_that_now_waits_for_an_approval(backtester: Backtester, runbook: RunbookConfig) -> None:
    rule = runbook.rollback.model_copy(
        update={
            "require_approval_for": runbook.rollback.require_approval_for.model_copy(
                update={"severities": list(Severity)}
            )
        }
    )
    result = await backtest_incident(
        backtester, drill_histories(), runbook.model_copy(update={"rollback": rule}), DATA_CONVERTER
    )
    removed = {d.decision.key.split(":", 1)[0] for d in result.differences if d.change == "removed"}
    assert "kube_step_apply" in removed, "the rollback no longer ran on its own"
    asked = {d.decision.key for d in result.differences if d.change == "removed"}
    assert not asked & {"channel:rollback_proposed:", "channel:step_preview:"}, (
        "the IC is still asked, with the preview"
    )
    assert "phase:resolve" in asked, "without the rollback the incident never reached Resolve"
    refused = [d.detail for d in result.divergences if d.kind == "refused_update"]
    assert refused and all("NotMitigated" in r for r in refused), "the drill IC's resolve now comes too early"


async def test_a_longer_veto_window_runs_the_rollback_later(backtester: Backtester, runbook: RunbookConfig) -> None:
    longer = runbook.rollback.veto_window + timedelta(seconds=5)
    rule = runbook.rollback.model_copy(update={"veto_window": longer})
    result = await backtest_incident(
        backtester, drill_histories(), runbook.model_copy(update={"rollback": rule}), DATA_CONVERTER
    )
    moved = [d for d in result.differences if d.change == "moved" and d.decision.key.startswith("kube_step_apply")]
    # The 5 s the window adds, less the second by which the backtest's rollback already runs before
    # the original's under its own runbook (COMPRESSED).
    assert len(moved) == 1 and moved[0].shift is not None and 3.5 <= moved[0].shift <= 5.5, result.differences
