"""warroom's search attributes: registered on the server, kept current by the incident workflow.

`temporal workflow list --query "IncidentSeverity='P1' AND IncidentPhase='command'"` works
once they are registered (`make run` does it; `warroom search-attributes` prints the command).
This module is their one definition: the dev server's flags, the registration commands and the
values an incident starts with derive from it, and tests/test_compose.py checks that
docker-compose.yml registers the same ones.
"""

from __future__ import annotations

import shlex

from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

from warroom.enums import Phase, Severity

SEVERITY = SearchAttributeKey.for_keyword("IncidentSeverity")
SERVICE = SearchAttributeKey.for_keyword("IncidentService")
PHASE = SearchAttributeKey.for_keyword("IncidentPhase")
COMMANDER = SearchAttributeKey.for_keyword("IncidentCommander")

ALL = (SEVERITY, SERVICE, PHASE, COMMANDER)

UNASSESSED = "unassessed"
"""IncidentSeverity before the runbook has assessed one."""
NO_COMMANDER = "none"
"""IncidentCommander before anyone takes command."""


def type_name(key: SearchAttributeKey[str]) -> str:
    """The type as `temporal` spells it on the command line: Keyword."""
    return key.indexed_value_type.name.title()


def dev_server_flags() -> list[str]:
    """`temporal server start-dev` arguments that register every attribute."""
    flags: list[str] = []
    for key in ALL:
        flags += ["--search-attribute", f"{key.name}={type_name(key)}"]
    return flags


def create_commands(address: str, namespace: str) -> list[str]:
    """The `temporal operator search-attribute create` command for each attribute, quoted for a shell."""
    return [
        f"temporal operator search-attribute create --address {shlex.quote(address)} "
        f"--namespace {shlex.quote(namespace)} --name {key.name} --type {type_name(key)}"
        for key in ALL
    ]


def initial(
    service: str, phase: Phase, severity: Severity | None = None, commander: str | None = None
) -> TypedSearchAttributes:
    """The values an incident starts with; the workflow keeps them current from then on."""
    return TypedSearchAttributes(
        [
            SearchAttributePair(SEVERITY, severity.value if severity else UNASSESSED),
            SearchAttributePair(SERVICE, service),
            SearchAttributePair(PHASE, phase.value),
            SearchAttributePair(COMMANDER, commander or NO_COMMANDER),
        ]
    )
