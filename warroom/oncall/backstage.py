"""Service ownership from Backstage: `kind: Component` entities' `spec.owner`.

A catalog-info.yaml holds one or more YAML documents. A Component's `metadata.name` is the
service; `spec.owner` is an entity reference (`payments`, `group:payments`, `group:default/payments`)
whose name is the team. Other kinds are skipped. Names are checked like every service and team name.
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from pydantic import TypeAdapter, ValidationError

from warroom.oncall.models import Key, OncallInputError
from warroom.primitives import ServiceName

MAX_CATALOG_BYTES = 2_000_000
MAX_DOCUMENTS = 10_000
_OWNER_REF = re.compile(r"^(?:(?P<kind>[A-Za-z]+):)?(?:(?P<namespace>[a-z0-9][a-z0-9._-]{0,62})/)?(?P<name>[^:/]+)$")
_SERVICE: TypeAdapter[str] = TypeAdapter(ServiceName)
_TEAM: TypeAdapter[str] = TypeAdapter(Key)


def owners_from_catalog(text: str, source: str) -> dict[str, str]:
    """service → team name. Raises OncallInputError naming `source` and the entity for a bad entry."""
    if len(text) > MAX_CATALOG_BYTES or len(text.encode("utf-8", "replace")) > MAX_CATALOG_BYTES:
        raise OncallInputError(f"catalog {source}: larger than {MAX_CATALOG_BYTES} bytes")
    if "\x00" in text:
        raise OncallInputError(f"catalog {source}: contains a NUL character")
    owners: dict[str, str] = {}
    try:
        for number, document in enumerate(yaml.safe_load_all(text), start=1):
            if number > MAX_DOCUMENTS:
                raise OncallInputError(f"catalog {source}: more than {MAX_DOCUMENTS} documents")
            if (entry := _component(document, source, number)) is None:
                continue
            service, team = entry
            if service in owners and owners[service] != team:
                raise OncallInputError(
                    f"catalog {source}: Component {service} is owned by both {owners[service]} and {team}"
                )
            owners[service] = team
    except yaml.YAMLError as exc:
        raise OncallInputError(f"catalog {source}: not YAML: {str(exc)[:300]}") from None
    except RecursionError:
        raise OncallInputError(f"catalog {source}: nested too deeply") from None
    return owners


def _component(document: Any, source: str, number: int) -> tuple[str, str] | None:
    """(service, team) of a Component document; None for another kind or an empty document."""
    if document is None:
        return None
    if not isinstance(document, dict):
        raise OncallInputError(f"catalog {source}: document {number} is not a mapping")
    if document.get("kind") != "Component":
        return None
    metadata, spec = document.get("metadata"), document.get("spec")
    raw_name = metadata.get("name") if isinstance(metadata, dict) else None
    shown = raw_name[:80] if isinstance(raw_name, str) else type(raw_name).__name__  # never str() a hostile tree
    where = f"catalog {source}: document {number} (Component {shown!r})"
    if not isinstance(raw_name, str):
        raise OncallInputError(f"{where}: metadata.name is missing or not a string")
    try:
        service = _SERVICE.validate_python(raw_name)
    except ValidationError:
        raise OncallInputError(f"{where}: metadata.name is not a service name (a-z, 0-9, . _ -)") from None
    owner = spec.get("owner") if isinstance(spec, dict) else None
    if not isinstance(owner, str):
        raise OncallInputError(f"{where}: spec.owner is missing or not a string")
    match = _OWNER_REF.fullmatch(owner.strip())
    if match is None or (match["kind"] is not None and match["kind"].lower() != "group"):
        raise OncallInputError(f"{where}: spec.owner {owner[:80]!r} is not a group reference (group:default/payments)")
    try:
        team = _TEAM.validate_python(match["name"])
    except ValidationError:
        raise OncallInputError(f"{where}: spec.owner {owner[:80]!r} is not a team name (a-z, 0-9, . _ -)") from None
    return service, team
