"""`warroom runbook`: what another runbook would do to the incidents open now, and moving one to it.

`preview` needs no workflow to change: each open incident's `state` query already carries its
pending deadlines under the runbook it follows, and the pure timer policy computes them under the
new file (`warroom.policy.adoption`). `adopt` is the IC's `adopt_runbook` update: validated by the
incident, recorded in its timeline, followed by the incident and its running phase from then on.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import BaseModel
from rich.markup import escape

from warroom.cli import render
from warroom.cli.app import app, out, run, settings_of
from warroom.cli.incident import act
from warroom.cli.parsing import AsOpt, IncidentId, JsonOpt
from warroom.config import RunbookConfig
from warroom.enums import Update, format_duration
from warroom.errors import WarroomError
from warroom.incidents import Incidents, list_query
from warroom.models import AdoptRunbook, IncidentState
from warroom.policy.adoption import DeadlineMove, deadline_moves, moved
from warroom.policy.timers import pending_deadlines
from warroom.runbook import load_runbook

runbook_app = typer.Typer(
    name="runbook",
    help="Another runbook and the incidents open now: preview its deadlines, or move one incident to it.\n\n"
    "Example: warroom runbook preview runbook.new.yaml",
    no_args_is_help=True,
)
app.add_typer(runbook_app, name="runbook")

NewRunbook = Annotated[Path, typer.Argument(metavar="NEW.yaml", help="the runbook file to compare or adopt")]


class PreviewFormat(StrEnum):
    TABLE = "table"
    JSON = "json"


class IncidentPreview(BaseModel):
    """One open incident's pending deadlines under its runbook and under the new one."""

    incident_id: str
    severity: str | None
    phase: str
    moves: list[DeadlineMove]

    def as_json(self) -> dict[str, Any]:
        return {
            "incident_id": self.incident_id,
            "severity": self.severity,
            "phase": self.phase,
            "moved": len(moved(self.moves)),
            "deadlines": [
                {
                    "key": m.key,
                    "kind": m.kind,
                    "now_due_at": m.now_due_at.isoformat() if m.now_due_at else None,
                    "would_be_due_at": m.would_be_due_at.isoformat() if m.would_be_due_at else None,
                    "difference_seconds": m.difference.total_seconds() if m.difference is not None else None,
                    "moved": m.moved,
                }
                for m in self.moves
            ],
        }


def preview_of(state: IncidentState, new: RunbookConfig) -> IncidentPreview:
    """`state.deadlines` are the ones its own runbook gives (the `state` query computes them)."""
    return IncidentPreview(
        incident_id=state.incident_id,
        severity=state.severity,
        phase=state.phase,
        moves=deadline_moves(state.deadlines, pending_deadlines(state, new)),
    )


async def _open_states(incidents: Incidents, chosen: list[str], limit: int) -> tuple[list[IncidentState], list[str]]:
    """The chosen incidents (else every open one), each asked at once; one that does not answer is
    named, not fatal."""
    if not chosen:
        chosen = [row.workflow_id for row in await incidents.list(list_query(open_=True), limit)]
    answers = await asyncio.gather(*(incidents.state(i) for i in chosen), return_exceptions=True)
    states, silent = [], []
    for incident, answer in zip(chosen, answers, strict=True):
        if isinstance(answer, IncidentState):
            states.append(answer)
        elif isinstance(answer, WarroomError):
            silent.append(f"{incident}: {answer}")
        else:
            raise answer
    return states, silent


def _at(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%M:%S}" if value else "—"


def _difference(move: DeadlineMove) -> str:
    if move.now_due_at is None:
        return "new"
    if move.would_be_due_at is None:
        return "dropped"
    delta = move.difference or timedelta(0)
    if not delta:
        return "same"
    return ("+" if delta > timedelta(0) else "-") + format_duration(abs(delta))


def _render(previews: list[IncidentPreview]) -> None:
    if not previews:
        out.print("No open incidents.")
    for p in previews:
        title = f"{p.incident_id} ({p.severity or 'not declared'}, {p.phase}): {len(moved(p.moves))} deadline(s) move"
        rows = render.table(escape(title), "deadline", "now due at (UTC)", "would be due at", "difference")
        for m in p.moves:
            name = m.kind if "@" in m.key else m.key  # a reminder in a series: its kind; else who it is for
            rows.add_row(escape(name), _at(m.now_due_at), _at(m.would_be_due_at), _difference(m))
        out.print(rows)


@runbook_app.command()
def preview(
    ctx: typer.Context,
    new: NewRunbook,
    incident: Annotated[
        list[str] | None,
        typer.Option("--incident", metavar="ID", help="only this incident (repeatable)", show_default=False),
    ] = None,
    format_: Annotated[PreviewFormat, typer.Option("--format", help="table for people, json for scripts")] = (
        PreviewFormat.TABLE
    ),
    limit: Annotated[int, typer.Option(min=1, max=1000, help="at most this many open incidents")] = 100,
) -> None:
    """For each open incident: its pending deadlines now, and under NEW.yaml. Nothing changes.

    Example: warroom runbook preview runbook.new.yaml
    """
    runbook = load_runbook(new)  # an invalid file: exit 2, naming the field
    settings = settings_of(ctx)

    async def body() -> tuple[list[IncidentState], list[str]]:
        incidents = await Incidents.connect(settings, identity="warroom-cli")
        return await _open_states(incidents, list(incident or []), limit)

    states, silent = run(body())
    previews = [preview_of(state, runbook) for state in states]
    if format_ == PreviewFormat.JSON:
        document = {"runbook": str(new), "incidents": [p.as_json() for p in previews], "not_answering": silent}
        print(json.dumps(document, indent=2))
    else:
        _render(previews)
        for line in silent:
            out.print(f"[yellow]did not answer[/]: {escape(line)}")


@runbook_app.command()
def adopt(
    ctx: typer.Context,
    incident: IncidentId,
    new: NewRunbook,
    reason: Annotated[str, typer.Option(help="why this incident moves to NEW.yaml (recorded)")],
    as_: AsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Move one open incident to NEW.yaml (the IC only): its deadlines and its running phase follow it.

    Example: warroom runbook adopt order-api-20250101-140700 runbook.new.yaml --reason 'P2 escalates at 30m' --as alice
    """
    runbook = load_runbook(new)
    act(
        ctx,
        as_,
        as_json,
        incident,
        Update.ADOPT_RUNBOOK,
        lambda who: AdoptRunbook(by=who, runbook=runbook, reason=reason),
    )
