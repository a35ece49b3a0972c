"""`warroom backtest`: which incidents it selects, how it refuses (exit 2 with what to fix), how it
reports and exits for CI, run as people run it (a subprocess) on committed histories and against
the dev server. The runs themselves need the backtest core (warroom.backtest.compare, replay)."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from temporalio.testing import WorkflowEnvironment

from tests.helpers import incident_input
from warroom.backtest.models import BacktestReport, Decision, Difference, IncidentBacktest
from warroom.backtest.report import summarize
from warroom.cli.backtest import BacktestFormat, finish, from_folder, histories_in, since_query
from warroom.errors import BadInput, IncidentNotFound
from warroom.incidents import Incidents
from warroom.runbook import DEFAULT_RUNBOOK

REPO = Path(__file__).resolve().parents[2]
HISTORIES = REPO / "tests" / "histories"
CLOSED = [
    "order-api-recorded",
    "order-api-action-items",
    "order-api-step-catalog",
    "order-api-oncall-pages",
    "order-api-patch-bundle",
]
"""The committed incidents that closed, oldest first; order-api-ack-took-command is still open."""


@dataclass
class Ran:
    code: int
    out: str
    err: str


def clean_env(**env: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("WARROOM_")}
    # Nothing listens on port 1: a command that should not need Temporal proves it does not.
    return {**base, "WARROOM_TEMPORAL_ADDRESS": "127.0.0.1:1", "COLUMNS": "200", "PYTHONIOENCODING": "utf-8", **env}


def warroom(*args: str, **env: str) -> Ran:
    ran = subprocess.run(
        [sys.executable, "-m", "warroom.cli", "backtest", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env=clean_env(**env),
    )
    return Ran(ran.returncode, ran.stdout, ran.stderr)


def runbook_with(tmp_path: Path, change: dict[str, dict[str, object]]) -> Path:
    """The shipped runbook with some fields changed, as a team edits its copy."""
    data = yaml.safe_load(DEFAULT_RUNBOOK.read_text())
    for section, fields in change.items():
        target = data
        for part in section.split("."):
            target = target[part]
        target.update(fields)
    path = tmp_path / "new-runbook.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


# --- Refusals: exit 2 and what to fix --------------------------------------------------------


def test_a_runbook_that_fails_validation_exits_2_naming_the_field(tmp_path: Path) -> None:
    bad = runbook_with(tmp_path, {"severity_matrix.P2": {"escalate_after": "soon"}})
    ran = warroom("--runbook", str(bad), "--histories", str(HISTORIES))
    assert ran.code == 2, ran
    assert f"invalid runbook {bad}:" in ran.err and "severity_matrix.P2.escalate_after" in ran.err, ran.err
    assert "Traceback" not in ran.err and ran.out == ""


def test_a_runbook_that_is_not_there_exits_2(tmp_path: Path) -> None:
    ran = warroom("--runbook", str(tmp_path / "none.yaml"), "--histories", str(HISTORIES))
    assert ran.code == 2 and f"cannot read runbook {tmp_path / 'none.yaml'}" in ran.err, ran


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--incident", "order-api-nope"], "no incident order-api-nope in "),
        (["--incident", "incident-order-api-ack-took-command"], "incident order-api-ack-took-command is still open"),
        (["--since", "1s"], "no closed incidents started in the last 1s in "),
        (["--since", "soon"], "--since 'soon': write how far back"),
        (["--since", "30d", "--incident", "order-api-recorded"], "--since and --incident: choose one"),
        (["--query", "IncidentSeverity = 'P1'"], "--query needs Temporal's visibility store"),
        (["--fail-on", "sooner"], "'sooner' is not one of any, fewer-pages, later-escalation, rollback-changed"),
    ],
    ids=["unknown", "open", "none-selected", "bad-since", "two-selections", "query-on-files", "bad-fail-on"],
)
def test_a_selection_that_cannot_be_used_exits_2(args: list[str], says: str) -> None:
    ran = warroom("--runbook", str(DEFAULT_RUNBOOK), "--histories", str(HISTORIES), *args)
    assert ran.code == 2, ran
    assert says in " ".join(ran.err.split()), ran.err
    assert "Traceback" not in ran.err


def test_without_temporal_it_says_where_it_tried() -> None:
    ran = warroom("--runbook", str(DEFAULT_RUNBOOK), "--since", "7d")
    assert ran.code == 3 and "cannot reach Temporal at 127.0.0.1:1" in ran.err, ran


def test_help_teaches_the_selections_formats_and_fail_on_conditions() -> None:
    ran = warroom("--help")
    assert ran.code == 0, ran
    for text in ("--since", "--incident", "--query", "--histories", "--format", "later-escalation", "fewer-pages"):
        assert text in ran.out
    assert "Example: warroom backtest --runbook new-runbook.yaml --since 30d" in ran.out


# --- Selecting from files --------------------------------------------------------------------


def test_committed_histories_are_grouped_by_incident_in_the_order_its_phases_started() -> None:
    grouped = histories_in(HISTORIES)
    assert sorted(grouped) == sorted([*CLOSED, "order-api-ack-took-command"])
    recorded = [h.workflow_id for h in grouped["order-api-recorded"]]
    assert recorded == [
        "incident-order-api-recorded",
        *(f"incident-order-api-recorded--{p}" for p in ("declare", "command", "resolve", "retrospective")),
    ]


def test_a_continued_incident_s_runs_are_grouped_first_to_latest_and_its_last_run_decides_open() -> None:
    chain = histories_in(HISTORIES / "chain")
    assert list(chain) == ["order-api-continued"]
    ids = [h.workflow_id for h in chain["order-api-continued"]]
    assert ids == ["incident-order-api-continued"] * 2 + [
        f"incident-order-api-continued--{p}" for p in ("declare", "command", "resolve")
    ]
    first, second = chain["order-api-continued"][:2]
    assert second.events[0].workflow_execution_started_event_attributes.continued_execution_run_id
    assert first.events[-1].HasField("workflow_execution_continued_as_new_event_attributes")
    now = datetime(2026, 12, 8, tzinfo=UTC)
    assert from_folder(HISTORIES / "chain", [], None, now) == ([], ["order-api-continued"])
    with pytest.raises(BadInput, match="still open"):
        from_folder(HISTORIES / "chain", ["order-api-continued"], None, now)


def test_a_folder_selects_its_closed_incidents_oldest_first_and_names_the_open_ones() -> None:
    now = datetime(2026, 12, 6, 20, 0, tzinfo=UTC)
    selected, skipped = from_folder(HISTORIES, [], None, now)
    assert [s.incident_id for s in selected] == CLOSED and skipped == ["order-api-ack-took-command"]
    recent, _ = from_folder(HISTORIES, [], "2d", now)  # the two recorded on 2026-11-28 are older
    assert [s.incident_id for s in recent] == CLOSED[2:]
    named, _ = from_folder(HISTORIES, ["incident-order-api-recorded", "order-api-recorded"], None, now)
    assert [s.incident_id for s in named] == ["order-api-recorded"]
    with pytest.raises(IncidentNotFound):
        from_folder(HISTORIES, ["order-api-nope"], None, now)


def test_a_folder_missing_a_phase_the_incident_started_is_refused(tmp_path: Path) -> None:
    for path in HISTORIES.glob("incident-order-api-recorded*.json"):
        shutil.copy(path, tmp_path)
    (tmp_path / "incident-order-api-recorded--resolve.json").unlink()
    with pytest.raises(BadInput, match="incident-order-api-recorded--resolve.json is missing"):
        histories_in(tmp_path)


def test_since_selects_closed_incidents_by_their_start_time() -> None:
    now = datetime(2026, 12, 6, 20, 0, tzinfo=UTC)
    assert since_query("30d", now) == (
        "WorkflowType = 'Incident' AND ExecutionStatus != 'Running' AND ExecutionStatus != 'ContinuedAsNew' "
        "AND StartTime > '2026-11-06T20:00:00Z'"
    )


# --- Reporting and exit codes ----------------------------------------------------------------

ESCALATION = Decision(
    offset=1800, workflow="command", kind="escalation", key="escalation:escalation:engineering-team-lead"
)


def report_with(*differences: Difference) -> BacktestReport:
    incidents = [IncidentBacktest(incident_id="a", severity="P1", differences=list(differences))]
    return BacktestReport(runbook="new.yaml", incidents=incidents, summary=summarize(incidents))


def test_a_fail_on_condition_that_holds_exits_1_and_says_which(capsys: pytest.CaptureFixture[str]) -> None:
    later = Difference(incident_id="a", change="moved", decision=ESCALATION, original_offset=1800, backtest_offset=3600)
    assert finish(report_with(later), BacktestFormat.JSON, ["fewer-pages", "later-escalation"]) == 1
    printed = capsys.readouterr()
    assert BacktestReport.model_validate_json(printed.out).incidents[0].differences == [later]
    assert "--fail-on later-escalation: a" in printed.err and "fewer-pages" not in printed.err


def test_no_condition_holding_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    earlier = Difference(
        incident_id="a", change="moved", decision=ESCALATION, original_offset=1800, backtest_offset=600
    )
    assert finish(report_with(earlier), BacktestFormat.MD, ["later-escalation", "fewer-pages"]) == 0
    printed = capsys.readouterr()
    assert "P1 escalation to engineering-team-lead: 1 of 1 incidents, 20 min earlier (median)" in printed.out
    assert printed.err == ""


# --- Runs (the backtest core) ----------------------------------------------------------------


def test_committed_histories_under_their_own_runbook_report_as_json() -> None:
    ran = warroom("--runbook", str(DEFAULT_RUNBOOK), "--histories", str(HISTORIES), "--format", "json")
    assert ran.code == 0, ran.err[-2000:]
    report = BacktestReport.model_validate_json(ran.out)
    assert sorted(i.incident_id for i in report.incidents) == sorted(CLOSED)
    assert report.summary and report.runbook == str(DEFAULT_RUNBOOK)
    # Progress names each incident as it finishes, whichever of the servers ran it.
    finished = re.findall(rf"backtested incident (\d) of {len(CLOSED)}: (\S+)", ran.err)
    assert sorted(number for number, _ in finished) == [str(n) for n in range(1, len(CLOSED) + 1)]
    assert sorted(incident for _, incident in finished) == sorted(CLOSED)
    assert "skipped, still open: order-api-ack-took-command" in ran.err


def test_a_changed_audience_fails_the_check_with_the_incidents_it_changed(tmp_path: Path) -> None:
    new = runbook_with(tmp_path, {"severity_matrix.P1": {"notify_at_start": ["engineering-manager"]}})
    ran = warroom(
        "--runbook", str(new), "--histories", str(HISTORIES), "--incident", "order-api-recorded", "--fail-on", "any"
    )
    assert ran.code == 1, ran.err[-2000:]
    assert "--fail-on any: order-api-recorded" in ran.err
    assert "order-api-recorded (P1):" in ran.out and "summary" in ran.out


# --- Selecting from Temporal (the dev server) ------------------------------------------------


async def cli(env: WorkflowEnvironment, *args: str) -> Ran:
    target = env.client.service_client.config.target_host
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "warroom.cli",
        "backtest",
        "--runbook",
        str(DEFAULT_RUNBOOK),
        *args,
        cwd=REPO,
        env=clean_env(WARROOM_TEMPORAL_ADDRESS=target),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert proc.returncode is not None
    return Ran(proc.returncode, out.decode(), err.decode())


async def test_on_temporal_an_unknown_or_open_incident_and_an_empty_selection_exit_2(
    dev_env: WorkflowEnvironment,
) -> None:
    unknown = await cli(dev_env, "--incident", "order-api-never-was")
    assert unknown.code == 2 and "no incident order-api-never-was in namespace default" in unknown.err, unknown

    queue = f"no-worker-{uuid.uuid4().hex[:8]}"  # nobody polls it: the incident stays open, deciding nothing
    inp = incident_input()
    workflow_id = await Incidents(dev_env.client).start(inp, queue)
    handle = dev_env.client.get_workflow_handle(workflow_id)
    try:
        still_open = await cli(dev_env, "--incident", inp.incident_id)
        assert still_open.code == 2 and f"incident {inp.incident_id} is still open" in still_open.err, still_open
    finally:
        await handle.terminate(reason="test finished")

    service = f"svc-{uuid.uuid4().hex[:8]}"
    none = await cli(dev_env, "--query", f"IncidentService = '{service}'")
    assert none.code == 2, none
    assert f"no closed incidents matching \"IncidentService = '{service}'\" in namespace default" in none.err

    wrong = await cli(dev_env, "--query", "NoSuchAttribute = 'x'")
    assert wrong.code == 2 and wrong.err.startswith("--query \"NoSuchAttribute = 'x'\": "), wrong


async def test_on_temporal_a_closed_incident_is_read_and_backtested(dev_env: WorkflowEnvironment) -> None:
    inp = incident_input()
    workflow_id = await Incidents(dev_env.client).start(inp, f"no-worker-{uuid.uuid4().hex[:8]}")
    await dev_env.client.get_workflow_handle(workflow_id).terminate(reason="closed before any worker ran it")
    ran = await cli(dev_env, "--incident", inp.incident_id, "--format", "json")
    assert ran.code == 0, ran.err[-2000:]
    assert [i.incident_id for i in BacktestReport.model_validate_json(ran.out).incidents] == [inp.incident_id]
