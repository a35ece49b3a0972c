"""Record the escalation histories the pre-lean replay test checks (tests/scale_lean/histories).

Run it with the code BEFORE the "lean-deadlines" patch on the path (the point is a history the old
path wrote), e.g. from a checkout of main at 641f61f:

    git archive 641f61f | tar -x -C /tmp/pre-lean && cd /tmp/pre-lean
    PYTHONPATH=/tmp/pre-lean /path/to/warroom/.venv/bin/python /path/to/warroom/tests/scale_lean/record_pre_lean.py

(from that directory: the current one comes first on the path, before the venv's editable install).

It runs the scenario of test_lean_escalation.py (a declared P2 commanded by alice, escalating after
3 minutes) on the time-skipping server and writes the incident's and its Command phase's histories.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from tests.helpers import incident_input, running_worker, state_of
from warroom.client import DATA_CONVERTER
from warroom.enums import Phase, Severity
from warroom.ids import phase_workflow_id
from warroom.runbook import load_runbook

OUT = Path(__file__).with_name("histories")


async def main() -> None:
    base = load_runbook()
    matrix = dict(base.severity_matrix)
    matrix[Severity.P2] = matrix[Severity.P2].model_copy(update={"escalate_after": timedelta(minutes=3)})
    runbook = base.model_copy(update={"severity_matrix": matrix})
    server = Path(sys.executable).parent / "temporal-test-server"
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(server), data_converter=DATA_CONVERTER
    )
    try:
        async with running_worker(env.client, Path(tempfile.mkdtemp())) as harness:
            inp = incident_input(
                "order-api-pre-lean",
                runbook=runbook,
                declared=True,
                declared_by="alice",
                severity=Severity.P2,
                commander="alice",
            )
            handle = await harness.start(inp)
            await env.sleep(timedelta(minutes=3, seconds=1))
            for _ in range(100):
                if any(e.kind == "escalate" for e in (await state_of(handle)).timeline):
                    break
                await asyncio.sleep(0.1)
            await asyncio.sleep(2)  # the echo back to the phase, too
            OUT.mkdir(exist_ok=True)
            for workflow_id in (handle.id, phase_workflow_id(handle.id, Phase.COMMAND)):
                history = await env.client.get_workflow_handle(workflow_id).fetch_history()
                OUT.joinpath(f"{workflow_id}.json").write_text(history.to_json())
                print(f"wrote {workflow_id}: {len(history.events)} events")
    finally:
        await env.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
