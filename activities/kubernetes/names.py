"""Names from alerts, checked before any URL path or selector is built from them.

A refusal is a non-retryable `InvalidName` (or `InvalidRequest` for a number out of range) that
quotes the value escaped and cut, fit for a workflow's history.
"""

from __future__ import annotations

import re

from activities.kubernetes.errors import KubeInvalidName, KubeInvalidRequest

# Checked with fullmatch: `re.match` with `$` also accepts a trailing newline ("web\n").
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LABEL_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")
KINDS = re.compile(r"^[A-Z][A-Za-z0-9]{0,62}$")
ROLLBACK_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,199}$")


def shown(value: object) -> str:
    """A refused value as the error quotes it: escaped, and cut, so a megabyte name is not the
    megabyte failure message recorded in the workflow's history."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def dns_label(value: str, what: str) -> str:
    if not isinstance(value, str) or len(value) > 63 or not DNS_LABEL.fullmatch(value):
        raise KubeInvalidName(f"{what} {shown(value)} is not a DNS-1123 label (a-z, 0-9, '-', at most 63)")
    return value


def dns_subdomain(value: str, what: str) -> str:
    if not isinstance(value, str) or len(value) > 253 or not DNS_SUBDOMAIN.fullmatch(value):
        raise KubeInvalidName(f"{what} {shown(value)} is not a DNS-1123 subdomain (a-z, 0-9, '-', '.', at most 253)")
    return value


def label_selector(labels: dict[str, str]) -> str:
    parts = []
    for key, value in sorted(labels.items()):
        prefix, _, name = key.rpartition("/")
        if (
            (prefix and (len(prefix) > 253 or not DNS_SUBDOMAIN.fullmatch(prefix)))
            or len(name) > 63
            or not LABEL_NAME.fullmatch(name)
        ):
            raise KubeInvalidName(f"label key {shown(key)} is not a valid qualified name")
        if len(value) > 63 or not LABEL_VALUE.fullmatch(value):
            raise KubeInvalidName(f"label value {shown(value)} is not a valid label value")
        parts.append(f"{key}={value}")
    return ",".join(parts)


def positive(value: float | int, what: str, upper: float) -> None:
    if not 0 < value <= upper:
        raise KubeInvalidRequest(f"{what} must be in (0, {upper}], got {value}")
