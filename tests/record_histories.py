"""Record the histories the replay test checks: `python -m tests.record_histories`.

Runs one full P1 incident (declare, ack, roles, update, steps proposed from the catalog, previewed,
approved by their digest, denied and cancelled, a manual step, escalation,
mitigation, resolution, PIR) on the time-skipping server and writes the entity's and every
phase's history to tests/histories/. Re-record only on purpose: the point of the committed
files is that new code must still replay what old code wrote.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from activities.oncall import OncallResolver
from tests.helpers import MINUTE, incident_input, running_worker
from warroom.enums import Phase, Role, Severity, Update
from warroom.models import (
    Acknowledge,
    ActionItem,
    AssignRole,
    CancelStep,
    CompleteActionItem,
    CompletePir,
    IncidentState,
    MarkMitigated,
    ProposeStep,
    Resolve,
    StatusUpdate,
    StepDecision,
)
from warroom.oncall.directory import Directory
from warroom.oncall.models import OncallConfig

OUT = Path(__file__).with_name("histories")
NAME = "order-api-patch-bundle"
"""Each recording gets a new name; older ones (e.g. order-api-recorded, before action items were
tracked; order-api-action-items, before the step catalog; order-api-step-catalog, a patch marker per
change, before one marker per run) stay committed so the code keeps replaying what older workers wrote."""


async def _preview_of(handle: Any, step_id: str) -> str:
    """The step's preview digest, once warroom has made it (the approval names it)."""
    for _ in range(200):
        state = await handle.query("state", result_type=IncidentState)
        step = next((s for s in state.steps if s.step_id == step_id), None)
        if step is not None and step.preview_digest:
            return str(step.preview_digest)
        await asyncio.sleep(0.05)
    raise RuntimeError(f"no preview of {step_id}")


ROSTER = {
    "people": [{"name": "dana", "contacts": {"email": "dana@example.com"}}, {"name": "erin"}, {"name": "bob"}],
    "teams": [
        {
            "name": "orders",
            "services": ["order-api"],
            "roles": {
                "on-call-engineer": {"person": "bob"},
                "engineering-team-lead": {"person": "dana"},
                "engineering-manager": {"person": "erin"},
            },
        }
    ],
}
"""The roster of `--oncall` recordings: the escalation pages dana, the team lead, by name."""


def _write(path: Path, history: WorkflowHistory) -> Path:
    path.write_text(history.to_json())
    return path


async def _time_skipping() -> WorkflowEnvironment:
    binary = shutil.which("temporal-test-server", path=str(Path(sys.executable).parent)) or shutil.which(
        "temporal-test-server"
    )
    return await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=binary, data_converter=pydantic_data_converter
    )


async def record(name: str = NAME, oncall: bool = False) -> list[Path]:
    env = await _time_skipping()
    written: list[Path] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            resolver = OncallResolver(Directory.of(OncallConfig.model_validate(ROSTER))) if oncall else None
            async with running_worker(env.client, Path(tmp), oncall=resolver) as harness:
                inp = incident_input(name, declared=True, declared_by="alice", severity=Severity.P1, commander="alice")
                handle = await harness.start(inp)
                await handle.execute_update(Update.ACKNOWLEDGE, Acknowledge(by="alice"))
                await handle.execute_update(
                    Update.ASSIGN_ROLE, AssignRole(role=Role.OPERATIONS_LEAD, person="bob", by="alice")
                )
                await handle.execute_update(
                    Update.ASSIGN_ROLE, AssignRole(role=Role.COMMUNICATIONS_LEAD, person="carol", by="alice")
                )
                await env.sleep(16 * MINUTE)
                await handle.execute_update(
                    Update.POST_UPDATE,
                    StatusUpdate(
                        by="bob",
                        error_rate=8,
                        hypothesis="connection pool leak in v2.14.3",
                        next_action="roll back",
                        owner="bob",
                        eta="14:40",
                        public_status="identified",
                        public_message="A deployment caused errors.",
                    ),
                )
                await handle.execute_update(
                    Update.PROPOSE_STEP,
                    ProposeStep(by="bob", action="custom", target="flush the CDN", evidence={"cdn": "stale"}),
                )
                await handle.execute_update(Update.APPROVE, StepDecision(step_id="s1", by="alice", reason="cheap"))
                await handle.execute_update(
                    Update.PROPOSE_STEP, ProposeStep(by="bob", step="page", params={"who": "dba-on-call"})
                )
                digest = await _preview_of(handle, "s2")
                await handle.execute_update(
                    Update.APPROVE, StepDecision(step_id="s2", by="alice", reason="need the DBA", preview=digest)
                )
                await handle.execute_update(Update.PROPOSE_STEP, ProposeStep(by="bob", step="escalate"))
                await _preview_of(handle, "s3")
                await handle.execute_update(Update.DENY, StepDecision(step_id="s3", by="alice", reason="not yet"))
                await handle.execute_update(
                    Update.PROPOSE_STEP, ProposeStep(by="bob", step="page", params={"who": "network-oncall"})
                )
                await _preview_of(handle, "s4")
                await handle.execute_update(
                    Update.CANCEL_STEP, CancelStep(step_id="s4", by="bob", reason="the network is fine")
                )
                await env.sleep(15 * MINUTE)  # past the 30-minute escalation
                await handle.execute_update(
                    Update.MARK_MITIGATED, MarkMitigated(by="alice", action="rolled back to v2.14.2")
                )
                # No metrics source and no alert source here: the incident asks the IC, who confirms.
                await env.sleep(MINUTE)
                await handle.execute_update(
                    Update.POST_UPDATE, StatusUpdate(by="alice", confirm=["errors_at_baseline"])
                )
                await env.sleep(5 * MINUTE)
                await handle.execute_update(
                    Update.POST_UPDATE,
                    StatusUpdate(by="carol", confirm=["no_customer_reports", "synthetic_monitors_green"]),
                )
                await env.sleep(11 * MINUTE)  # the monitoring period
                await handle.execute_update(
                    Update.RESOLVE, Resolve(by="alice", summary="bad deploy rolled back", pir_owner="bob")
                )
                await env.sleep(timedelta(hours=1))
                state = await handle.query("state", result_type=IncidentState)
                item = ActionItem(
                    title="canary analysis for order-api deploys", owner="bob", due=state.pir.due + timedelta(days=14)
                )
                await handle.execute_update(Update.COMPLETE_PIR, CompletePir(by="bob", action_items=[item]))
                await env.sleep(timedelta(days=2))
                await handle.execute_update(Update.COMPLETE_ACTION_ITEM, CompleteActionItem(by="bob", item=1))
                await handle.result()
                OUT.mkdir(exist_ok=True)
                ids = [handle.id] + [
                    f"{handle.id}--{p.value}" for p in Phase if p not in (Phase.DETECTION, Phase.CLOSED)
                ]
                for workflow_id in ids:
                    history = await env.client.get_workflow_handle(workflow_id).fetch_history()
                    written.append(_write(OUT / f"{workflow_id}.json", history))
    finally:
        await env.shutdown()
    return written


CHAIN = "order-api-continued"
CHAIN_OUT = OUT / "chain"
"""A P2 incident that continues as new in Command (history limit 100): each run of the incident and
each phase, so the replay test covers a later run started from `Continued` and a phase told to
report its end to whichever run is current (workflows._continuation)."""


async def record_chain(name: str = CHAIN) -> list[Path]:
    """Record the continued chain into tests/histories/chain/ (its runs as `<id>.run<N>.json`), open."""
    from warroom.audit import incident_histories

    env = await _time_skipping()
    written: list[Path] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            async with running_worker(env.client, Path(tmp)) as harness:
                inp = incident_input(
                    name, declared=True, declared_by="alice", severity=Severity.P2, commander="alice", history_limit=100
                )
                handle = await harness.start(inp)
                await handle.execute_update(Update.ACKNOWLEDGE, Acknowledge(by="alice"))
                first = (await handle.describe()).run_id
                for n in range(80):  # status updates until the run continues as new, then two more
                    await handle.execute_update(
                        Update.POST_UPDATE,
                        StatusUpdate(by="alice", error_rate=8 - n % 5, hypothesis="pool leak", next_action="watch"),
                    )
                    if n % 10 == 9:
                        await env.sleep(MINUTE)
                    if (await handle.describe()).run_id != first:
                        break
                else:
                    raise RuntimeError("the incident never continued as new")
                for _ in range(2):
                    await handle.execute_update(Update.POST_UPDATE, StatusUpdate(by="alice", error_rate=3))
                await handle.execute_update(Update.MARK_MITIGATED, MarkMitigated(by="alice", action="pool resized"))
                # The Command phase the first run started reports its end to the second, which starts
                # Resolve. Recorded here, still open: after this switch the time-skipping server no longer
                # skips time (`env.sleep` times out, nothing pending); tests/scale_history covers timers
                # after a switch on the dev server.
                resolve = env.client.get_workflow_handle(f"{handle.id}--{Phase.RESOLVE.value}")
                for _ in range(100):
                    try:
                        if len((await resolve.fetch_history()).events) >= 10:
                            break
                    except RPCError:
                        pass
                    await asyncio.sleep(0.1)
                else:
                    raise RuntimeError("the second run never started Resolve")
                await asyncio.sleep(1)  # the phase's first messages
                histories = await incident_histories(env.client, handle.id)
                CHAIN_OUT.mkdir(parents=True, exist_ok=True)
                runs = [h for h in histories if "--" not in h.workflow_id]
                if len(runs) < 2:
                    raise RuntimeError(f"{len(runs)} run: no chain to record")
                for i, history in enumerate(histories):
                    stem = history.workflow_id if "--" in history.workflow_id else f"{history.workflow_id}.run{i + 1}"
                    written.append(_write(CHAIN_OUT / f"{stem}.json", history))
    finally:
        await env.shutdown()
    return written


if __name__ == "__main__":
    # python -m tests.record_histories [NAME [--oncall]]: --oncall pages through a roster (issue #14)
    # python -m tests.record_histories --chain [NAME]: an incident that continues as new
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if "--chain" in sys.argv:
        recorded = asyncio.run(record_chain(args[0] if args else CHAIN))
    else:
        recorded = asyncio.run(record(args[0] if args else NAME, "--oncall" in sys.argv))
    for path in recorded:
        print(path)
