"""The loaded on-call config with what it points at: the parsed iCal feeds and service ownership.

Built once by `warroom.oncall.load` (which reads the files and URLs); pure to use afterwards.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from warroom.oncall.ical import IcalFeed
from warroom.oncall.models import OncallConfig


@dataclass(frozen=True)
class Directory:
    config: OncallConfig
    feeds: Mapping[str, IcalFeed] = field(default_factory=dict)
    """schedule name → its parsed feed, for schedules with an `ical` source."""
    owners: Mapping[str, str] = field(default_factory=dict)
    """service → team: the teams' `services`, then the Backstage catalogs (the config wins on a conflict)."""
    source: Path | None = None
    """The WARROOM_ONCALL file it was loaded from: feed files are found beside it when they are read again."""

    def team_for(self, service: str) -> str | None:
        """The team that owns `service`, else the default team, else None."""
        return self.owners.get(service) or self.config.default_team

    @classmethod
    def of(cls, config: OncallConfig, feeds: Mapping[str, IcalFeed] | None = None) -> Directory:
        """A directory from the config alone (no catalogs): ownership from the teams' `services`."""
        owners = {service: team.name for team in config.teams for service in team.services}
        return cls(config=config, feeds=dict(feeds or {}), owners=owners)
