"""Checks every configured value passes before warroom uses it: no control characters, bounded
lengths, plain names, http(s) URLs, JSON objects, secrets that can be sent in a header.

Pure functions and annotated types, shared by the settings of every process (Temporal connection,
intake, channels), so that a bad WARROOM_* value is refused at start with the variable named.
"""

from __future__ import annotations

import json
import re
from pathlib import Path, PurePath
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, SecretStr, StringConstraints

PATH_MAX = 4096
"""Linux's PATH_MAX: a longer path cannot be opened anyway."""
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_ADDRESS = re.compile(r"(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?):(?P<port>[0-9]{1,5})")
_DNS_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


def no_control(value: str) -> str:
    """Refuse newlines, NUL and other control characters: no setting needs them, and in a header,
    a log line or a command line they change its meaning."""
    if _CONTROL.search(value):
        raise ValueError("contains a control character (newline, NUL, ...)")
    return value


def utf8(value: str) -> str:
    """Refuse what undecodable bytes in the environment become (lone surrogates, by surrogateescape):
    a header or a gRPC field can never carry them, so the first use would fail with a traceback."""
    if _SURROGATE.search(value):
        raise ValueError("is not valid UTF-8")
    return value


def _path_text(value: Any) -> Any:
    if isinstance(value, (str, PurePath)):
        text = str(value)
        if len(text) > PATH_MAX:
            raise ValueError(f"a path of at most {PATH_MAX} characters")
        no_control(text)
    return value


def _temporal_name(value: str) -> str:
    if not _NAME.fullmatch(value):
        raise ValueError("use letters, digits, '.', '_' and '-', starting with a letter or digit")
    return value


def _address(value: str) -> str:
    match = _ADDRESS.fullmatch(value)
    if not match or not 0 < int(match["port"]) <= 65535:
        raise ValueError("must be host:port, e.g. temporal.internal:7233 or 127.0.0.1:7233")
    return value


def _http_url(value: str) -> str:
    from urllib.parse import urlsplit

    no_control(value)
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or " " in value:
        raise ValueError("must be an http:// or https:// URL")
    return value


def _dns_label(value: str) -> str:
    if not _DNS_LABEL.fullmatch(value):
        raise ValueError("must be a DNS-1123 label (a-z, 0-9 and '-', at most 63)")
    return value


def json_object(value: Any) -> Any:
    """JSON text from the environment → a dict, with the parse error (not a traceback) on failure."""
    if isinstance(value, (str, bytes)):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise ValueError(f"not valid JSON: {exc}") from None
    return value


MAX_SECRET = 4096
"""No token, password or signing secret is longer; a megabyte one is a mistake or an attack."""


def sendable_secret(value: object, limit: int = MAX_SECRET) -> object:
    """Refuse a secret no header or login can carry (a newline, NUL, undecodable bytes, over `limit`
    characters) at start, naming the variable but never echoing the value; other values pass.
    For `field_validator("*", mode="after")` on settings that hold SecretStr fields."""
    if isinstance(value, SecretStr):
        secret = value.get_secret_value()
        if len(secret) > limit:
            raise ValueError(f"at most {limit} characters")
        no_control(secret)
        utf8(secret)
    return value


ConfigPath = Annotated[Path, BeforeValidator(_path_text)]
"""A file or folder path: any characters a file system takes (`..` too), bar control characters."""
Text = Annotated[str, StringConstraints(max_length=1024), AfterValidator(no_control)]
"""A free-form one-line value (a name, a context, a host)."""
TemporalName = Annotated[str, StringConstraints(min_length=1, max_length=255), AfterValidator(_temporal_name)]
"""A namespace or task queue: it reaches Temporal, logs and the commands `search-attributes` prints."""
HttpUrl = Annotated[str, StringConstraints(max_length=2048), AfterValidator(_http_url)]
DnsLabel = Annotated[str, StringConstraints(max_length=63), AfterValidator(_dns_label)]
TemporalAddress = Annotated[str, StringConstraints(max_length=262), AfterValidator(_address)]
