"""warroom's own errors: one root, each kind carrying the exit code an entry point ends with.

What people and their configuration cause (a refused approval, an unknown incident, a bad
WARROOM_* value, Temporal unreachable) is one readable line and an exit code, never a traceback:
a traceback prints values, secrets included. The CLI and the servers' `python -m` entry points
turn a `WarroomError` into that line in one place (`warroom.cli.app.main`, `exit_with`).

Exit codes: 1 refused or failed, 2 bad input, bad configuration or unknown incident,
3 Temporal unreachable.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar, NoReturn

if TYPE_CHECKING:
    from pydantic import ValidationError


class WarroomError(Exception):
    """An outcome people cause; the message is what they read, `exit_code` what scripts see."""

    exit_code: ClassVar[int] = 1


class BadInput(WarroomError):
    """An argument or request that cannot be used (an invalid person, a bad --service)."""

    exit_code = 2


class ConfigInvalid(WarroomError):
    """A setting, or a file a setting names, cannot be used; the message names the variable.
    Raised at start, before anything connects."""

    exit_code = 2


class RunbookError(WarroomError):
    """The runbook file cannot be used; the message names the file, the field and the problem."""

    exit_code = 2


class ConnectionFailed(WarroomError):
    """Temporal is not reachable; the message says where we tried and what to check."""

    exit_code = 3


class IncidentNotFound(WarroomError):
    """No incident under this id in the namespace."""

    exit_code = 2


class IncidentClosed(WarroomError):
    """The incident has finished: it takes no more updates (its history remains)."""


class IncidentExists(WarroomError):
    """An incident with this id is already open."""


class NotAnswering(WarroomError):
    """The incident did not answer in time: usually no worker polls its task queue."""


class Refused(WarroomError):
    """An update's validator said no: `type` is the kind of refusal (NotIncidentCommander, ...),
    `reason` the sentence people read."""

    def __init__(self, type: str | None, reason: str) -> None:
        super().__init__(f"rejected ({type}): {reason}" if type else f"rejected: {reason}")
        self.type = type
        self.reason = reason


class TemporalRefused(WarroomError):
    """Temporal refused a call for a reason of its own (a status code other than the above)."""


def problems(exc: ValidationError, name_of: Callable[[str], str], sep: str = "\n") -> str:
    """One line per invalid field, named as people set it (`name_of`: an option, a variable)."""
    lines = []
    for problem in exc.errors():
        loc = [str(p) for p in problem["loc"]]
        name = name_of(loc[0]) if loc else "input"
        where = ".".join([name, *loc[1:]])
        message = str(problem["msg"]).removeprefix("Value error, ")
        lines.append(f"  {where}: {message}" if sep == "\n" else f"{where}: {message}")
    return sep.join(lines)


def invalid_settings(exc: ValidationError, what: str = "settings", prefix: str = "WARROOM_") -> ConfigInvalid:
    """A settings model's ValidationError as one error naming each variable (WARROOM_<FIELD>)."""
    return ConfigInvalid(f"invalid {what}:\n{problems(exc, lambda field: prefix + field.upper())}")


def exit_with(body: Callable[[], int | None]) -> NoReturn:
    """Run an entry point (`python -m ...`): a WarroomError is one line on stderr and its exit code.

    It ends with os._exit: the Temporal client's Rust threads can abort an interpreter that is
    finalizing ("PyGILState_Release", temporalio/sdk-python#300), which would turn a clean
    answer into exit 134.
    """
    try:
        code = body() or 0
    except WarroomError as exc:
        print(exc, file=sys.stderr)
        code = exc.exit_code
    except Exception:
        traceback.print_exc()  # a bug, not an outcome: show where
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
