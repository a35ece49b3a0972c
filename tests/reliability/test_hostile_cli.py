"""Hostile input at the CLI and in config is refused with a clear message, before any Temporal call."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

DEAD = "127.0.0.1:1"  # nothing listens: reaching Temporal would show as exit 3, not 2


def warroom(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [sys.executable, "-m", "warroom.cli", "--address", DEAD, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.parametrize(
    "args",
    [
        ("--as", "bob; rm -rf /", "ack", "order-api-1"),
        ("--as", "alice", "assign", "order-api-1", "ops", "$(touch /tmp/pwned)"),
        ("--as", "alice", "assign", "order-api-1", "ops", "bob\nmallory"),
        ("--as", "alice", "declare", "--service", "../../etc", "--severity", "P2", "--summary", "x"),
        (
            "--as",
            "alice",
            "declare",
            "--service",
            "order-api",
            "--severity",
            "P2",
            "--summary",
            "x" * 100_000,
        ),  # argv caps one argument at 128 KB
        (
            "--as",
            "alice",
            "declare",
            "--service",
            "order-api",
            "--severity",
            "P2",
            "--summary",
            "s",
            "--deployment",
            "prod/`id`",
        ),
        ("--as", "alice", "approve", "order-api-1", "s1", "--reason", ""),
    ],
)
def test_hostile_arguments_are_refused_before_temporal(args: tuple[str, ...]) -> None:
    result = warroom(*args)
    assert result.returncode == 2, (result.returncode, result.stdout[-500:], result.stderr[-500:])
    assert "Traceback" not in result.stderr
    assert not Path("/tmp/pwned").exists()


def test_a_hostile_runbook_path_is_a_clear_error(tmp_path: Path) -> None:
    result = warroom(
        "--as",
        "alice",
        "declare",
        "--service",
        "order-api",
        "--severity",
        "P2",
        "--summary",
        "x",
        env={"WARROOM_RUNBOOK": "/etc/passwd"},
    )
    assert result.returncode == 2 and "invalid runbook /etc/passwd" in result.stderr
    hostile = tmp_path / "runbook.yaml"
    hostile.write_text("!!python/object/apply:os.system ['touch /tmp/pwned']\n")
    result = warroom(
        "--as",
        "alice",
        "declare",
        "--service",
        "order-api",
        "--severity",
        "P2",
        "--summary",
        "x",
        env={"WARROOM_RUNBOOK": str(hostile)},
    )
    assert result.returncode == 2 and "not YAML" in result.stderr and not Path("/tmp/pwned").exists()
