"""kill -9 of the worker, twice in one incident — during the host-diagnostics playbook and during the
rollback's PATCH — and a restart each time: the incident still reaches "mitigated" with no human
action, exactly one rollback PATCH reaches the API, the playbook runs again at most once, and no
workflow task ever fails (no determinism error).

The worker is the production one (`python worker.py`), configured only by WARROOM_* variables, on
the session's dev server; the cluster is the API emulator, metrics come from a real Prometheus.
"""

from __future__ import annotations

import re
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from tests.helpers import failed_workflow_tasks, start_incident, terminate_all
from tests.rig import GOOD, live_rig, p1_on_order_api, rig_runbook, timeline_has, wait_for
from tests.worker_process import WorkerProcess
from warroom.models import IncidentState

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.system("prometheus"),
]


def playbook_runs(log: Path) -> dict[str, bool]:
    """ansible-playbook processes that started the host-diagnostics play, by pid: did each finish?"""
    text = log.read_text() if log.exists() else ""
    started = re.findall(r"p=(\d+) .*PLAY \[Host diagnostics\]", text)
    finished = set(re.findall(r"p=(\d+) .*PLAY RECAP", text))
    return {pid: pid in finished for pid in started}


async def test_a_worker_killed_during_a_playbook_and_during_the_rollback_loses_nothing(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    # The veto window outlasts the playbook's retry (15 s heartbeat timeout + a run), so the two
    # kills hit two different activities.
    runbook = rig_runbook(veto_window=timedelta(seconds=40))
    queue = f"crash-{time.time_ns()}"
    async with live_rig(tmp_path / "rig") as rig:
        await rig.deploy_bad()
        worker = WorkerProcess(
            rig.worker_env(dev_env.client.service_client.config.target_host, runbook, tmp_path, queue),
            tmp_path / "worker.log",
        )
        handles: list[WorkflowHandle[Any, Any]] = []
        try:
            await worker.start()
            handle = await start_incident(dev_env.client, queue, p1_on_order_api(runbook))
            handles.append(handle)

            # 1. Mid-playbook: the host-diagnostics task is sampling when the worker dies.
            ansible_log = tmp_path / "ansible.log"
            await wait_for(lambda: ansible_log.exists() and "TASK [Check CPU" in ansible_log.read_text(), bool, 60)
            worker.kill9()
            await worker.start()
            state = await timeline_has(handle, "diagnosis", 90)
            diagnosis = next(e for e in state.timeline if e.kind == "diagnosis")
            assert "host checks unavailable" not in diagnosis.data["evidence"], diagnosis.data

            # 2. Mid-rollback: the PATCH is applied, its reply held back, and the worker dies waiting for it.
            rig.cluster.stall(20, method="PATCH", path=r"/deployments/order-api$")
            await wait_for(rig.rollback_patches, lambda n: n == 1, 90)
            worker.kill9()
            assert rig.image() == GOOD, "the first attempt's write went through"
            await worker.start()

            state: IncidentState = await timeline_has(handle, "mitigated", 150)
            runs = playbook_runs(ansible_log)
            rollback = next(s for s in state.steps if s.action == "rollback")
            rolled = next(e for e in state.timeline if e.kind == "rolled_back")
            print(
                f"\n[reliability] worker kill -9 twice (mid-playbook, mid-rollback PATCH): mitigated with no "
                f"human action; rollback PATCHes at the API: {rig.rollback_patches()}; "
                f"host-diagnostics runs: {len(runs)} ({len(runs) - 1} re-execution); "
                f"retry said: {rolled.message!r}"
            )
            assert rig.rollback_patches() == 1
            assert 1 <= len(runs) <= 2, runs
            assert (rollback.status, rollback.decided_by) == ("done", "warroom")
            assert state.mitigated_at is not None and rig.image() == GOOD
            assert await failed_workflow_tasks(dev_env.client, handle.id) == []
            assert "nondeterminis" not in worker.log_text().lower()
            assert worker.starts == 3
        finally:
            worker.stop()
            await terminate_all(handles)
