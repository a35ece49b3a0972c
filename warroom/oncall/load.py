"""Reading `WARROOM_ONCALL`: the YAML file, its iCal feeds (files or URLs) and Backstage catalogs.

The only module of `warroom.oncall` that does I/O. Every problem is one `OncallError` naming the
file and the field, raised at start, before anything is paged.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from warroom.errors import ConfigInvalid
from warroom.oncall.directory import Directory
from warroom.oncall.models import OncallConfig

ONCALL_ENV = "WARROOM_ONCALL"
MAX_FILE_BYTES = 2_000_000


class OncallError(ConfigInvalid):
    """The on-call file, a feed or a catalog cannot be used."""


def parse_oncall(text: str, source: str = "<text>") -> OncallConfig:
    """YAML text → a validated OncallConfig, or OncallError listing each problem by field."""
    raise NotImplementedError


def load_directory(path: str | Path, *, fetch: Callable[[str], str] | None = None) -> Directory:
    """The file, its feeds and catalogs (relative paths from the file's folder). `fetch(url)` reads
    a feed URL (default: httpx with a timeout and a size limit)."""
    raise NotImplementedError
