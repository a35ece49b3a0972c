"""Reading a runbook file: YAML in, a validated `RunbookConfig` out, or one error naming the field.

Kept apart from the config models (`warroom.config`) so that policies and workflows, which use the
models, never import a file reader, and so that resolving a country's holidays (which needs the
PIR calendar) does not tie the models to the policies.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import yaml
from pydantic import ValidationError

from warroom.config import RunbookConfig
from warroom.errors import RunbookError
from warroom.policy.http_request import HttpTemplate
from warroom.policy.pir import holiday_calendar

DEFAULT_RUNBOOK = Path(__file__).with_name("runbook.default.yaml")
RUNBOOK_ENV = "WARROOM_RUNBOOK"

__all__ = ["DEFAULT_RUNBOOK", "RUNBOOK_ENV", "RunbookError", "load_runbook", "parse_runbook"]


def _describe(error: ValidationError, source: str) -> str:
    lines = [f"invalid runbook {source}:"]
    for problem in error.errors():
        where = ".".join(str(part) for part in problem["loc"]) or "(top level)"
        lines.append(f"  {where}: {problem['msg']}")
    return "\n".join(lines)


def parse_runbook(text: str, source: str = "<text>") -> RunbookConfig:
    """Validate YAML text as a runbook config, raising RunbookError with a readable message."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RunbookError(f"invalid runbook {source}: not YAML: {exc}") from None
    if not isinstance(data, dict):
        raise RunbookError(f"invalid runbook {source}: expected a mapping at the top level")
    try:
        config = RunbookConfig.model_validate(data)
    except ValidationError as exc:
        raise RunbookError(_describe(exc, source)) from None
    # Here, not in the model: incidents already running carry their runbook and must still load.
    if conflicts := config.customer_comms_conflicts():
        raise RunbookError("\n  ".join([f"invalid runbook {source}:", *conflicts]))
    _check_http_steps(config, source)
    return _with_country_holidays(config, source)


def _check_http_steps(config: RunbookConfig, source: str) -> None:
    """Each HTTP step's template: a fixed origin, placeholders only where a value cannot move the
    request elsewhere, each one a declared parameter (`warroom.policy.http_request`)."""
    for entry in config.steps.all():
        if entry.kind != "http" or entry.http is None:
            continue
        try:
            HttpTemplate.load(entry.http, [p.name for p in entry.params])
        except ValidationError as exc:
            problems = "; ".join(str(p["msg"]) for p in exc.errors())
            raise RunbookError(f"invalid runbook {source}: steps.entries.{entry.name}.http: {problems}") from None


def _with_country_holidays(config: RunbookConfig, source: str) -> RunbookConfig:
    """Resolve the country's holidays now, into `extra_holidays`.

    The `holidays` package reads locale files, which the workflow sandbox forbids; incidents carry
    the resolved dates instead (this year and the next), so PIR due dates stay deterministic.
    """
    retro = config.retrospective
    if not retro.holidays_country:
        return config
    year = datetime.now(UTC).year
    try:
        calendar = holiday_calendar(retro, range(year, year + 2))
    except ValueError as exc:
        raise RunbookError(f"invalid runbook {source}:\n  {exc}") from None
    resolved = retro.model_copy(update={"extra_holidays": sorted(calendar)})
    return config.model_copy(update={"retrospective": resolved})


def load_runbook(path: str | os.PathLike[str] | None = None) -> RunbookConfig:
    """Load the runbook from `path`, else $WARROOM_RUNBOOK, else the shipped default."""
    chosen = Path(path or os.environ.get(RUNBOOK_ENV) or DEFAULT_RUNBOOK)
    try:
        text = chosen.read_text(encoding="utf-8")
    except OSError as exc:
        raise RunbookError(f"cannot read runbook {chosen}: {exc.strerror or exc}") from None
    return parse_runbook(text, str(chosen))
