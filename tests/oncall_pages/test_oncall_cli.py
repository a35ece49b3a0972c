"""`warroom oncall ...` run the way people run it: real subprocesses, the dev server, a worker
hosting the Roster workflow on a fresh task queue, and a WARROOM_ONCALL file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest_asyncio
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from tests.cli.test_cli import REPO, Cli
from tests.helpers import running_worker
from warroom.contracts.oncall import roster_id

ROSTER = """
default_team: orders
people:
  - {name: alice, display_name: Alice Smith, timezone: Europe/Berlin, contacts: {email: alice@example.com}}
  - {name: bob, timezone: America/New_York, contacts: {email: bob@example.com, slack_id: U0BOB}}
  - {name: carol, contacts: {email: carol@example.com}}
schedules:
  - name: orders-primary
    layers:
      - {name: always-alice, rotation: daily, start: 2026-01-01, members: [alice]}
  - name: orders-office-hours
    layers:
      - name: weekdays
        rotation: weekly
        start: 2026-01-05
        timezone: Europe/Berlin
        members: [bob]
        restrictions: [{days: [mon, tue, wed, thu, fri], start: "09:00", end: "17:00"}]
teams:
  - name: orders
    services: [order-api]
    roles:
      on-call-engineer: {schedule: orders-primary}
      engineering-team-lead: {person: carol}
      engineering-manager: {person: carol}
      incident-commander: {person: carol}
      product-manager: {person: carol}
      vp-engineering: {person: carol}
"""


@pytest_asyncio.fixture(loop_scope="session")
async def oncall_cli(dev_env: WorkflowEnvironment, tmp_path: Path) -> AsyncIterator[Cli]:
    roster = tmp_path / "oncall.yaml"
    roster.write_text(ROSTER, encoding="utf-8")
    async with running_worker(dev_env.client, tmp_path) as harness:
        cli = Cli(
            dev_env.client,
            {
                **os.environ,
                "WARROOM_TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
                "WARROOM_TASK_QUEUE": harness.queue,
                "WARROOM_ONCALL": str(roster),
                "WARROOM_DATA_DIR": str(tmp_path),
                "COLUMNS": "200",
                "PYTHONIOENCODING": "utf-8",
            },
            harness.handles,
        )
        yield cli
        try:  # a test that made no override never started the roster
            await dev_env.client.get_workflow_handle(roster_id(harness.queue)).terminate("test over")
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise


async def on_call(cli: Cli) -> dict[str, dict]:
    ran = await cli("oncall", "--team", "orders", "--json")
    assert ran.code == 0, ran.text
    return {r["role"]: r for r in json.loads(ran.out)}


async def test_who_is_on_call_then_an_override_takes_the_shift_and_its_removal_gives_it_back(oncall_cli: Cli) -> None:
    cli = oncall_cli
    before = await on_call(cli)
    assert before["on-call-engineer"]["person"] == "alice"
    assert before["on-call-engineer"]["layer"] == "always-alice"
    assert before["engineering-team-lead"]["person"] == "carol"

    made = await cli(
        "oncall", "override", "--team", "orders", "--person", "bob", "--from", "now", "--to", "+2h",
        "--reason", "swap with alice", "--as", "carol",
    )  # fmt: skip
    assert made.code == 0, made.text
    assert made.out.startswith("ovr-1: bob holds on-call-engineer of orders")
    during = await on_call(cli)
    assert during["on-call-engineer"]["person"] == "bob"
    assert during["on-call-engineer"]["override_id"] == "ovr-1"

    listed = await cli("oncall", "overrides", "--json")
    assert listed.code == 0, listed.text
    [override] = json.loads(listed.out)
    assert (override["id"], override["created_by"], override["reason"]) == ("ovr-1", "carol", "swap with alice")

    removed = await cli("oncall", "remove-override", "ovr-1", "--reason", "alice is back", "--as", "alice")
    assert removed.code == 0, removed.text
    assert (await on_call(cli))["on-call-engineer"]["person"] == "alice"


async def test_an_override_for_an_unknown_person_or_ending_before_it_starts_is_refused(oncall_cli: Cli) -> None:
    cli = oncall_cli
    unknown = await cli(
        "oncall", "override", "--team", "orders", "--person", "mallory", "--from", "now", "--to", "+1h", "--as", "carol"
    )
    assert unknown.code == 1, unknown.text
    assert "mallory" in unknown.err and "Traceback" not in unknown.text
    start = datetime.now(UTC) + timedelta(hours=3)
    backwards = await cli(
        "oncall", "override", "--team", "orders", "--person", "bob",
        "--from", start.isoformat(), "--to", (start - timedelta(hours=1)).isoformat(), "--as", "carol",
    )  # fmt: skip
    assert backwards.code == 1, backwards.text
    assert "before" in backwards.err or "after" in backwards.err, backwards.err
    listed = await cli("oncall", "overrides", "--json")
    assert json.loads(listed.out) == []


async def test_check_lists_each_gap_and_exits_non_zero(oncall_cli: Cli, tmp_path: Path) -> None:
    cli = oncall_cli
    covered = await cli("oncall", "check", "--days", "14")
    assert covered.code == 0, covered.text
    assert "No gaps" in covered.out

    office_hours_only = tmp_path / "office-hours.yaml"
    office_hours_only.write_text(
        ROSTER.replace(
            "on-call-engineer: {schedule: orders-primary}", "on-call-engineer: {schedule: orders-office-hours}"
        ),
        encoding="utf-8",
    )
    monday = "2026-12-07T00:00:00+00:00"
    gaps = await cli(
        "oncall", "check", "--days", "7", "--start", monday, "--json", WARROOM_ONCALL=str(office_hours_only)
    )
    assert gaps.code == 1, gaps.text
    found = json.loads(gaps.out)
    assert {g["role"] for g in found} == {"on-call-engineer"}
    first = found[0]
    assert (first["start"], first["end"]) == ("2026-12-07T00:00:00Z", "2026-12-07T08:00:00Z")  # 09:00 in Berlin
    assert first["paged_instead"] == "carol"  # the team lead, next on the chain
    assert len(found) == 6  # before Monday 09:00, each night to Friday, and the weekend


async def test_without_an_oncall_file_the_commands_say_what_to_set(oncall_cli: Cli) -> None:
    ran = await oncall_cli("oncall", WARROOM_ONCALL=None)
    assert ran.code == 2
    assert "WARROOM_ONCALL" in ran.err


HOSTILE = """
people:
  - {name: mallory, timezone: Mars/Olympus_Mons, contacts: {email: "m@example.com\\nBcc: all@example.com"}}
teams: []
"""


def test_a_worker_with_a_hostile_oncall_file_stops_before_paging_anyone(tmp_path: Path) -> None:
    """Checked at start, like the runbook: the worker never connects, so nothing can be paged."""
    hostile = tmp_path / "oncall.yaml"
    hostile.write_text(HOSTILE, encoding="utf-8")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("WARROOM_")}
    ran = subprocess.run(
        [sys.executable, "-m", "warroom.cli", "worker"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env={**clean, "WARROOM_TEMPORAL_ADDRESS": "127.0.0.1:1", "WARROOM_ONCALL": str(hostile)},
    )
    assert ran.returncode == 2, ran.stderr[-800:]
    assert "Traceback" not in ran.stderr
    assert str(hostile) in ran.stderr
    assert "unknown time zone 'Mars/Olympus_Mons'" in ran.stderr
    assert "not an e-mail address" in ran.stderr
    assert "\nBcc" not in ran.stderr  # the value is quoted (its newline escaped), never a line of its own
