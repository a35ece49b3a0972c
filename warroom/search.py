"""warroom's search attributes: registered on the server, kept current by the incident workflow.

`temporal workflow list --query "IncidentSeverity='P1' AND IncidentPhase='command'"` works
once they are registered (`make run` does it; `warroom search-attributes` prints the command).
"""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

SEVERITY = SearchAttributeKey.for_keyword("IncidentSeverity")
SERVICE = SearchAttributeKey.for_keyword("IncidentService")
PHASE = SearchAttributeKey.for_keyword("IncidentPhase")
COMMANDER = SearchAttributeKey.for_keyword("IncidentCommander")

ALL = (SEVERITY, SERVICE, PHASE, COMMANDER)


def dev_server_flags() -> list[str]:
    """`temporal server start-dev` arguments that register every attribute as Keyword."""
    flags: list[str] = []
    for key in ALL:
        flags += ["--search-attribute", f"{key.name}=Keyword"]
    return flags
