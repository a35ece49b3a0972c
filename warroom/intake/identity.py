"""Alert group → incident identity: the workflow id every repeat of the group lands on.

The raw group key comes from the sender (Alertmanager's groupKey, PagerDuty's incident_key,
Opsgenie's alias, Grafana's groupKey, the generic `group_key`) and is untrusted. The id keeps a
readable slug of it in [a-z0-9-] and adds a hash of the raw key whenever the slug is not the key
itself (unsafe characters, upper case, truncation). A raw key that already ends like a hashed id
is hashed too, so two different keys can never share an incident by construction.
"""

from __future__ import annotations

import hashlib
import re

from warroom.ids import incident_workflow_id

MAX_INCIDENT_ID = 80
"""IncidentInput allows 100; 80 leaves room for the phase children's `--<phase>` suffix in ids."""

_SAFE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_HASHED = re.compile(r".*-[0-9a-f]{16}")
_UNSAFE_RUN = re.compile(r"[^a-z0-9]+")
_DIGEST_CHARS = 16


def safe_key(raw: str, limit: int = MAX_INCIDENT_ID) -> str:
    """`raw` itself when it is short and safe, else `<slug>-<16 hex of sha256(raw)>`."""
    if len(raw) <= limit and _SAFE.fullmatch(raw) and not _HASHED.fullmatch(raw):
        return raw
    digest = hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()[:_DIGEST_CHARS]
    slug = _UNSAFE_RUN.sub("-", raw.lower()).strip("-")
    slug = slug[: max(limit - _DIGEST_CHARS - 1, 0)].rstrip("-") or "k"
    return f"{slug}-{digest}"


def incident_id(source: str, group_key: str) -> str:
    """`<source>-<safe group key>`: sources never share an incident by accident."""
    if not _SAFE.fullmatch(source) or "-" in source:
        raise ValueError(f"source names are single [a-z0-9] words, got {source!r}")
    return f"{source}-{safe_key(group_key, MAX_INCIDENT_ID - len(source) - 1)}"


def workflow_id(source: str, group_key: str) -> str:
    return incident_workflow_id(incident_id(source, group_key))
