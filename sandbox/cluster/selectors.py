"""Label and field selectors as the API server parses them (k8s.io/apimachinery labels and fields)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sandbox.cluster.util import bad_request

_KEY = re.compile(
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
)
_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str  # =, !=, in, notin, exists, !, gt, lt
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.op == "=":
            return present and value == self.values[0]
        if self.op == "!=":
            return not present or value != self.values[0]
        if self.op == "in":
            return present and value in self.values
        if self.op == "notin":
            return not present or value not in self.values
        if self.op == "exists":
            return present
        if self.op == "!":
            return not present
        try:
            number, bound = int(value or ""), int(self.values[0])
        except ValueError:
            return False
        return number > bound if self.op == "gt" else number < bound


def _split_top(text: str) -> list[str]:
    """Split on commas outside parentheses."""
    parts, depth, current = [], 0, []
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]


def _check(key: str, values: tuple[str, ...], text: str) -> None:
    if not _KEY.match(key) or len(key.split("/")[-1]) > 63:
        raise bad_request(f"unable to parse requirement: invalid label key {key!r} in {text!r}")
    for value in values:
        if len(value) > 63 or not _VALUE.match(value):
            raise bad_request(f"unable to parse requirement: invalid label value {value!r} in {text!r}")


def parse_label_selector(text: str | None) -> list[Requirement]:
    if not text:
        return []
    requirements = []
    for part in _split_top(text):
        set_match = re.match(r"^(\S+)\s+(in|notin)\s*\((.*)\)$", part)
        if set_match:
            key, op, raw = set_match.groups()
            values = tuple(v.strip() for v in raw.split(",") if v.strip())
            requirement = Requirement(key, op, values)
        elif part.startswith("!"):
            requirement = Requirement(part[1:].strip(), "!")
        else:
            match = re.match(r"^([^=!<>\s]+)\s*(==|=|!=|>|<)\s*(.*)$", part)
            if match:
                key, op, value = match.groups()
                op = {"==": "=", ">": "gt", "<": "lt"}.get(op, op)
                requirement = Requirement(key, op, (value.strip(),))
            else:
                requirement = Requirement(part, "exists")
        numeric = requirement.values if requirement.op not in ("gt", "lt") else ()
        _check(requirement.key, numeric, text)
        requirements.append(requirement)
    return requirements


def labels_match(requirements: list[Requirement], labels: Mapping[str, str] | None) -> bool:
    return all(r.matches(labels or {}) for r in requirements)


def selector_from_spec(selector: Mapping[str, Any] | None) -> list[Requirement]:
    """A metav1.LabelSelector (matchLabels, matchExpressions) as requirements."""
    requirements = []
    for key, value in sorted(((selector or {}).get("matchLabels") or {}).items()):
        requirements.append(Requirement(key, "=", (value,)))
    for expr in (selector or {}).get("matchExpressions") or []:
        op = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}[expr["operator"]]
        requirements.append(Requirement(expr["key"], op, tuple(expr.get("values") or ())))
    return requirements


def selector_string(selector: Mapping[str, Any] | None) -> str:
    """The string form of a LabelSelector, requirements sorted by key (as labels.Selector.String())."""
    parts = []
    for r in sorted(selector_from_spec(selector), key=lambda r: r.key):
        if r.op == "=":
            parts.append(f"{r.key}={r.values[0]}")
        elif r.op in ("in", "notin"):
            parts.append(f"{r.key} {r.op} ({','.join(sorted(r.values))})")
        elif r.op == "exists":
            parts.append(r.key)
        else:
            parts.append(f"!{r.key}")
    return ",".join(parts)


# --- field selectors -----------------------------------------------------------------------

_ESCAPES = {"\\\\": "\\", "\\,": ",", "\\=": "="}


def _unescape(value: str) -> str:
    return re.sub(r"\\[\\,=]", lambda m: _ESCAPES[m.group(0)], value)


def parse_field_selector(
    text: str | None, supported: Mapping[str, Callable[[dict[str, Any]], Any]]
) -> list[tuple[str, str, str]]:
    """Terms (field, op, value); a field the resource does not index is a 400, as on a real server."""
    if not text:
        return []
    terms = []
    for part in re.split(r"(?<!\\),", text):
        if not part:
            continue
        match = re.match(r"^(.+?)(==|!=|=)(.*)$", part)
        if not match:
            raise bad_request(f"invalid selector: '{text}'; can't understand '{part}'")
        field, op, value = match.groups()
        if field not in supported:
            raise bad_request(f"field label not supported: {field}")
        terms.append((field, "!=" if op == "!=" else "=", _unescape(value)))
    return terms


def fields_match(
    terms: list[tuple[str, str, str]], obj: dict[str, Any], supported: Mapping[str, Callable[[dict[str, Any]], Any]]
) -> bool:
    for field, op, value in terms:
        actual = supported[field](obj)
        actual = "" if actual is None else str(actual)
        if (actual == value) != (op == "="):
            return False
    return True
