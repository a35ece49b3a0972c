"""The layering is checked, not hoped for: import-linter's contracts from pyproject.toml."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_import_contracts_are_kept() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


# The calls that would make a module's answers depend on when or where it runs.
NONDETERMINISTIC = {
    ("datetime", "now"),
    ("datetime", "utcnow"),
    ("datetime", "today"),
    ("date", "today"),
    ("time", "time"),
    ("time", "monotonic"),
    ("time", "perf_counter"),
    ("time", "sleep"),
    ("uuid", "uuid1"),
    ("uuid", "uuid4"),
    ("os", "getenv"),
    ("os", "environ"),
}
NONDETERMINISTIC_MODULES = {"random", "secrets", "socket", "subprocess", "threading", "asyncio"}


def _shared_files() -> list[Path]:
    from warroom.worker import SHARED_WITH_WORKFLOWS

    files: list[Path] = []
    for name in SHARED_WITH_WORKFLOWS:
        path = ROOT.joinpath(*name.split("."))
        files += sorted(path.rglob("*.py")) if path.is_dir() else [path.with_suffix(".py")]
    return files


def _offences(path: Path, root: Path = ROOT) -> list[str]:
    import ast

    where = path.relative_to(root)
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if (node.value.id, node.attr) in NONDETERMINISTIC:
                found.append(f"{where}:{node.lineno} {node.value.id}.{node.attr}")
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
            found += [f"{where}:{node.lineno} import {n}" for n in names if n.split(".")[0] in NONDETERMINISTIC_MODULES]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "open":
            found.append(f"{where}:{node.lineno} open()")
    return found


def test_modules_shared_with_workflows_read_no_clock_randomness_or_environment() -> None:
    """The worker's sandbox passes these modules through (no per-run re-import, no sandbox checks):
    they must decide the same thing on every replay."""
    files = _shared_files()
    assert len(files) > 30, files
    offences = [offence for path in files for offence in _offences(path)]
    assert offences == []


def test_the_guard_sees_a_clock_read(tmp_path: Path) -> None:
    sneaky = tmp_path / "sneaky.py"
    sneaky.write_text("import random\nfrom datetime import datetime\n\ndef f():\n    return datetime.now()\n")
    assert _offences(sneaky, tmp_path) == ["sneaky.py:1 import random", "sneaky.py:5 datetime.now"]
