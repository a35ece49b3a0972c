"""The `warroom` console script, run the way people on call run it.

Each command is a real subprocess against the dev server; this process runs the worker on a
fresh task queue, so what a command prints is what the incident workflow decided.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest_asyncio
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from tests.helpers import assert_eventually, running_worker
from warroom.enums import Phase, Role, Severity, Update
from warroom.ids import incident_workflow_id
from warroom.incidents import Incidents
from warroom.models import IncidentState, StepDecision

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Ran:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


@dataclass
class Cli:
    """`warroom ...` with the environment an on-call laptop would have (WARROOM_USER=alice)."""

    client: Client
    env: dict[str, str]
    started: list[WorkflowHandle[Any, Any]]

    async def __call__(self, *args: str, **env: str | None) -> Ran:
        merged = {**self.env, **env}
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "warroom.cli",
            *args,
            cwd=REPO,
            env={k: v for k, v in merged.items() if v is not None},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
        assert proc.returncode is not None
        return Ran(proc.returncode, out.decode(), err.decode())

    async def declare(self, service: str, severity: str = "P1", *extra: str) -> str:
        ran = await self(
            "declare", "--service", service, "--severity", severity, "--summary", "8% of requests 503", "--json", *extra
        )
        assert ran.code == 0, ran.text
        return self.track(json.loads(ran.out)["incident_id"])

    def track(self, incident_id: str) -> str:
        """Terminated when the test ends, like the incidents the harness starts itself."""
        self.started.append(self.client.get_workflow_handle(incident_workflow_id(incident_id)))
        return incident_id

    async def commanding(self, incident_id: str) -> None:
        """Wait for the Declare phase to finish before acting.

        An update that lands while the Declare child completes fails the whole incident
        ("Unable to signal external workflow because it was not found", workflows/incident.py
        `_phase`); reported to the workflow owner, the CLI cannot prevent it.
        """

        async def in_command() -> None:
            assert (await Incidents(self.client).state(incident_id)).phase == Phase.COMMAND

        await assert_eventually(in_command)


@pytest_asyncio.fixture(loop_scope="session")
async def cli(dev_env: WorkflowEnvironment, tmp_path: Path) -> AsyncIterator[Cli]:
    async with running_worker(dev_env.client, tmp_path) as harness:
        yield Cli(
            dev_env.client,
            {
                **os.environ,
                "WARROOM_TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
                "WARROOM_TASK_QUEUE": harness.queue,
                "WARROOM_USER": "alice",
                "WARROOM_DATA_DIR": str(tmp_path),
                "COLUMNS": "200",
                "PYTHONIOENCODING": "utf-8",
            },
            harness.handles,
        )


def service() -> str:
    return f"checkout-{uuid.uuid4().hex[:6]}"


async def test_declare_ack_assign_then_status_shows_the_command_structure(cli: Cli) -> None:
    declared = await cli(
        "declare", "--service", (svc := service()), "--severity", "P1", "--summary", "8% of requests 503"
    )
    assert declared.code == 0, declared.text
    incident_id = cli.track(re.search(r"incident (\S+) ", declared.out).group(1))  # type: ignore[union-attr]
    assert (
        f"warroom ack {incident_id} --take-command" in declared.out
        and "/namespaces/default/workflows/incident-" in declared.out
    )
    await cli.commanding(incident_id)

    paged = await cli("ack", incident_id, WARROOM_USER="carol")
    assert paged.code == 0 and "acknowledged by carol; no Incident Commander yet" in paged.out, paged.text
    ack = await cli("ack", incident_id, "--take-command")
    assert ack.code == 0 and "acknowledged by alice; takes command as Incident Commander" in ack.out, ack.text
    refused = await cli("ack", incident_id, "--take-command", WARROOM_USER="carol")
    assert refused.code == 1 and "alice is the Incident Commander: a handover is theirs to make" in refused.text
    assign = await cli("assign", f"incident-{incident_id}", "ops", "bob")
    assert assign.code == 0 and "bob is operations_lead" in assign.out, assign.text

    shown = await cli("status", incident_id)
    assert shown.code == 0, shown.text
    assert re.search(rf"{incident_id}\s+P1\s+phase command\s+{svc}", shown.out), shown.out
    assert re.search(r"incident_commander\W+alice", shown.out) and re.search(r"operations_lead\W+bob", shown.out), (
        shown.out
    )
    as_json = await cli("status", incident_id, "--json")
    state = IncidentState.model_validate_json(as_json.out)
    assert (state.severity, state.phase) == (Severity.P1, Phase.COMMAND)
    assert state.roles == {Role.INCIDENT_COMMANDER: "alice", Role.OPERATIONS_LEAD: "bob"}


async def test_list_finds_incidents_by_their_search_attributes(cli: Cli) -> None:
    incident_id = await cli.declare(svc := service(), "P1")

    async def listed() -> None:
        ran = await cli("list", "--severity", "P1", "--service", svc, "--open", "--json")
        assert ran.code == 0, ran.text
        assert [row["incident_id"] for row in json.loads(ran.out)] == [incident_id]

    await assert_eventually(listed, timeout=10, interval=0.5)

    other_severity = await cli("list", "--severity", "P3", "--service", svc, "--json")
    assert json.loads(other_severity.out) == []
    table = await cli("list", "--severity", "p1", "--service", svc)
    assert re.search(rf"{incident_id}\s+P1\s+{svc}\s+\w+\s+none\s+", table.out), table.out


async def test_only_the_ic_approves_and_a_rejected_approval_leaves_no_trace(cli: Cli) -> None:
    incident_id = await cli.declare(service(), "P1", "--commander", "alice")
    await cli.commanding(incident_id)
    assert (await cli("assign", incident_id, "ops", "bob")).code == 0
    proposed = await cli("propose", incident_id, "page", "who=dba-oncall", "--evidence", "pg=slow", "--as", "bob")
    assert proposed.code == 0, proposed.text
    step = re.search(r"step id: (\S+);", proposed.out).group(1)  # type: ignore[union-attr]
    assert f"warroom preview {incident_id} {step}" in proposed.out
    handle = cli.client.get_workflow_handle(incident_workflow_id(incident_id))

    async def previewed() -> str:
        shown = await cli("preview", incident_id, step)
        digest = re.search(r"preview (\w{12}): page dba-oncall", shown.out)
        assert shown.code == 0 and digest, shown.text
        assert f"--preview {digest.group(1)}" in shown.out
        return digest.group(1)

    digest = await assert_eventually(previewed, timeout=10, interval=0.3)

    by_ops = await cli("approve", incident_id, step, "--preview", digest, "--reason", "I wrote it", "--as", "bob")
    assert by_ops.code == 1, by_ops.text
    assert "rejected (NotIncidentCommander): only the Incident Commander (alice) may approve" in by_ops.err
    unseen = await cli("approve", incident_id, step, "--reason", "go", "--as", "alice")
    assert (
        unseen.code == 1
        and f"rejected (PreviewRequired): name the preview you approve: --preview {digest}" in unseen.err
    )
    assert await accepted_approvals(cli.client, handle) == []

    by_ic = await cli(
        "--as", "alice", "approve", incident_id, step, "--preview", digest, "--reason", "the DBA is needed"
    )
    assert by_ic.code == 0 and f"step {step}" in by_ic.out, by_ic.text
    assert [(d.by, d.preview) for d in await accepted_approvals(cli.client, handle)] == [("alice", digest)]
    state = await Incidents(cli.client).state(incident_id)
    [entry] = [e for e in state.timeline if e.kind == "step_approved"]
    assert (entry.actor, entry.data["reason"]) == ("alice", "the DBA is needed")


async def test_the_catalog_names_the_bad_parameter_before_anything_is_sent(cli: Cli) -> None:
    listed = await cli("steps")
    assert listed.code == 0 and re.search(r"scale\s+kubernetes\s+namespace:dns_label=incident", listed.out), listed.text
    for args, problem in (
        (["scale", "replicas=six"], "parameter 'replicas': must be a whole number"),
        (["scale", "replicas=6;reboot"], "parameter 'replicas': must be a whole number"),
        (["restart", "namespace=../kube-system"], "parameter 'namespace': must be a DNS label"),
        (["restart", "replica=3"], "parameter 'replica': restart takes no such parameter"),
        (["nuke"], "no step 'nuke' in the catalog"),
        (["scale", "replicas"], "'replicas' is not key=value"),
    ):
        ran = await cli("propose", "no-such-incident", *args, "--as", "bob")
        assert ran.code == 2 and problem in ran.err, (args, ran.text)


async def test_a_proposer_cancels_a_step_nobody_decided(cli: Cli) -> None:
    incident_id = await cli.declare(service(), "P2", "--commander", "alice")
    await cli.commanding(incident_id)
    assert (await cli("assign", incident_id, "ops", "bob")).code == 0
    proposed = await cli("propose", incident_id, "escalate", "--as", "bob")
    step = re.search(r"step id: (\S+);", proposed.out).group(1)  # type: ignore[union-attr]
    cancelled = await cli("cancel-step", incident_id, step, "--reason", "the lead is here already", "--as", "bob")
    assert cancelled.code == 0 and f"step {step} cancelled by bob" in cancelled.out, cancelled.text
    again = await cli("cancel-step", incident_id, step, "--reason", "twice", "--as", "bob")
    assert again.code == 1 and "already cancelled" in again.err


async def accepted_approvals(client: Client, handle: WorkflowHandle[Any, Any]) -> list[StepDecision]:
    """The approve requests the workflow accepted into history (a validator rejection writes none)."""
    history = await handle.fetch_history()
    decisions = []
    for event in history.events:
        if event.event_type != EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
            continue
        request = event.workflow_execution_update_accepted_event_attributes.accepted_request
        if request.input.name == Update.APPROVE:
            decisions += await client.data_converter.decode(request.input.args.payloads, [StepDecision])
    return decisions


async def test_bad_input_is_one_readable_line_and_an_exit_code(cli: Cli) -> None:
    wizard, p7, unknown, nobody, dead = await asyncio.gather(
        cli("assign", "checkout-20250101-000000", "wizard", "bob"),
        cli("declare", "--service", "checkout", "--severity", "P7", "--summary", "x"),
        cli("status", "incident-does-not-exist"),
        cli("ack", "checkout-20250101-000000", WARROOM_USER=None),
        cli("status", "checkout-20250101-000000", WARROOM_TEMPORAL_ADDRESS="127.0.0.1:1"),
    )

    assert wizard.code == 2 and "'wizard' is not one of ic, ops, comms, pir" in wizard.text, wizard.text
    assert p7.code == 2 and "'P7' is not one of P1, P2, P3" in p7.text, p7.text
    assert unknown.code == 2 and "no incident incident-does-not-exist" in unknown.err, unknown.text
    assert nobody.code == 2 and "who are you? pass --as NAME or set WARROOM_USER" in nobody.err, nobody.text
    assert dead.code == 3 and "cannot reach Temporal at 127.0.0.1:1" in dead.err, dead.text
    for ran in (wizard, p7, unknown, nobody, dead):
        assert "Traceback" not in ran.text


async def test_declare_started_records_when_impact_began_and_status_measures_detection(cli: Cli) -> None:
    declared = await cli(
        "declare", "--service", service(), "--severity", "P2", "--summary", "slow checkout", "--started", "20m"
    )
    assert declared.code == 0, declared.text
    incident_id = cli.track(re.search(r"incident (\S+) ", declared.out).group(1))  # type: ignore[union-attr]
    state = IncidentState.model_validate_json((await cli("status", incident_id, "--json")).out)
    assert state.impact_started_at is not None
    assert abs(state.opened_at - state.impact_started_at - timedelta(minutes=20)) < timedelta(seconds=30)
    shown = await cli("status", incident_id)
    # 20 minutes from impact to the incident: past the 5-minute detection target, and status says so.
    assert re.search(r"detection\W+impact began → incident opened\W+20m\d*s?\W+5m\W+no", shown.out), shown.out
    assert re.search(r"resolution\W+incident opened → resolved\W+\d+s so far", shown.out), shown.out

    future = await cli("declare", "--service", service(), "--severity", "P2", "--summary", "x", "--started", "40d")
    assert future.code == 2 and "--started" in future.err, future.text
