"""The `warroom` Typer app: global options, settings and identity, and the one place where an
error becomes a line on stderr and an exit code (`main`).

Errors people cause are one readable line and an exit code, never a traceback: 1 rejected,
2 bad input, bad configuration or unknown incident, 3 Temporal unreachable (`warroom.errors`).
"""

from __future__ import annotations

import asyncio
import os
import sys
import traceback
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape

from warroom.cli.parsing import AddressOpt, AsOpt, NamespaceOpt, QueueOpt, RunbookOpt, option
from warroom.errors import BadInput, TemporalRefused, WarroomError, invalid_settings, problems
from warroom.settings import Settings

T = TypeVar("T")

out = Console(highlight=False, soft_wrap=True)  # soft wrap: ids, commands and URLs stay whole for copy-paste
err = Console(stderr=True, highlight=False, soft_wrap=True)

app = typer.Typer(
    name="warroom",
    help=(
        "Run the SRE incident runbook from the terminal: declare, take command, approve steps, resolve.\n\n"
        "Start here: warroom declare --service order-api --severity P1 --summary '503s on checkout' --as alice"
    ),
    epilog="Who you are comes from --as NAME or $WARROOM_USER; where Temporal is, from --address or $WARROOM_TEMPORAL_ADDRESS.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@dataclass
class Globals:
    """Options given before the command; a command's own option wins over these."""

    who: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)


@app.callback()
def _main(
    ctx: typer.Context,
    as_: AsOpt = None,
    address: AddressOpt = None,
    namespace: NamespaceOpt = None,
    task_queue: QueueOpt = None,
    runbook: RunbookOpt = None,
) -> None:
    """Global options apply to every command: warroom --as alice ack ID."""
    overrides = {
        "temporal_address": address,
        "temporal_namespace": namespace,
        "task_queue": task_queue,
        "runbook": runbook,
    }
    ctx.obj = Globals(who=as_, overrides={k: v for k, v in overrides.items() if v is not None})


def _globals(ctx: typer.Context) -> Globals:
    root = ctx.find_root()
    if not isinstance(root.obj, Globals):
        root.obj = Globals()
    return root.obj


def settings_of(ctx: typer.Context, **overrides: Any) -> Settings:
    """Env (WARROOM_*) first, then global options, then the command's own options."""
    chosen = {**_globals(ctx).overrides, **{k: v for k, v in overrides.items() if v is not None}}
    try:
        return Settings(**chosen)
    except ValidationError as exc:
        raise invalid_settings(exc) from None


def who_of(ctx: typer.Context, as_: str | None, settings: Settings) -> str:
    """Everything that acts is recorded with a name: the timeline and the IC checks need one."""
    who = as_ or _globals(ctx).who or settings.user
    if not who:
        raise BadInput("who are you? pass --as NAME or set WARROOM_USER")
    return who


def invalid_input(exc: ValidationError) -> BadInput:
    """A request people built from options, refused field by field under the options' names."""
    return BadInput(f"invalid input:\n{problems(exc, option)}")


def run(body: Coroutine[Any, Any, T], traced_as: str | None = "warroom-cli") -> T:
    """Run an async body; an invalid request is bad input (exit 2), warroom's errors go to `main`.

    With OTEL_* set the command is traced as `traced_as` (an approval from the terminal is a span
    that parents its update); the worker passes None, as it traces itself as warroom-worker."""
    from temporalio.service import RPCError

    from warroom.telemetry import tracing

    try:
        if traced_as is None:
            return asyncio.run(body)
        with tracing.traced(traced_as):
            return asyncio.run(body)
    except ValidationError as exc:
        raise invalid_input(exc) from None
    except RPCError as exc:  # a call outside `warroom.incidents` (the worker's own, for one)
        raise TemporalRefused(f"Temporal refused: {exc.message} ({exc.status.name})") from None


def fail(exc: WarroomError) -> int:
    """The one line people read, in red, and the exit code scripts see."""
    err.print(escape(str(exc)), style="red")
    return exc.exit_code


def main() -> None:
    """The `warroom` console script.

    It ends with os._exit: the Temporal client's Rust threads can abort an interpreter that is
    finalizing ("PyGILState_Release", temporalio/sdk-python#300), which would turn a clean
    answer into exit 134 for a short-lived process like this one.
    """
    try:
        app(prog_name="warroom")
        code = 0
    except SystemExit as exc:
        code = _exit_code(exc.code)
    except WarroomError as exc:
        code = fail(exc)
    except Exception:
        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _exit_code(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1
