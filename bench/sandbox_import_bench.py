"""What one workflow run's fresh import of `workflows` costs, with and without warroom.compiled_once.

    python bench/sandbox_import_bench.py [--runs 200]

The sandbox re-imports the workflow package for every run it creates (an incident and each of its
phases). This times exactly that import, `--runs` times in one process, as the sandbox does it (a
fresh `sys.modules` entry set for `workflows`, the shared domain modules already loaded), in three
subprocesses measured in the same run:

- `no bytecode`: PYTHONDONTWRITEBYTECODE=1 and no .pyc, so every import compiles (a checkout, CI, many
  containers) — the baseline;
- `bytecode`: .pyc files present (a pip-installed package): every import reads and unmarshals them;
- `compiled once`: PYTHONDONTWRITEBYTECODE=1 with warroom.compiled_once installed, as the worker does.

Prints ms per fresh import and the ratio to the baseline.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import sys, time
sys.path.insert(0, {root!r})
if {install}:
    from warroom import compiled_once
    compiled_once.install()
import warroom.models, warroom.config, warroom.policy.escalation  # shared with workflows: passed through

def fresh():
    for name in [m for m in sys.modules if m == "workflows" or m.startswith("workflows.")]:
        del sys.modules[name]
    __import__("workflows.registry")

fresh()  # the first import is the worker's own, at start
started = time.perf_counter()
for _ in range({runs}):
    fresh()
print((time.perf_counter() - started) * 1000 / {runs})
"""


def measure(root: Path, runs: int, install: bool, bytecode: bool) -> float:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    if not bytecode:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    code = textwrap.dedent(PROBE.format(root=str(root), install=install, runs=runs))
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return float(done.stdout.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=200, help="fresh imports per mode (default 200)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sandbox-import-") as tmp:
        # A copy of the code, so the `bytecode` mode's .pyc files never land in the checkout.
        root = Path(tmp)
        for part in ("warroom", "workflows", "activities"):
            shutil.copytree(ROOT / part, root / part, ignore=shutil.ignore_patterns("__pycache__"))
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(root / "workflows")], check=True)
        bytecode = measure(root, args.runs, install=False, bytecode=True)
        for pyc in (root / "workflows").rglob("__pycache__"):
            shutil.rmtree(pyc)
        baseline = measure(root, args.runs, install=False, bytecode=False)
        once = measure(root, args.runs, install=True, bytecode=False)
    print(f"fresh import of the workflow package, {args.runs} runs per mode (ms per run, ratio to no bytecode)")
    for label, ms in (("no bytecode (baseline)", baseline), ("bytecode (.pyc)", bytecode), ("compiled once", once)):
        print(f"  {label:<24} {ms:8.2f} ms   {ms / baseline:5.2f}x")


if __name__ == "__main__":
    main()
