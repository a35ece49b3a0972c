"""Service ownership from Backstage: `kind: Component` entities' `spec.owner`.

A catalog-info.yaml holds one or more YAML documents. A Component's `metadata.name` is the
service; `spec.owner` is an entity reference (`payments`, `group:payments`, `group:default/payments`)
whose name is the team. Other kinds are skipped. Names are checked like every service and team name.
"""

from __future__ import annotations


def owners_from_catalog(text: str, source: str) -> dict[str, str]:
    """service → team name. Raises OncallInputError naming `source` and the entity for a bad entry."""
    raise NotImplementedError
