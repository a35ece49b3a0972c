"""A 60-second network cut between the worker and Temporal, starting the moment the rollback's PATCH
reaches the cluster: the activity finishes while its worker cannot report it, Temporal times the
attempt out and retries it once the link is back. The incident resumes and is mitigated, the retry
finds the rollback already done (one PATCH, not two), and no workflow task fails (no determinism error).
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowHandle
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from tests.helpers import failed_workflow_tasks, start_incident, terminate_all
from tests.netcut import LoopbackProxy
from tests.rig import GOOD, live_rig, p1_on_order_api, rig_runbook, timeline_has, wait_for
from tests.worker_process import WorkerProcess

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.system("prometheus"),
]
CUT_SECONDS = 60.0


async def test_a_60_second_cut_mid_rollback_resumes_with_one_patch(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    runbook = rig_runbook()
    queue = f"netcut-{time.time_ns()}"
    proxy = await LoopbackProxy(dev_env.client.service_client.config.target_host).start()
    handles: list[WorkflowHandle[Any, Any]] = []
    async with live_rig(tmp_path / "rig") as rig:
        await rig.deploy_bad()
        worker = WorkerProcess(rig.worker_env(proxy.address, runbook, tmp_path, queue), tmp_path / "worker.log")
        try:
            await worker.start()
            handle = await start_incident(
                dev_env.client, queue, p1_on_order_api(runbook)
            )  # the test's own link is not cut
            handles.append(handle)
            rig.cluster.stall(3, method="PATCH", path=r"/deployments/order-api$")  # done while the link is down
            await wait_for(rig.rollback_patches, lambda n: n == 1, 90)
            proxy.cut()
            cut_at = time.monotonic()
            with pytest.raises(RPCError):  # the cut is real: only the worker can answer a query, and it is unreachable
                await handle.query("state", rpc_timeout=timedelta(seconds=5))
            await asyncio.sleep(CUT_SECONDS - (time.monotonic() - cut_at))
            proxy.restore()

            state = await timeline_has(handle, "mitigated", 150)
            resumed = next(e for e in state.timeline if e.kind == "rolled_back")
            print(
                f"\n[reliability] worker↔Temporal cut {CUT_SECONDS:.0f}s mid-rollback: mitigated once the link "
                f"came back; rollback PATCHes: {rig.rollback_patches()}; "
                f"failed workflow tasks: {len(await failed_workflow_tasks(dev_env.client, handle.id))}; "
                f"retry said: {resumed.message!r}"
            )
            assert rig.rollback_patches() == 1 and rig.image() == GOOD
            assert await failed_workflow_tasks(dev_env.client, handle.id) == []
            assert "nondeterminis" not in worker.log_text().lower()
            assert worker.proc is not None and worker.proc.poll() is None, "the worker rode out the cut"
        finally:
            worker.stop()
            await proxy.close()
            await terminate_all(handles)
