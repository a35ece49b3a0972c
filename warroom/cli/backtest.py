"""`warroom backtest`: re-run closed incidents under a changed runbook and report what would differ.

The command selects incidents (Temporal's visibility store, or committed history files), reads
their histories, hands each to the backtest core (`warroom.backtest.compare.backtest_incident`
on one time-skipping server) and prints the report. Exit codes are for CI: 2 for a runbook that
does not validate, an unknown or still-open incident or an empty selection; 1 when a --fail-on
condition holds; else 0.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.converter import DataConverter

from warroom.backtest.models import BacktestReport, IncidentBacktest
from warroom.backtest.recording import CLOSING_EVENTS
from warroom.backtest.report import (
    FAIL_ON,
    FAIL_ON_HELP,
    failed_conditions,
    render_table,
    summarize,
    to_json,
    to_markdown,
)
from warroom.cli.app import app, err, out, run, settings_of
from warroom.config import RunbookConfig
from warroom.enums import parse_duration
from warroom.errors import BadInput, IncidentNotFound, TemporalRefused
from warroom.ids import WORKFLOW_PREFIX, incident_id_of, workflow_id_for
from warroom.incidents import CLOSED_STATUS
from warroom.runbook import load_runbook
from warroom.settings import Settings

DEFAULT_SINCE = "30d"
DEFAULT_LIMIT = 100

CLOSED = f"WorkflowType = 'Incident' AND {CLOSED_STATUS}"
"""What a backtest re-runs: incidents that have finished (an open one is `warroom runbook preview`'s)."""

RUN_FILE = re.compile(r"^(?P<workflow_id>.+)\.run(?P<number>\d+)$")
"""A run of an incident that continued as new, saved as `incident-<id>.run<N>.json` (tests/histories/chain)."""


def run_of(stem: str) -> tuple[str, int]:
    """A saved history's workflow id, and its run's place in a chain (0 when the file holds the only run)."""
    match = RUN_FILE.match(stem)
    return (match["workflow_id"], int(match["number"])) if match else (stem, 0)


class BacktestFormat(StrEnum):
    TABLE = "table"
    JSON = "json"
    MD = "md"


def _condition(value: Any) -> Any:
    if isinstance(value, str) and value.strip().lower() in FAIL_ON:
        return value.strip().lower()
    if isinstance(value, str):
        raise typer.BadParameter(f"{value!r} is not one of {', '.join(sorted(FAIL_ON))}")
    return value


@dataclass
class Selected:
    """One incident to re-run: its id and its histories (the incident's, then each phase's)."""

    incident_id: str
    histories: list[WorkflowHistory]


# --- Selecting from Temporal -----------------------------------------------------------------


def since_query(since: str, now: datetime) -> str:
    """Closed incidents started within `since` ('30d', '12h', '1h30m')."""
    span = _span(since)
    start = (now - span).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"{CLOSED} AND StartTime > '{start}'"


def _span(since: str) -> timedelta:
    try:
        span = parse_duration(since)
    except ValueError:
        span = None
    if not isinstance(span, timedelta) or span <= timedelta(0):
        raise BadInput(f"--since {since!r}: write how far back, e.g. 30d, 12h or 1h30m")
    return span


async def _from_temporal(
    settings: Settings, incidents: list[str], query: str | None, since: str, limit: int
) -> tuple[list[Selected], DataConverter]:
    from warroom.audit import incident_histories
    from warroom.incidents import Incidents

    client = await Incidents.connect(settings, identity="warroom-backtest")
    workflow_ids: list[str] = []
    if incidents:
        for incident in incidents:
            async with client.about(incident) as workflow_id:
                described = await client.client.get_workflow_handle(workflow_id).describe()
            if described.status is None or described.status.name == "RUNNING":
                raise BadInput(_still_open(incident))
            workflow_ids.append(workflow_id)
    else:
        text = f"{CLOSED} AND ({query})" if query else since_query(since, datetime.now(UTC))
        try:
            rows = await client.list(text, limit)
        except TemporalRefused as exc:
            if query is None:
                raise
            raise BadInput(f"--query {query!r}: {exc}") from None
        workflow_ids = [row.workflow_id for row in reversed(rows)]  # oldest first
    selected = [
        Selected(incident_id_of(wid), await incident_histories(client.client, wid))
        for wid in dict.fromkeys(workflow_ids)
    ]
    return selected, client.client.data_converter


def _still_open(incident: str) -> str:
    return (
        f"incident {incident} is still open: a backtest re-runs closed incidents "
        "(`warroom runbook preview NEW.yaml` shows an open one's deadlines under a new runbook)"
    )


# --- Selecting from files --------------------------------------------------------------------


def histories_in(folder: Path) -> dict[str, list[WorkflowHistory]]:
    """Committed history files grouped by incident, as tests/histories holds them: `incident-<id>.json`
    (or, for one that continued as new, each run as `incident-<id>.run<N>.json`) and one
    `incident-<id>--<phase>.json` per phase: its runs first to latest, then its phases as they started."""
    if not folder.is_dir():
        raise BadInput(f"--histories {folder}: not a folder")
    files = {path.stem: path for path in sorted(folder.glob("*.json"))}
    runs: dict[str, list[tuple[int, Path]]] = {}
    for stem, path in files.items():
        workflow_id, number = run_of(stem)
        if "--" not in workflow_id and workflow_id.startswith(WORKFLOW_PREFIX):
            runs.setdefault(workflow_id, []).append((number, path))
    grouped: dict[str, list[WorkflowHistory]] = {}
    for workflow_id, found in runs.items():
        chain = [_read_history(workflow_id, path) for _, path in sorted(found)]
        histories = list(chain)
        for child in dict.fromkeys(c for one_run in chain for c in _children(one_run)):
            if child not in files:
                raise BadInput(f"--histories {folder}: {child}.json is missing (a phase {workflow_id} started)")
            histories.append(_read_history(child, files[child]))
        grouped[incident_id_of(workflow_id)] = histories
    return grouped


def latest_run(histories: list[WorkflowHistory]) -> WorkflowHistory:
    """The incident's latest run among its histories (runs first, then phases)."""
    return [h for h in histories if "--" not in h.workflow_id][-1]


def _read_history(workflow_id: str, path: Path) -> WorkflowHistory:
    try:
        return WorkflowHistory.from_json(workflow_id, path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BadInput(f"--histories: {path} is not a workflow history: {exc}") from None


def _children(parent: WorkflowHistory) -> list[str]:
    return [
        e.child_workflow_execution_started_event_attributes.workflow_execution.workflow_id
        for e in parent.events
        if e.event_type == EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED
    ]


def is_closed(history: WorkflowHistory) -> bool:
    return bool(history.events) and history.events[-1].event_type in CLOSING_EVENTS


def started(history: WorkflowHistory) -> datetime:
    return history.events[0].event_time.ToDatetime(tzinfo=UTC)


def from_folder(
    folder: Path, incidents: list[str], since: str | None, now: datetime
) -> tuple[list[Selected], list[str]]:
    """The closed incidents of a folder (those named, else those started within `since`, else all),
    oldest first; and the open ones it passed over."""
    grouped = histories_in(folder)
    if incidents:
        selected = []
        for incident in dict.fromkeys(incident_id_of(workflow_id_for(i)) for i in incidents):
            if incident not in grouped:
                raise IncidentNotFound(f"no incident {incident} in {folder} (it has {', '.join(grouped) or 'none'})")
            if not is_closed(latest_run(grouped[incident])):
                raise BadInput(_still_open(incident))
            selected.append(Selected(incident, grouped[incident]))
        return selected, []
    cutoff = now - _span(since) if since else None
    chosen = {i: h for i, h in grouped.items() if cutoff is None or started(h[0]) > cutoff}
    closed = sorted((i for i, h in chosen.items() if is_closed(latest_run(h))), key=lambda i: started(chosen[i][0]))
    return [Selected(i, chosen[i]) for i in closed], sorted(set(chosen) - set(closed))


def file_converter(settings: Settings) -> DataConverter:
    """The converter the worker wrote with: warroom's, decrypting with WARROOM_CODEC_KEYS when set."""
    from warroom.client import data_converter

    return data_converter(settings)


# --- Running and reporting -------------------------------------------------------------------

Progress = Callable[[int, int, str], None]


async def backtest_all(
    selected: list[Selected], runbook: RunbookConfig, converter: DataConverter, progress: Progress, servers: int = 1
) -> list[IncidentBacktest]:
    """The incidents on `servers` time-skipping servers at once (the backtest core: warroom.backtest.replay);
    `progress(done, total, incident)` as each one finishes."""
    from warroom.backtest.compare import backtest_many

    return await backtest_many([(i.histories, runbook) for i in selected], converter, servers, progress)


def finish(report: BacktestReport, format_: BacktestFormat, fail_on: list[str]) -> int:
    """Print the report; the exit code is 1 when a --fail-on condition holds (each printed), else 0."""
    if format_ == BacktestFormat.JSON:
        print(to_json(report))
    elif format_ == BacktestFormat.MD:
        print(to_markdown(report), end="")
    else:
        render_table(report, out)
    held = failed_conditions(report, fail_on)
    for line in held:
        err.print(f"--fail-on {escape(line)}", style="red")
    return 1 if held else 0


def _progress_lines(number: int, total: int, incident: str) -> None:
    err.print(f"backtested incident {number} of {total}: {escape(incident)}", style="dim")


async def _with_progress(
    selected: list[Selected], runbook: RunbookConfig, converter: DataConverter, servers: int = 1
) -> list[IncidentBacktest]:
    if not err.is_terminal:
        return await backtest_all(selected, runbook, converter, _progress_lines, servers)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("backtested"), MofNCompleteColumn(), BarColumn(), TextColumn("{task.description}"))
    with Progress(*columns, TimeElapsedColumn(), console=err, transient=True) as bar:
        task = bar.add_task("", total=len(selected))

        def advance(number: int, total: int, incident: str) -> None:
            bar.update(task, completed=number, description=escape(incident))

        results = await backtest_all(selected, runbook, converter, advance, servers)
        bar.update(task, completed=len(selected))
    return results


def quiet_temporal() -> None:
    """Keep stdout for the report alone (`--format json` is read by scripts) and stderr for progress.

    The Temporal core logs to stdout unless told otherwise: its logs go to Python logging (stderr),
    errors only. A recorded failure the backtest answers an activity with is expected, and the
    report lists what matters of it, so the SDK's "Completing activity as failed" warnings go too.
    """
    from temporalio.runtime import LogForwardingConfig, LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter

    forwarded = LoggingConfig(
        filter=TelemetryFilter(core_level="ERROR", other_level="ERROR"),
        forwarding=LogForwardingConfig(logger=logging.getLogger("temporalio.core")),
    )
    Runtime.set_default(Runtime(telemetry=TelemetryConfig(logging=forwarded)), error_if_already_set=False)
    logging.getLogger("temporalio.activity").setLevel(logging.ERROR)


# --- The command -----------------------------------------------------------------------------

RunbookArg = Annotated[
    Path,
    typer.Option(
        "--runbook", help="the changed runbook YAML to re-run the incidents under", show_default=False, dir_okay=False
    ),
]
FailOnOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--fail-on",
        parser=_condition,
        metavar="COND",
        help="exit 1 when this holds (repeat for more): "
        + "; ".join(f"{name}: {text}" for name, text in sorted(FAIL_ON_HELP.items())),
        show_default=False,
    ),
]


@app.command("backtest")
def backtest_command(
    ctx: typer.Context,
    runbook: RunbookArg,
    since: Annotated[
        str | None,
        typer.Option(
            metavar="DURATION",
            help=f"closed incidents started within this long, e.g. 30d or 12h (default {DEFAULT_SINCE}; "
            "with --histories, all)",
            show_default=False,
        ),
    ] = None,
    incident: Annotated[
        list[str] | None,
        typer.Option("--incident", metavar="ID", help="this closed incident (repeat for more)", show_default=False),
    ] = None,
    query: Annotated[
        str | None,
        typer.Option(
            help="a visibility query, e.g. \"IncidentSeverity = 'P2'\" (closed incidents only)", show_default=False
        ),
    ] = None,
    histories: Annotated[
        Path | None,
        typer.Option(
            "--histories",
            metavar="DIR",
            file_okay=False,
            help="read history JSON files (incident-ID.json, incident-ID--PHASE.json) instead of Temporal",
            show_default=False,
        ),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="at most this many incidents")] = DEFAULT_LIMIT,
    format_: Annotated[
        BacktestFormat, typer.Option("--format", help="table for people, json for scripts, md for a pull request")
    ] = BacktestFormat.TABLE,
    fail_on: FailOnOpt = None,
    servers: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=8,
            metavar="N",
            help="time-skipping servers to run at once (default: one per core, at most 4)",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Re-run closed incidents under a changed runbook and show what would have been different.

    Each incident's recorded inputs (alerts, people's updates at their times, Prometheus and
    Kubernetes readings) are replayed through the same workflows on a time-skipping server under
    the new runbook; nothing is sent anywhere. The report lists, per incident, the decisions that
    differ (escalations, pages, status page posts, the rollback's verdict and time) and anything the
    new runbook needed that was never recorded; then the aggregate. Under the incident's own runbook
    a backtest reproduces every decision: that is its identity check.

    Example: warroom backtest --runbook new-runbook.yaml --since 30d

    Example: warroom backtest --runbook new-runbook.yaml --incident order-api-20261128-142301 --format md

    Example: warroom backtest --runbook new-runbook.yaml --query "IncidentSeverity = 'P2'" --fail-on later-escalation

    Example (CI, no Temporal): warroom backtest --runbook runbook.yaml --histories tests/histories --fail-on any
    """
    chosen = [name for name, value in (("--since", since), ("--incident", incident), ("--query", query)) if value]
    if len(chosen) > 1:
        raise BadInput(f"{' and '.join(chosen)}: choose one way to select incidents")
    if histories is not None and query:
        raise BadInput("--query needs Temporal's visibility store: use --since or --incident with --histories")
    new = load_runbook(runbook)  # exit 2 with the file, the field and the problem, before anything connects
    settings = settings_of(ctx)
    quiet_temporal()
    if histories is not None:
        selected, skipped = from_folder(histories, incident or [], since, datetime.now(UTC))
        selected = selected[-limit:]
        converter = file_converter(settings)
        if skipped:
            err.print(f"skipped, still open: {escape(', '.join(skipped))}", style="dim")
        where = str(histories)
    else:
        selected, converter = run(_from_temporal(settings, incident or [], query, since or DEFAULT_SINCE, limit))
        where = f"namespace {settings.temporal_namespace}"
    if not selected:
        what = ""
        if query:
            what = f" matching {query!r}"
        elif since or histories is None:
            what = f" started in the last {since or DEFAULT_SINCE}"
        raise BadInput(f"no closed incidents{what} in {where}: widen --since, or name them with --incident")
    from warroom.backtest.compare import default_servers

    results = run(_with_progress(selected, new, converter, servers or default_servers()))
    report = BacktestReport(runbook=str(runbook), incidents=results, summary=summarize(results))
    code = finish(report, format_, fail_on or [])
    if code:
        raise typer.Exit(code)
