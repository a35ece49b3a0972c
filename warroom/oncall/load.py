"""Reading `WARROOM_ONCALL`: the YAML file, its iCal feeds (files or URLs) and Backstage catalogs.

The only module of `warroom.oncall` that does I/O. Every problem is one `OncallError` naming the
file and the field, raised at start, before anything is paged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path, PurePath

import httpx
import yaml
from pydantic import ValidationError

from warroom.errors import ConfigInvalid
from warroom.oncall.backstage import MAX_CATALOG_BYTES, owners_from_catalog
from warroom.oncall.directory import Directory
from warroom.oncall.ical import MAX_FEED_BYTES, IcalFeed
from warroom.oncall.models import OncallConfig, OncallInputError

ONCALL_ENV = "WARROOM_ONCALL"
MAX_FILE_BYTES = 2_000_000
FETCH_TIMEOUT_SECONDS = 10.0


class OncallError(ConfigInvalid):
    """The on-call file, a feed or a catalog cannot be used."""


def _describe(error: ValidationError, source: str) -> str:
    """One line per problem, by field (a cross-reference check's problems each on its own line)."""
    lines = [f"invalid on-call file {source}:"]
    for problem in error.errors():
        where = ".".join(str(part) for part in problem["loc"]) or "(top level)"
        message = str(problem["msg"]).removeprefix("Value error, ")
        lines.extend(f"  {where}: {part}" for part in message.split("; "))
    return "\n".join(lines)


def parse_oncall(text: str, source: str = "<text>") -> OncallConfig:
    """YAML text → a validated OncallConfig, or OncallError listing each problem by field."""
    if len(text) > MAX_FILE_BYTES or len(text.encode("utf-8", "replace")) > MAX_FILE_BYTES:
        raise OncallError(f"invalid on-call file {source}: larger than {MAX_FILE_BYTES} bytes")
    if "\x00" in text:
        raise OncallError(f"invalid on-call file {source}: contains a NUL character")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise OncallError(f"invalid on-call file {source}: not YAML: {str(exc)[:300]}") from None
    except RecursionError:
        raise OncallError(f"invalid on-call file {source}: nested too deeply") from None
    if not isinstance(data, dict):
        raise OncallError(f"invalid on-call file {source}: expected a mapping at the top level")
    try:
        return OncallConfig.model_validate(data)
    except ValidationError as exc:
        raise OncallError(_describe(exc, source)) from None
    except RecursionError:
        raise OncallError(f"invalid on-call file {source}: nested too deeply") from None


def _read(path: Path, limit: int, what: str) -> str:
    try:
        size = path.stat().st_size
        if size > limit:
            raise OncallError(f"{what}: {path} is larger than {limit} bytes")
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        raise OncallError(f"{what}: cannot read {path}: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise OncallError(f"{what}: {path} is larger than {limit} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise OncallError(f"{what}: {path} is not UTF-8 text") from None


def _beside(folder: Path, name: str, what: str) -> Path:
    """A path from the file (relative to its folder); `..` and NUL are refused."""
    if "\x00" in name or ".." in PurePath(name).parts or not name.strip():
        raise OncallError(f"{what}: {name[:200]!r} is not a usable path (no '..', no NUL)")
    return folder / name


def fetch_url(url: str, limit: int = MAX_FEED_BYTES) -> str:
    """GET `url` with a timeout and a size limit (read as a stream, never whole)."""
    chunks: list[bytes] = []
    size = 0
    try:
        with httpx.stream("GET", url, timeout=FETCH_TIMEOUT_SECONDS, follow_redirects=True) as response:
            response.raise_for_status()
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > limit:
                    raise OncallInputError(f"{url} is larger than {limit} bytes")
                chunks.append(chunk)
    except httpx.HTTPError as exc:
        raise OncallInputError(f"cannot fetch {url}: {str(exc)[:200]}") from None
    try:
        return b"".join(chunks).decode("utf-8")
    except UnicodeDecodeError:
        raise OncallInputError(f"{url} is not UTF-8 text") from None


def load_directory(path: str | Path, *, fetch: Callable[[str], str] | None = None) -> Directory:
    """The file, its feeds and catalogs (relative paths from the file's folder). `fetch(url)` reads
    a feed URL (default: httpx with a timeout and a size limit)."""
    path = Path(path)
    config = parse_oncall(_read(path, MAX_FILE_BYTES, f"on-call file {path}"), str(path))
    folder = path.parent
    feeds = {
        schedule.name: load_feed(config, number, path, fetch)
        for number, schedule in enumerate(config.schedules)
        if schedule.ical is not None
    }
    owners = {service: team.name for team in config.teams for service in team.services}
    teams = {team.name for team in config.teams}
    for number, catalog in enumerate(config.backstage):
        what = f"on-call file {path}: backstage.{number}"
        source = _beside(folder, catalog, what)
        try:
            found = owners_from_catalog(_read(source, MAX_CATALOG_BYTES, what), str(source))
        except OncallInputError as exc:
            raise OncallError(f"{what}: {exc}") from None
        for service, team in sorted(found.items()):
            if team not in teams:
                raise OncallError(
                    f"{what}: catalog {source}: Component {service} is owned by {team!r}, not a team in {path}"
                )
            owners.setdefault(service, team)
    return Directory(config=config, feeds=feeds, owners=owners, source=path)


def load_feed(config: OncallConfig, number: int, path: Path, fetch: Callable[[str], str] | None = None) -> IcalFeed:
    """Schedule `number`'s iCal feed, read from its file (beside `path`) or URL, or OncallError."""
    schedule = config.schedules[number]
    assert schedule.ical is not None, f"schedule {schedule.name} has no ical source"
    what = f"on-call file {path}: schedules.{number}.ical ({schedule.name})"
    try:
        if schedule.ical.file is not None:
            source = _beside(path.parent, schedule.ical.file, what)
            text = _read(source, MAX_FEED_BYTES, what)
            name = str(source)
        else:
            assert schedule.ical.url is not None
            name = schedule.ical.url
            text = (fetch or fetch_url)(name)
        return IcalFeed.parse(text, name, config.people)
    except OncallInputError as exc:
        raise OncallError(f"{what}: {exc}") from None


def refresh_feeds(
    directory: Directory, due: Iterable[str], fetch: Callable[[str], str] | None = None
) -> tuple[Directory, list[str]]:
    """`directory` with the feeds of the `due` schedules read again, and one problem per feed that
    could not be: that schedule keeps the feed it had, so a failed fetch never empties a rotation."""
    if directory.source is None:
        return directory, []
    feeds = dict(directory.feeds)
    problems: list[str] = []
    for number, schedule in enumerate(directory.config.schedules):
        if schedule.name in due and schedule.ical is not None:
            try:
                feeds[schedule.name] = load_feed(directory.config, number, directory.source, fetch)
            except OncallError as exc:
                problems.append(str(exc))
    return replace(directory, feeds=feeds), problems
