"""The decision tree's first question, "What error codes?", answered from status-code classes.

Each class (5xx, 4xx, timeout) is read as its share of the service's requests; the tree follows
the class with the largest share. Nothing is guessed: a class without a reading does not compete,
a tie between the largest shares is no answer, and with no errors at all the class is "unknown"
(the tree then walks the server-errors branch, saying so in its path).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from warroom.config import ErrorClass

TreeErrorClass = Literal["5xx", "4xx", "timeout", "unknown"]
ORDER: tuple[ErrorClass, ...] = ("5xx", "4xx", "timeout")


def dominant_error_class(shares: Mapping[ErrorClass, float | None]) -> TreeErrorClass:
    """The class with the strictly largest share above zero; "unknown" when none is, or two tie."""
    read = sorted(((share, cls) for cls, share in shares.items() if share is not None and share > 0), reverse=True)
    if not read or (len(read) > 1 and read[0][0] == read[1][0]):
        return "unknown"
    return read[0][1]


def describe_error_classes(shares: Mapping[ErrorClass, float | None]) -> str:
    """The readings as evidence, e.g. "error classes: 5xx 0.5%, 4xx 12.0%, timeout no reading"."""
    parts = [f"{cls} {'no reading' if shares[cls] is None else f'{shares[cls]:.1%}'}" for cls in ORDER if cls in shares]
    return "error classes: " + (", ".join(parts) if parts else "none configured")
