"""`warroom oncall`: who holds each role, the schedule's gaps, and overrides (WARROOM_ONCALL).

    warroom oncall                                  who holds each role of every team now
    warroom oncall --team payments --at 2026-12-11T23:59+01:00 --json
    warroom oncall check --days 14                  every gap in the next 14 days; exit 1 if any
    warroom oncall override --team payments --person bob --from now --to +12h --reason 'swap with alice' --as bob
    warroom oncall overrides                        the overrides not yet over
    warroom oncall remove-override ovr-3 --reason 'alice is back' --as alice

Overrides are updates to the durable `Roster` workflow: each records who made it, when and why,
and one for an unknown person or with its end before its start is refused with the reason.
`check` reads the file alone (no Temporal needed), so a team can run it in CI on its schedule.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from warroom.cli.app import app, err, out, run, settings_of, who_of
from warroom.cli.parsing import AsOpt, JsonOpt
from warroom.config import RunbookConfig
from warroom.contracts.oncall import AddOverride, RemoveOverride
from warroom.enums import parse_duration
from warroom.errors import BadInput, ConfigInvalid, ConnectionFailed
from warroom.oncall.coverage import Gap, coverage_gaps
from warroom.oncall.directory import Directory
from warroom.oncall.load import ONCALL_ENV, load_directory
from warroom.oncall.models import Override, Resolution
from warroom.oncall.resolve import resolve_roles
from warroom.runbook import load_runbook
from warroom.settings import Settings

oncall_app = typer.Typer(
    help=(
        "Who is on call, the schedule's gaps, and overrides (WARROOM_ONCALL).\n\n"
        "Example: warroom oncall --team payments --at 2026-12-11T23:59+01:00"
    ),
    no_args_is_help=False,
    invoke_without_command=True,
)
app.add_typer(oncall_app, name="oncall")

TeamOpt = Annotated[str | None, typer.Option("--team", help="one team (default: every team)", show_default=False)]
MAX_DAYS = 90


def moment(text: str, now: datetime, option: str) -> datetime:
    """`now`, `+2h` (from now), or an ISO time (`2026-12-06T22:00+01:00`; without an offset it is UTC)."""
    value = text.strip()
    if value == "now":
        return now
    if value.startswith("+"):
        try:
            delta = parse_duration(value[1:])
        except ValueError:
            delta = None
        if isinstance(delta, timedelta):
            return now + delta
    try:
        found = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadInput(
            f"{option} {text!r}: write now, +DURATION (+12h) or an ISO time (2026-12-06T22:00+01:00)"
        ) from None
    return found if found.tzinfo is not None else found.replace(tzinfo=UTC)


def _directory(settings: Settings) -> Directory:
    if settings.oncall is None:
        raise ConfigInvalid(f"no on-call file: set {ONCALL_ENV}=PATH (see examples/oncall.example.yaml)")
    return load_directory(settings.oncall)


def matrix_roles(runbook: RunbookConfig) -> list[str]:
    """Every role the runbook pages or notifies: these must resolve to someone at every minute."""
    roles: list[str] = [runbook.acknowledgement.escalate_to, runbook.roles.incident_commander_page]
    for row in runbook.severity_matrix.values():
        roles += [row.initial_responder, row.escalate_to, *row.notify_at_start]
        if row.notify_vp_after is not None:
            roles.append(row.vp)
    return list(dict.fromkeys(r for r in roles if r))


async def _live_overrides(settings: Settings, required: bool) -> list[Override]:
    """The roster's overrides; unreachable Temporal is an error only when `required`."""
    from warroom.client import connect
    from warroom.oncall_roster import list_overrides

    try:
        client = await connect(settings)
    except ConnectionFailed as exc:
        if required:
            raise
        err.print(f"overrides not included: {escape(str(exc))}", style="yellow")
        return []
    return (await list_overrides(client, settings.task_queue)).overrides


@oncall_app.callback()
def oncall_now(
    ctx: typer.Context,
    team: TeamOpt = None,
    at: Annotated[str, typer.Option("--at", help="now, +2h, or an ISO time")] = "now",
    as_json: JsonOpt = False,
) -> None:
    """Who holds each role of each team now (or --at a time), and which layer or override chose them.

    Example: warroom oncall --team payments --at 2026-12-11T23:59+01:00
    """
    if ctx.invoked_subcommand is not None:
        return
    settings = settings_of(ctx)
    directory = _directory(settings)
    when = moment(at, datetime.now(UTC), "--at")
    teams = [t for t in directory.config.teams if team in (None, t.name)]
    if team is not None and not teams:
        raise BadInput(
            f"--team {team!r}: no such team in {settings.oncall} ({', '.join(t.name for t in directory.config.teams)})"
        )
    overrides = run(_live_overrides(settings, required=False))
    rows: list[Resolution] = []
    for found in teams:
        resolved, gaps = resolve_roles(directory, overrides, found.name, sorted(found.roles), when)
        rows += [r for r in resolved if r.instead_of is None] + gaps
    if as_json:
        print(json.dumps([r.model_dump(mode="json", exclude_none=True) for r in rows], indent=2))
        return
    table = Table(title=f"On call at {when:%Y-%m-%d %H:%M %Z}")
    for column in ("team", "role", "person", "chosen by"):
        table.add_column(column)
    for r in sorted(rows, key=lambda r: (r.team or "", r.role)):
        chosen = f"override {r.override_id}" if r.override_id else (f"{r.schedule}/{r.layer}" if r.layer else r.source)
        person = r.display_name or r.person or "[red]nobody (gap)[/red]"
        table.add_row(r.team or "-", r.role, person, escape(chosen or "-"))
    out.print(table)


@oncall_app.command("check")
def oncall_check(
    ctx: typer.Context,
    days: Annotated[int, typer.Option(min=1, max=MAX_DAYS, help="how many days ahead to check")] = 14,
    team: TeamOpt = None,
    start: Annotated[str, typer.Option("--start", help="now, +1d, or an ISO time")] = "now",
    with_overrides: Annotated[bool, typer.Option(help="include the live overrides (needs Temporal)")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Every minute of the next N days: list each gap, where a role the runbook pages resolves to
    nobody; exit 1 when there is one. Reads the file alone, for CI on your schedule.

    Example: warroom oncall check --days 14
    """
    settings = settings_of(ctx)
    directory = _directory(settings)
    if team is not None and directory.config.team(team) is None:
        raise BadInput(f"--team {team!r}: no such team in {settings.oncall}")
    begin = moment(start, datetime.now(UTC), "--start").replace(second=0, microsecond=0)
    overrides = run(_live_overrides(settings, required=True)) if with_overrides else []
    roles = matrix_roles(load_runbook(settings.runbook))
    gaps = coverage_gaps(directory, overrides, roles, begin, begin + timedelta(days=days), [team] if team else None)
    if as_json:
        print(json.dumps([g.model_dump(mode="json") for g in gaps], indent=2))
    else:
        _print_gaps(gaps, days)
    if gaps:
        raise typer.Exit(1)


def _print_gaps(gaps: list[Gap], days: int) -> None:
    if not gaps:
        out.print(f"No gaps: every role the runbook pages has someone on call for the next {days} days.")
        return
    table = Table(title=f"{len(gaps)} gap(s) in the next {days} days")
    for column in ("team", "role", "from", "to", "paged instead"):
        table.add_column(column)
    for g in gaps:
        instead = g.paged_instead or "[red]nobody: a P1 would page no one[/red]"
        table.add_row(g.team, g.role, f"{g.start:%Y-%m-%d %H:%M}", f"{g.end:%Y-%m-%d %H:%M}", instead)
    out.print(table)


@oncall_app.command("override")
def oncall_override(
    ctx: typer.Context,
    team: Annotated[str, typer.Option("--team", help="the team whose role is taken")],
    person: Annotated[str, typer.Option("--person", help="who takes it (a name in WARROOM_ONCALL)")],
    from_: Annotated[str, typer.Option("--from", help="now, +2h, or an ISO time")],
    to: Annotated[str, typer.Option("--to", help="+12h, or an ISO time")],
    role: Annotated[str, typer.Option(help="the role taken")] = "on-call-engineer",
    reason: Annotated[str, typer.Option(help="why (recorded with your name)")] = "",
    as_: AsOpt = None,
) -> None:
    """Take a shift: PERSON holds ROLE of TEAM from --from to --to, above every schedule layer.

    Example: warroom oncall override --team payments --person bob --from now --to +12h --reason 'swap' --as bob
    """
    settings = settings_of(ctx)
    directory = _directory(settings)
    now = datetime.now(UTC)
    start = moment(from_, now, "--from")
    request = AddOverride(
        team=team,
        person=person,
        start=start,
        end=moment(to, start if to.strip().startswith("+") else now, "--to"),
        role=role,
        reason=reason,
        by=who_of(ctx, as_, settings),
    )
    made = run(_add(settings, directory, request))
    out.print(
        f"{made.id}: {made.person} holds {made.role} of {made.team} from {made.start:%Y-%m-%d %H:%M %Z} "
        f"to {made.end:%Y-%m-%d %H:%M %Z} (by {made.created_by})"
    )


async def _add(settings: Settings, directory: Directory, request: AddOverride) -> Override:
    from warroom.client import connect
    from warroom.oncall_roster import add_override, names_of

    client = await connect(settings)
    return await add_override(client, settings.task_queue, names_of(directory.config), request)


@oncall_app.command("overrides")
def oncall_overrides(ctx: typer.Context, team: TeamOpt = None, as_json: JsonOpt = False) -> None:
    """The overrides not yet over, with who made each, when and why.

    Example: warroom oncall overrides --team payments
    """
    settings = settings_of(ctx)
    found = [o for o in run(_live_overrides(settings, required=True)) if team in (None, o.team)]
    if as_json:
        print(json.dumps([o.model_dump(mode="json") for o in found], indent=2))
        return
    if not found:
        out.print("No overrides.")
        return
    table = Table(title="Overrides")
    for column in ("id", "team", "role", "person", "from", "to", "by", "why"):
        table.add_column(column)
    for o in found:
        table.add_row(
            o.id,
            o.team,
            o.role,
            o.person,
            f"{o.start:%Y-%m-%d %H:%M %Z}",
            f"{o.end:%Y-%m-%d %H:%M %Z}",
            o.created_by,
            escape(o.reason),
        )
    out.print(table)


@oncall_app.command("remove-override")
def oncall_remove_override(
    ctx: typer.Context,
    override_id: Annotated[str, typer.Argument(help="ovr-N, from `warroom oncall overrides`")],
    reason: Annotated[str, typer.Option(help="why (recorded with your name)")] = "",
    as_: AsOpt = None,
) -> None:
    """Remove an override; the schedule decides again.

    Example: warroom oncall remove-override ovr-3 --reason 'alice is back' --as alice
    """
    settings = settings_of(ctx)
    directory = _directory(settings)
    request = RemoveOverride(override_id=override_id, by=who_of(ctx, as_, settings), reason=reason)
    removed: Any = run(_remove(settings, directory, request))
    out.print(f"{removed.id} removed: {removed.team}'s {removed.role} follows the schedule again")


async def _remove(settings: Settings, directory: Directory, request: RemoveOverride) -> Override:
    from warroom.client import connect
    from warroom.oncall_roster import names_of, remove_override

    client = await connect(settings)
    return await remove_override(client, settings.task_queue, names_of(directory.config), request)
