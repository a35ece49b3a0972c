"""The roster's client side: overrides through the `Roster` workflow, for the CLI and the worker.

Every write is update-with-start on `roster_id(task_queue)`, carrying the names from
`WARROOM_ONCALL` as the start input, so the first override ever made starts the roster and a
refusal (an unknown person, an end before its start) comes from the workflow's validator.
"""

from __future__ import annotations

from temporalio.client import Client

from warroom.contracts.oncall import AddOverride, OverridesQuery, RemoveOverride, RosterNames
from warroom.oncall.models import OncallConfig, Override


def names_of(config: OncallConfig) -> RosterNames:
    """The people and each team's role names, as the roster validates against them."""
    return RosterNames(people=[p.name for p in config.people], teams={t.name: sorted(t.roles) for t in config.teams})


async def add_override(client: Client, task_queue: str, names: RosterNames, req: AddOverride) -> Override:
    """Raises warroom.errors.Refused (or the project's equivalent) with the validator's reason."""
    raise NotImplementedError


async def remove_override(client: Client, task_queue: str, names: RosterNames, req: RemoveOverride) -> Override:
    raise NotImplementedError


async def list_overrides(client: Client, task_queue: str) -> OverridesQuery:
    """The overrides not yet ended; empty when the roster was never started."""
    raise NotImplementedError


async def sync_roster(client: Client, task_queue: str, names: RosterNames) -> None:
    """Start the roster if needed and give it the current names (the worker does this at start)."""
    raise NotImplementedError
