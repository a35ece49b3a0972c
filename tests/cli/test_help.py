"""`warroom --help` and every `warroom X --help` teach with an example; `warroom drill --help` lists
the drill's own options; each kind of warroom error ends with its documented exit code."""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from sandbox.drill import build_parser
from warroom import errors
from warroom.cli import app
from warroom.cli.helptext import reflowed

REPO = Path(__file__).resolve().parents[2]
COMMANDS = sorted(get_command(app).commands)  # type: ignore[attr-defined]


def test_the_commands_people_know_are_all_there() -> None:
    assert set(COMMANDS) == {
        *("run", "worker", "intake", "drill", "codec-key", "codec-server", "search-attributes"),
        *("declare", "declare-now", "ack", "assign", "severity", "flags", "update", "propose", "approve", "deny"),
        *("steps", "preview", "cancel-step", "mitigated", "resolve", "pir-complete", "action-done"),
        *("status", "show", "list", "incidents", "audit", "pir-draft"),
        "oncall",
        "runbook",
        "backtest",
        "report",
    }


ONCALL = [["oncall", c] for c in ("check", "override", "overrides", "remove-override")]
ONCALL += [["runbook", c] for c in ("preview", "adopt")]


@pytest.mark.parametrize(
    "command", [[], *([c] for c in COMMANDS if c != "drill"), *ONCALL], ids=lambda c: " ".join(c) or "-"
)
def test_every_help_teaches_with_an_example(command: list[str]) -> None:
    result = CliRunner().invoke(app, [*command, "--help"], prog_name="warroom", env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert re.search(r"(Example|Start here): .*warroom ", result.output), result.output


def test_drill_help_lists_the_drills_own_options() -> None:
    ran = subprocess.run(
        [sys.executable, "-m", "warroom.cli", "drill", "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert ran.returncode == 0, ran.stderr
    options = [o for action in build_parser()._actions for o in action.option_strings if o.startswith("--")]
    assert {"--time-scale", "--approval", "--temporal", "--data-dir", "--timeout"} <= set(options)
    for name in options:
        assert name in ran.stdout, f"{name} missing from `warroom drill --help`:\n{ran.stdout}"
    assert "usage: warroom drill" in ran.stdout and "Example: warroom drill" in ran.stdout


def test_each_kind_of_error_has_its_exit_code() -> None:
    """1 refused or failed, 2 bad input, bad configuration or unknown incident, 3 Temporal unreachable."""
    codes = {
        errors.BadInput: 2,
        errors.ConfigInvalid: 2,
        errors.RunbookError: 2,
        errors.IncidentNotFound: 2,
        errors.ConnectionFailed: 3,
        errors.Refused: 1,
        errors.IncidentClosed: 1,
        errors.IncidentExists: 1,
        errors.NotAnswering: 1,
        errors.TemporalRefused: 1,
    }
    assert codes == {kind: kind.exit_code for kind in codes}
    defined = {v for v in vars(errors).values() if isinstance(v, type) and issubclass(v, errors.WarroomError)}
    assert defined - {errors.WarroomError} == set(codes)
    assert str(errors.Refused("NotIncidentCommander", "only the IC may approve")) == (
        "rejected (NotIncidentCommander): only the IC may approve"
    )


def _commands(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, Any]]:
    for name, sub in getattr(command, "commands", {}).items():
        yield from _commands(sub, (*path, name))
    if not hasattr(command, "commands"):
        yield " ".join(path), command


@pytest.mark.parametrize(
    "name,command", list(_commands(get_command(app))), ids=lambda x: x if isinstance(x, str) else ""
)
def test_no_help_paragraph_breaks_mid_sentence(name: str, command: Any) -> None:
    """Typer keeps a later paragraph's source line breaks: a sentence wrapped in the code must not
    reach the terminal wrapped at 110 columns (warroom.cli.helptext reflows them)."""
    for paragraph in (command.help or "").split("\n\n")[1:]:
        for line, following in itertools.pairwise(paragraph.split("\n")):
            broken = following[:1].islower() and not re.search(r"[.:;!?]$", line)
            assert not broken, f"warroom {name} --help breaks mid-sentence: {line[-40:]!r} / {following[:40]!r}"


def test_reflow_keeps_list_items_examples_and_indented_lines() -> None:
    doc = "Summary.\n\nA sentence wrapped\n    in the source.\n\n- one item\n- two\n\nExample: warroom x\nExample: warroom y"
    assert (
        reflowed(doc)
        == "Summary.\n\nA sentence wrapped\n    in the source.\n\n- one item\n- two\n\nExample: warroom x\nExample: warroom y"
    )
    assert reflowed("S.\n\nOne sentence\nwrapped here.") == "S.\n\nOne sentence wrapped here."
