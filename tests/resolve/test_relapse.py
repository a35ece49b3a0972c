"""Relapse after mitigation, end to end: a real Prometheus measures the simulated order-api.

The rollback brings errors back to the pre-deploy baseline and the incident is mitigated; then the
bad version ships again. The relapse watch reads the error ratio, finds it back above the baseline,
pages the IC and re-opens mitigation; the monitoring period never reports a clean bill.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from tests.helpers import state_of
from tests.rig import BAD, GOOD, Rig, live_rig, rig_runbook, timeline_has, wait_for
from tests.rig import p1_on_order_api as p1
from warroom.config import RunbookConfig

pytestmark = [pytest.mark.e2e, pytest.mark.system("prometheus")]


def watching_runbook() -> RunbookConfig:
    """The rig's runbook, with a monitoring period and relapse reads short enough to watch live."""
    base = rig_runbook()
    resolve = base.resolve.model_copy(
        update={
            "monitoring_period": timedelta(seconds=60),
            "watch_every": timedelta(seconds=2),
            "watch_every_after_monitoring": timedelta(seconds=2),
        }
    )
    return base.model_copy(update={"resolve": resolve})


@pytest_asyncio.fixture(loop_scope="session")
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    async with live_rig(tmp_path / "rig") as rig:
        yield rig


async def test_errors_back_above_the_pre_deploy_baseline_reopen_mitigation(
    dev_env: WorkflowEnvironment, rig: Rig, tmp_path: Path
) -> None:
    runbook = watching_runbook()
    await rig.deploy_bad()
    async with rig.in_process_worker(dev_env.client, tmp_path, runbook) as harness:
        handle = await harness.start(p1(runbook))
        state = await timeline_has(handle, "mitigated", 120)
        assert rig.image() == GOOD
        assert state.checks.baseline == "pre-deploy baseline 0.0% (+0.1%)"

        rig.deploy(BAD, "deploy v2.14.3 again")  # the same bad version ships again
        state = await timeline_has(handle, "mitigation_reopened", 90)
        [entry] = [e for e in state.timeline if e.kind == "mitigation_reopened"]
        assert entry.message.startswith("relapse after mitigation: error ratio back above pre-deploy baseline 0.0%")
        assert (state.mitigated_at, state.mitigation_applied_at, state.checks.relapses) == (None, None, 1)
        pages = [(channel, audience) for channel, template, audience, _ in harness.sink.sent if template == "relapse"]
        assert pages == [("page", ["alice"]), ("incident", ["alice"])]
        assert harness.sink.count("monitoring_complete") == 0, "no clean bill for a mitigation that relapsed"
        await wait_for(lambda: state_of(handle), lambda s: s.phase == "resolve" and s.mitigated_at is None, 5)
