"""The workflow modules are compiled once per worker process, and each run still gets its own modules.

The sandbox re-imports `workflows` for every run it creates; warroom.compiled_once keeps the code
objects so a checkout without bytecode files (PYTHONDONTWRITEBYTECODE=1) does not compile them
again at every incident start. These tests re-import the package the way the sandbox does (a
fresh `sys.modules` for the workflow package) and check what is shared and what is not.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from warroom import compiled_once
from warroom.worker import workflow_runner

ROOT = Path(__file__).resolve().parents[2]


def _run(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        env={"PYTHONDONTWRITEBYTECODE": "1", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


FRESH_IMPORT = """
    import sys

    def fresh(name):
        for loaded in [m for m in sys.modules if m == "workflows" or m.startswith("workflows.")]:
            del sys.modules[loaded]
        __import__(name)
        return sys.modules[name]
"""


def test_a_second_run_reuses_the_compiled_code_but_gets_fresh_module_state() -> None:
    out = _run(
        FRESH_IMPORT
        + """
    from warroom import compiled_once
    compiled_once.install()
    first = fresh("workflows.sequence")
    held = compiled_once.cached_modules()
    first.MARK = "first run's state"
    second = fresh("workflows.sequence")
    same_code = second.name_channel.__code__ is first.name_channel.__code__
    print(held, compiled_once.cached_modules(), first is second, same_code, hasattr(second, "MARK"))
    """
    )
    held, after, same_module, same_code, state_leaked = out.split()
    assert int(held) >= 2 and after == held, "the second import compiled nothing new"
    assert (same_module, same_code, state_leaked) == ("False", "True", "False")


def test_without_it_every_import_compiles_the_source_again() -> None:
    """The control for the test above: without bytecode files each fresh import is a new compile."""
    out = _run(
        FRESH_IMPORT
        + """
    first = fresh("workflows.sequence")
    second = fresh("workflows.sequence")
    print(second.name_channel.__code__ is first.name_channel.__code__)
    """
    )
    assert out == "False"


def test_an_edited_module_is_compiled_again(tmp_path: Path) -> None:
    """Keyed by modification time and size: a worker restarted on new code never runs the old code."""
    package = tmp_path / "workflows"
    package.mkdir()
    (package / "__init__.py").write_text("")
    module = package / "probe.py"
    module.write_text("VALUE = 1\n")
    out = _run(
        FRESH_IMPORT
        + f"""
    import os
    sys.path.insert(0, {str(tmp_path)!r})
    from warroom import compiled_once
    compiled_once.install()
    before = fresh("workflows.probe").VALUE
    with open({str(module)!r}, "w") as f:
        f.write("VALUE = 2\\n")
    os.utime({str(module)!r}, ns=(1, 10**18))
    print(before, fresh("workflows.probe").VALUE)
    """
    )
    assert out == "1 2"


def test_the_sandboxed_runner_installs_it_first_on_the_import_path() -> None:
    workflow_runner(sandboxed=True)
    assert compiled_once.CompiledOnceFinder in sys.meta_path
    assert sys.meta_path.index(compiled_once.CompiledOnceFinder) == 0
