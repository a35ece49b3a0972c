"""The servers' own entry points stand below the CLI: `python -m warroom.intake.server` refuses a bad
value exactly as `warroom intake` does, without loading the CLI (the CLI is the layer above)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def start(*argv: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("WARROOM_")}
    return subprocess.run(
        [sys.executable, "-X", "importtime", *argv],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env={**clean, "WARROOM_TEMPORAL_ADDRESS": "127.0.0.1:1", **env},
    )


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("WARROOM_INTAKE_PORT", "eighty", "invalid intake settings:\n  WARROOM_INTAKE_PORT: "),
        ("WARROOM_TEMPORAL_NAMESPACE", "a b", "invalid settings:\n  WARROOM_TEMPORAL_NAMESPACE: "),
        ("WARROOM_RUNBOOK", "/etc/passwd", "WARROOM_RUNBOOK: invalid runbook /etc/passwd"),
    ],
)
def test_the_intake_module_refuses_like_the_cli_without_loading_it(variable: str, value: str, expected: str) -> None:
    module = start("-m", "warroom.intake.server", **{variable: value})
    command = start("-m", "warroom.cli", "intake", **{variable: value})
    for ran in (module, command):
        assert ran.returncode == 2, ran.stderr[-800:]
        assert expected in ran.stderr and "Traceback" not in ran.stderr, ran.stderr[-800:]
    assert "| warroom.cli" in command.stderr  # -X importtime lists every module loaded
    assert "warroom.cli" not in module.stderr, "python -m warroom.intake.server imported the CLI"
