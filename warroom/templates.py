"""Message templates (Jinja2). A folder of *.j2 files (the runbook's `templates_dir`, or
$WARROOM_TEMPLATES) overrides the built-in ones by name; what it lacks falls back to the built-ins."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

from warroom.enums import parse_duration, spell_duration

BUILTIN = Path(__file__).with_name("templates")


@lru_cache(maxsize=4)
def _environment(override: str | None) -> jinja2.Environment:
    folders = [override, str(BUILTIN)] if override else [str(BUILTIN)]
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(folders),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # plain-text chat and status messages; HTML pages escape on their own
        keep_trailing_newline=False,
    )
    env.filters["spelled"] = _spelled
    return env


def _spelled(duration: str) -> str:
    """`{{ internal_every | spelled }}`: "15m" as the runbook's scripts write it, "15 minutes"."""
    return spell_duration(parse_duration(duration))


def render(name: str, context: dict[str, Any], override_dir: str | None = None) -> str:
    """Render template `name` (without .j2); a missing variable is an error, not an empty string."""
    env = _environment(override_dir or os.environ.get("WARROOM_TEMPLATES"))
    return env.get_template(f"{name}.j2").render(**context).strip()


def template_names() -> list[str]:
    return sorted(p.stem for p in BUILTIN.glob("*.j2"))
