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
import yaml
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from tests.helpers import incident_input, start_incident, terminate_all
from tests.rig import GOOD, PROMETHEUS, Rig, live_rig, rig_runbook, timeline_has, wait_for
from tests.worker_process import WorkerProcess
from warroom.config import RunbookConfig
from warroom.enums import Severity
from warroom.models import DeploymentTarget, IncidentInput, IncidentState

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(PROMETHEUS is None, reason="needs Debian's `prometheus` (.ci/run installs it)")]
PHASES = ("detection", "declare", "command", "resolve", "retrospective")


def worker_env(dev_env: WorkflowEnvironment, rig: Rig, runbook: RunbookConfig, root: Path, queue: str) -> dict[str, str]:
    runbook_file = root / "runbook.yaml"
    runbook_file.write_text(yaml.safe_dump(runbook.model_dump(mode="json"), sort_keys=False))
    return {"WARROOM_TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host, "WARROOM_TASK_QUEUE": queue,
            "WARROOM_DATA_DIR": str(root / "data"), "WARROOM_PROMETHEUS_URL": rig.prometheus_url,
            "WARROOM_KUBECONFIG": str(rig.kubeconfig), "WARROOM_RUNBOOK": str(runbook_file),
            "ANSIBLE_LOG_PATH": str(root / "ansible.log")}


def p1(runbook: RunbookConfig) -> IncidentInput:
    return incident_input(runbook=runbook, declared=True, declared_by="alice", severity=Severity.P1, commander="alice",
                          target=DeploymentTarget(namespace="production", deployment="order-api"))


async def failed_workflow_tasks(client: Client, incident_workflow_id: str) -> list[str]:
    """Every WorkflowTaskFailed event in the incident's and its phases' histories (a determinism error is one)."""
    failures = []
    for workflow_id in [incident_workflow_id, *(f"{incident_workflow_id}--{p}" for p in PHASES)]:
        try:
            history = await client.get_workflow_handle(workflow_id).fetch_history()
        except Exception:
            continue  # a phase that has not run
        failures += [f"{workflow_id}: {e.workflow_task_failed_event_attributes.cause}" for e in history.events
                     if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED]
    return failures


def playbook_runs(log: Path) -> dict[str, bool]:
    """ansible-playbook processes that started the host-diagnostics play, by pid: did each finish?"""
    text = log.read_text() if log.exists() else ""
    started = re.findall(r"p=(\d+) .*PLAY \[Host diagnostics\]", text)
    finished = set(re.findall(r"p=(\d+) .*PLAY RECAP", text))
    return {pid: pid in finished for pid in started}


async def test_a_worker_killed_during_a_playbook_and_during_the_rollback_loses_nothing(
        dev_env: WorkflowEnvironment, tmp_path: Path) -> None:
    # The veto window outlasts the playbook's retry (15 s heartbeat timeout + a run), so the two
    # kills hit two different activities.
    runbook = rig_runbook(veto_window=timedelta(seconds=40))
    queue = f"crash-{time.time_ns()}"
    async with live_rig(tmp_path / "rig") as rig:
        await rig.deploy_bad()
        worker = WorkerProcess(worker_env(dev_env, rig, runbook, tmp_path, queue), tmp_path / "worker.log")
        handles: list[WorkflowHandle[Any, Any]] = []
        try:
            await worker.start()
            handle = await start_incident(dev_env.client, queue, p1(runbook))
            handles.append(handle)
            started = time.monotonic()

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
            took = time.monotonic() - started
            runs = playbook_runs(ansible_log)
            rollback = next(s for s in state.steps if s.action == "rollback")
            rolled = next(e for e in state.timeline if e.kind == "rolled_back")
            print(f"\n[reliability] worker kill -9 twice (mid-playbook, mid-rollback PATCH): mitigated {took:.0f}s "
                  f"after the alert with no human action; rollback PATCHes at the API: {rig.rollback_patches()}; "
                  f"host-diagnostics runs: {len(runs)} ({len(runs) - 1} re-execution); "
                  f"retry said: {rolled.message!r}")
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
