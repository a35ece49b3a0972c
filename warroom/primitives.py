"""The primitive types every boundary model shares: who acted, a service's name, bounded text.

Below `warroom.models` and `warroom.step_models` so both can use them; `warroom.models`
re-exports them, where callers have always imported them from.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints

_PERSON = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$")
_KEY = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")


def _person(value: str) -> str:
    if not _PERSON.fullmatch(value):
        raise ValueError("a person is 1-64 characters: letters, digits and . _ @ + - (e.g. alice or alice@example.com)")
    return value


def _key(value: str) -> str:
    if not _KEY.fullmatch(value):
        raise ValueError("must be 1-63 characters of a-z, 0-9, '.', '_' or '-', starting with a letter or digit")
    return value


Person = Annotated[str, AfterValidator(_person)]
"""Who did something: a user name or e-mail, safe for logs, channels and search attributes."""
ServiceName = Annotated[str, StringConstraints(to_lower=True, strip_whitespace=True), AfterValidator(_key)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]

SYSTEM = "warroom"
"""The actor recorded for what warroom does by itself (timers, automatic posts)."""


class Model(BaseModel):
    """extra="forbid": a misspelt field is an error, not a silently ignored one."""

    model_config = ConfigDict(extra="forbid")
