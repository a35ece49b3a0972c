"""Compile the workflow modules once per worker process, not once per workflow run.

The SDK's sandbox re-imports the `workflows` package for every workflow run it creates (that is
how each run gets fresh module state). Each import reads the module's cached bytecode, or, where
there is none, compiles the source again: a checkout run with `PYTHONDONTWRITEBYTECODE=1` (common
in containers and CI) compiled every workflow module at every incident start, about a tenth of the
worker's CPU when 200 incidents were declared together (bench/reliability_bench.py --timers).

`install()` adds one import finder for the `workflows` package whose loader keeps each module's
code object, keyed by file, modification time and size. A code object is immutable: every run still
executes it into its own fresh module, so the sandbox's isolation is unchanged. The source is
compiled once, and `PYTHONDONTWRITEBYTECODE` is respected (nothing is written to disk).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec, PathFinder, SourceFileLoader
from types import CodeType, ModuleType

PACKAGES = ("workflows",)
"""What the sandbox re-imports per run; the shared domain modules are passed through instead."""

_codes: dict[tuple[str, int, int], CodeType] = {}


class _CompiledOnceLoader(SourceFileLoader):
    """A source loader that keeps what it compiled (or read from a .pyc) for the next import."""

    def get_code(self, fullname: str) -> CodeType:
        path = self.get_filename(fullname)
        stat = os.stat(path)
        key = (path, stat.st_mtime_ns, stat.st_size)
        code = _codes.get(key)
        if code is None:
            loaded = super().get_code(fullname)
            assert loaded is not None, f"{path} has no code"  # a source file always has
            code = _codes[key] = loaded
        return code


class CompiledOnceFinder:
    """Finds the modules of PACKAGES as Python's path finder does, loading them with the caching loader."""

    @classmethod
    def find_spec(
        cls, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname.partition(".")[0] not in PACKAGES:
            return None
        spec = PathFinder.find_spec(fullname, path, target)
        if spec is None or not isinstance(spec.loader, SourceFileLoader) or spec.origin is None:
            return spec
        spec.loader = _CompiledOnceLoader(fullname, spec.origin)
        return spec


def install() -> None:
    """Put the finder first on the import path, once per process."""
    if CompiledOnceFinder not in sys.meta_path:
        sys.meta_path.insert(0, CompiledOnceFinder)


def cached_modules() -> int:
    """How many module code objects are held (for tests and the bench)."""
    return len(_codes)
