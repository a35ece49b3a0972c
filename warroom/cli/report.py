"""`warroom report`: fleet MTTx against the runbook's targets, counts and week-over-week trends.

The visibility store chooses the incidents (open and closed, started within --since); each
incident's history gives its record (`warroom.report.collect`); the figures are pure
(`warroom.report.figures`); then a table, JSON, Markdown or one self-contained HTML file with charts.
Exit 2 on bad input (a --since that is no duration, a service name that could not be one).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from warroom.cli.app import app, err, out, run, settings_of
from warroom.cli.parsing import SEVERITY
from warroom.enums import Severity, parse_duration
from warroom.errors import BadInput
from warroom.runbook import load_runbook

if TYPE_CHECKING:
    from warroom.report.collect import Collected
    from warroom.report.figures import Figures
    from warroom.settings import Settings

DEFAULT_SINCE = "30d"
PROGRESS_FROM = 20
"""Show a progress bar when at least this many histories are to be read."""


class ReportFormat(StrEnum):
    TABLE = "table"
    JSON = "json"
    MD = "md"
    HTML = "html"


def since_span(text: str) -> timedelta:
    """--since as people write it (30d, 12h, 1h30m); BadInput otherwise."""
    try:
        span = parse_duration(text.strip())
    except ValueError:
        span = None
    if not isinstance(span, timedelta) or span <= timedelta(0):
        raise BadInput(f"--since {text!r}: write how far back, e.g. 30d, 12h or 1h30m")
    return span


async def _collect(settings: Settings, query: str) -> Collected:
    from warroom.incidents import Incidents
    from warroom.report.collect import collect

    incidents = await Incidents.connect(settings, identity="warroom-report")
    if not err.is_terminal:
        return await collect(incidents.client, query)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("reading histories"), MofNCompleteColumn(), BarColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task("", total=None, visible=False)

        def advance(done: int, total: int) -> None:
            if total >= PROGRESS_FROM:
                bar.update(task, completed=done, total=total, visible=True)

        return await collect(incidents.client, query, advance)


@app.command("report")
def report_command(
    ctx: typer.Context,
    since: Annotated[
        str, typer.Option(metavar="DURATION", help="incidents opened within this long, e.g. 30d, 12h or 1h30m")
    ] = DEFAULT_SINCE,
    service: Annotated[str | None, typer.Option(help="only this service", show_default=False)] = None,
    severity: Annotated[
        Severity | None,
        typer.Option(parser=SEVERITY, metavar="P1|P2|P3", help="only this severity", show_default=False),
    ] = None,
    format_: Annotated[
        ReportFormat,
        typer.Option(
            "--format", help="table for people, json for scripts, md for a wiki, html for one file with charts"
        ),
    ] = ReportFormat.TABLE,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", dir_okay=False, help="write the report to this file (else stdout)", show_default=False
        ),
    ] = None,
) -> None:
    """Fleet MTTx against the runbook's targets: p50/p90 per severity and per service, the share that
    met each target, counts (declared, escalated, rolled back, approvals denied, PIRs overdue, action
    items open) and week-over-week trends.

    Open incidents count too, as censored durations (lower bounds, measured up to now): every format says so.

    Example: warroom report --since 30d --severity P1

    Example: warroom report --since 90d --format html --output mttx.html
    """
    from warroom.report.collect import report_query
    from warroom.report.figures import figures

    now = datetime.now(UTC)
    start = now - since_span(since)
    try:
        query = report_query(start, severity, service)
    except ValueError as exc:
        raise BadInput(f"--service {exc}") from None
    if output is not None and output.parent and not output.parent.is_dir():
        raise BadInput(f"--output {output}: folder {output.parent} does not exist")
    settings = settings_of(ctx)
    runbook = load_runbook(settings.runbook)
    collected = run(_collect(settings, query))
    filters = {k: v for k, v in (("service", service), ("severity", severity.value if severity else None)) if v}
    result = figures(
        collected.records,
        runbook,
        now,
        start,
        filters,
        unread=[f"{u.incident_id}: {u.problem}" for u in collected.unread],
    )
    if format_ == ReportFormat.TABLE and output is None:
        from warroom.report.render import render_table

        render_table(result, out)
        return
    text = _text(result, format_)
    if output is None:
        print(text, end="" if text.endswith("\n") else "\n")
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise BadInput(f"--output {output}: {exc.strerror or exc}") from None
    err.print(f"wrote {escape(str(output))} ({len(collected.records)} incidents)", style="dim")


def _text(result: Figures, format_: ReportFormat) -> str:
    from warroom.report import render

    if format_ == ReportFormat.JSON:
        return render.to_json(result) + "\n"
    if format_ == ReportFormat.MD:
        return render.to_markdown(result)
    if format_ == ReportFormat.HTML:
        from warroom.report.html import to_html

        return to_html(result)
    from io import StringIO

    from rich.console import Console

    buffer = StringIO()
    render.render_table(result, Console(file=buffer, width=140, highlight=False, no_color=True))
    return buffer.getvalue()
