"""Commands that read: where an incident stands, the list of incidents, the audit trail from
Temporal history, and the PIR draft."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from warroom.cli import render
from warroom.cli.app import app, err, out, run, settings_of
from warroom.cli.parsing import PHASE, SEVERITY, IncidentId, JsonOpt
from warroom.enums import Phase, Severity
from warroom.errors import BadInput
from warroom.ids import incident_id_of, workflow_id_for
from warroom.incidents import IncidentRow, Incidents, list_query
from warroom.models import IncidentState
from warroom.runbook import load_runbook
from warroom.settings import Settings


async def _state(settings: Settings, incident: str) -> IncidentState:
    incidents = await Incidents.connect(settings, identity="warroom-cli")
    return await incidents.state(incident)


@app.command(
    "show", help="Same as `status`: where the incident stands. Example: warroom show order-api-20250101-140700"
)
@app.command()
def status(ctx: typer.Context, incident: IncidentId, as_json: JsonOpt = False) -> None:
    """Where the incident stands: MTTx so far against the targets, roles, pending steps, deadlines, timeline.

    Example: warroom status order-api-20250101-140700
    """
    settings = settings_of(ctx)
    state = run(_state(settings, incident))
    if as_json:
        print(state.model_dump_json(indent=2))
        return
    render.state(state, datetime.now(UTC), load_runbook(settings.runbook))


@app.command("pir-draft")
def pir_draft_command(
    ctx: typer.Context,
    incident: IncidentId,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="write to this file instead of stdout", show_default=False)
    ] = None,
) -> None:
    """A blameless PIR draft in Markdown: summary, impact, MTTx against the runbook's targets, timeline, action items.

    Example: warroom pir-draft order-api-20250101-140700 -o pir.md
    """
    from warroom.pir_draft import pir_draft

    settings = settings_of(ctx)
    state = run(_state(settings, incident))
    text = pir_draft(state, load_runbook(settings.runbook))
    if output is None:
        print(text, end="")
        return
    output.write_text(text, encoding="utf-8")
    err.print(f"PIR draft written to {output}")


class AuditFormat(StrEnum):
    TABLE = "table"
    JSON = "json"
    MD = "md"


@app.command()
def audit(
    ctx: typer.Context,
    incident: IncidentId,
    format_: Annotated[
        AuditFormat, typer.Option("--format", help="table for people, json for scripts, md for the PIR")
    ] = AuditFormat.TABLE,
    verify_: Annotated[
        bool, typer.Option("--verify", help="also replay the histories against the current workflow code")
    ] = False,
    at: Annotated[
        str | None,
        typer.Option(
            "--at",
            help="instead, the state as it stood then, rebuilt from history: 14:32 (UTC, on the incident's "
            "start day), 20m (after the start) or an ISO time",
            show_default=False,
        ),
    ] = None,
) -> None:
    """The full timeline of an incident, read from Temporal history: works on closed incidents, with no worker.

    Every alert, update (who, why, and the caller's identity), activity with its result, timer and
    message posted, across the incident and its phases. --verify replays them against the current
    code and exits 1 on any non-determinism.

    --at TIME prints instead what was known then, as `status` does (roles, severity, phase, pending
    steps, next deadlines, the last readings, the timeline up to then), rebuilt by replaying history.

    Example: warroom audit order-api-20250101-140700 --format md > audit.md
    Example: warroom audit order-api-20250101-140700 --at 14:32
    """
    from warroom.audit import audit_rows, incident_histories, to_markdown, verify

    settings = settings_of(ctx)
    if at is not None:
        if format_ == AuditFormat.MD or verify_:
            raise BadInput("--at prints the state as table or json; it does not combine with --format md or --verify")
        _audit_at(settings, incident, at, as_json=format_ == AuditFormat.JSON)
        return

    async def body() -> tuple[list[Any], list[Any]]:
        incidents = await Incidents.connect(settings, identity="warroom-cli")
        async with incidents.about(incident) as workflow_id:
            histories = await incident_histories(incidents.client, workflow_id)
        converter = incidents.client.data_converter
        rows = await audit_rows(histories, converter)
        return rows, (await verify(histories, converter=converter) if verify_ else [])

    rows, checks = run(body())
    if format_ == AuditFormat.JSON:
        print(
            json.dumps(
                {
                    "incident": incident_id_of(workflow_id_for(incident)),
                    "events": [r.model_dump(mode="json") for r in rows],
                    "verification": [c.model_dump() for c in checks],
                },
                indent=2,
            )
        )
    elif format_ == AuditFormat.MD:
        print(to_markdown(workflow_id_for(incident), rows), end="")
    else:
        render.audit(rows)
    if checks:
        for check in checks:
            verdict = "[green]replays[/]" if check.ok else f"[red]NON-DETERMINISTIC[/]: {escape(check.problem)}"
            err.print(f"{check.workflow_id} ({check.events} events): {verdict}")
        if not all(c.ok for c in checks):
            raise typer.Exit(1)


def _audit_at(settings: Settings, incident: str, text: str, as_json: bool) -> None:
    """`warroom audit ID --at TIME`: the incident's state at TIME, rebuilt from its history."""
    from warroom.audit import incident_histories
    from warroom.audit_at import Snapshot, moment, snapshot_at, started_at

    async def body() -> Snapshot:
        incidents = await Incidents.connect(settings, identity="warroom-cli")
        async with incidents.about(incident) as workflow_id:
            histories = await incident_histories(incidents.client, workflow_id)
        return await snapshot_at(histories, moment(text, started_at(histories)), incidents.client.data_converter)

    snapshot = run(body())
    if as_json:
        print(
            json.dumps(
                {
                    "incident": snapshot.state.incident_id,
                    "as_of": snapshot.at.isoformat(),
                    "rebuilt_from": "history",
                    "state": snapshot.state.model_dump(mode="json"),
                    "readings": [r.model_dump(mode="json") for r in snapshot.readings],
                },
                indent=2,
            )
        )
        return
    out.print(f"[bold]as of {snapshot.at:%H:%M:%S} UTC (rebuilt from history)[/], {snapshot.at:%Y-%m-%d}")
    render.state(snapshot.state, snapshot.at, snapshot.runbook)
    if snapshot.readings:
        readings = render.table("last readings", "time", "phase", "reading", "value")
        for reading in snapshot.readings:
            value = reading.value if isinstance(reading.value, str) else json.dumps(reading.value, default=str)
            readings.add_row(f"{reading.at:%H:%M:%S}", reading.workflow, reading.activity, escape(value[:200]))
        out.print(readings)


@app.command(
    "incidents",
    help="Same as `list`: incidents by severity, service, phase. Example: warroom incidents --severity P1 --open",
)
@app.command("list")
def list_incidents(
    ctx: typer.Context,
    severity: Annotated[
        Severity | None,
        typer.Option(parser=SEVERITY, metavar="P1|P2|P3", help="only this severity", show_default=False),
    ] = None,
    service: Annotated[str | None, typer.Option(help="only this service", show_default=False)] = None,
    phase: Annotated[
        Phase | None, typer.Option(parser=PHASE, metavar="PHASE", help="only this phase", show_default=False)
    ] = None,
    open_: Annotated[
        bool | None,
        typer.Option("--open/--closed", help="only open (running) or only closed incidents", show_default=False),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="at most this many")] = 50,
    as_json: JsonOpt = False,
) -> None:
    """List incidents through their search attributes (newest first).

    Example: warroom list --severity P1 --open
    """
    settings = settings_of(ctx)
    try:
        query = list_query(severity, service, phase, open_)
    except ValueError as exc:
        raise BadInput(f"--service {exc}") from None

    async def body() -> list[IncidentRow]:
        incidents = await Incidents.connect(settings, identity="warroom-cli")
        return await incidents.list(query, limit)

    rows = run(body())
    if as_json:
        print(json.dumps(render.list_json(rows), indent=2))
        return
    render.incidents(rows, query)
