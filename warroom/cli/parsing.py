"""What people type, read: closed vocabularies in any case, shared options, and field names as
people set them (`by` is --as), so an error points at the flag to fix."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any, get_args

import typer
from pydantic import ValidationError

from warroom.enums import Phase, Role, Severity, parse_duration
from warroom.errors import BadInput, problems
from warroom.models import ActionItem, PostableStatus, ProposableAction

# --- Shared options --------------------------------------------------------------------------

IncidentId = Annotated[
    str,
    typer.Argument(
        metavar="ID",
        help="incident id, e.g. order-api-20250101-140700 (the incident- prefix is optional)",
        show_default=False,
    ),
]
AsOpt = Annotated[
    str | None,
    typer.Option("--as", help="who you are (else the global --as, else $WARROOM_USER)", show_default=False),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="print the result as JSON, for scripts")]
AddressOpt = Annotated[
    str | None,
    typer.Option("--address", help="Temporal host:port (env WARROOM_TEMPORAL_ADDRESS)", show_default=False),
]
NamespaceOpt = Annotated[
    str | None,
    typer.Option("--namespace", help="Temporal namespace (env WARROOM_TEMPORAL_NAMESPACE)", show_default=False),
]
QueueOpt = Annotated[
    str | None,
    typer.Option("--task-queue", help="task queue of the warroom worker (env WARROOM_TASK_QUEUE)", show_default=False),
]
RunbookOpt = Annotated[
    Path | None, typer.Option("--runbook", help="runbook YAML (env WARROOM_RUNBOOK)", show_default=False)
]
StepArg = Annotated[
    str, typer.Argument(metavar="STEP", help="the step id, e.g. s1 (see `warroom status`)", show_default=False)
]
ReasonOpt = Annotated[str, typer.Option(help="why (recorded with your name)", show_default=False)]

# --- Closed vocabularies ---------------------------------------------------------------------


def _word(parse: Callable[[str], Any], hint: str) -> Callable[[Any], Any]:
    """A closed vocabulary in any case, with an error that lists the words people may type."""

    def parser(value: Any) -> Any:
        if not isinstance(value, str):
            return value
        try:
            return parse(value.strip())
        except ValueError:
            raise typer.BadParameter(f"{value!r} is not one of {hint}") from None

    return parser


def _one_of(words: tuple[str, ...]) -> Callable[[Any], Any]:
    def parse(value: str) -> str:
        if value.lower() not in words:
            raise ValueError(value)
        return value.lower()

    return _word(parse, ", ".join(words))


STEP_ACTIONS: tuple[str, ...] = tuple(a.value for a in get_args(ProposableAction))
"""escalate, page, rollback, custom: the steps people propose."""
PUBLIC_STATUSES: tuple[str, ...] = tuple(s.value for s in get_args(PostableStatus))
"""investigating, identified, monitoring: the status page updates people post."""

ROLE = _word(Role.parse, "ic, ops, comms, pir (or " + ", ".join(r.value for r in Role) + ")")
SEVERITY = _word(lambda v: Severity(v.upper()), "P1, P2, P3")
PHASE = _word(lambda v: Phase(v.lower()), ", ".join(p.value for p in Phase))
STEP_ACTION = _one_of(STEP_ACTIONS)
PUBLIC = _one_of(PUBLIC_STATUSES)


def evidence(text: str) -> tuple[str, str]:
    """ "key=value" from --evidence."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise typer.BadParameter(f"{text!r} is not key=value, e.g. --evidence deploy=v2.14.3")
    return key.strip(), value.strip()


def action_item(text: str) -> ActionItem:
    """ "title|owner|YYYY-MM-DD": one string per item so a shell history line reads like the PIR."""
    parts = [p.strip() for p in text.split("|")]
    try:
        if len(parts) != 3:
            raise ValueError('write it as "title|owner|YYYY-MM-DD"')
        due = datetime.combine(date.fromisoformat(parts[2]), time(), tzinfo=UTC)
        return ActionItem(title=parts[0], owner=parts[1], due=due)
    except ValidationError as exc:
        raise typer.BadParameter(f"{text!r}: {problems(exc, str, '; ')}") from None
    except ValueError as exc:
        raise typer.BadParameter(f"{text!r}: {exc}") from None


# --- Field names as people set them ----------------------------------------------------------

_OPTION_NAMES = {
    "by": "--as",
    "declared_by": "--as",
    "step_id": "STEP",
    "person": "PERSON",
    "role": "ROLE",
    "incident_id": "ID",
    "third_party_vendor": "--vendor",
    "public_status": "--public",
    "pir_owner": "--pir-owner",
}


def option(field: str) -> str:
    """A request's field as its command-line option or argument: `by` is --as."""
    return _OPTION_NAMES.get(field, f"--{field.replace('_', '-')}")


STARTED_WITHIN = timedelta(days=30)
"""How far back `--started` may reach: further is a typo, not an incident still being declared."""


def started_at(text: str, now: datetime) -> datetime:
    """When the symptom began, as a person says it: `14:02` (UTC, today or else yesterday), `20m` (ago),
    or an ISO time (`2026-12-06T14:02:00Z`; without an offset it is UTC)."""
    value = text.strip()
    moment: datetime | None = None
    if re.fullmatch(r"\d{1,2}:\d{2}", value):
        hours, minutes = (int(part) for part in value.split(":"))
        if hours > 23 or minutes > 59:
            raise BadInput(f"--started {text!r}: not a time of day (HH:MM, UTC)")
        moment = now.replace(hour=hours, minute=minutes, second=0, microsecond=0)
        if moment > now:
            moment -= timedelta(days=1)
    else:
        try:
            ago = parse_duration(value)
        except ValueError:
            ago = None
        if isinstance(ago, timedelta):
            moment = now - ago
        else:
            try:
                moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                raise BadInput(
                    f"--started {text!r}: write a UTC time of day (14:02), how long ago (20m, 1h30m) or an ISO time"
                ) from None
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
    if moment > now:
        raise BadInput(f"--started {text!r} is in the future ({moment:%Y-%m-%d %H:%M} UTC)")
    if now - moment > STARTED_WITHIN:
        raise BadInput(f"--started {text!r} is more than {STARTED_WITHIN.days} days ago")
    return moment
