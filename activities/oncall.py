"""Roles → the people on call at an instant, for the `notify` activity (`Notification.page_at`).

Reads the worker's `WARROOM_ONCALL` directory, the live overrides from the `Roster` workflow
(a query; a roster never started has none) and, for schedules PagerDuty or Opsgenie keep, their
API. Runs inside the page's own activity, so the answer is recorded with the delivery and
replay never asks again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

from temporalio import activity
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from activities.oncall_vendors import VendorOnCall
from warroom.contracts.errors import NotConfigured
from warroom.contracts.oncall import OVERRIDES_QUERY, OverridesQuery, roster_id
from warroom.oncall.directory import Directory
from warroom.oncall.models import OncallResult, Override, Shift
from warroom.oncall.resolve import resolve_roles

log = logging.getLogger("warroom.oncall")


class OncallResolver:
    """`vendors`: "pagerduty" / "opsgenie" → a reader, for the schedules those tools keep."""

    def __init__(
        self,
        directory: Directory,
        vendors: Mapping[str, VendorOnCall] | None = None,
        client: Callable[[], Client] | None = None,
    ) -> None:
        self.directory = directory
        self.vendors = dict(vendors or {})
        self._client = client or activity.client

    async def resolve(self, service: str, roles: Sequence[str], at: datetime) -> OncallResult:
        team = self.directory.team_for(service)
        overrides = await self.overrides()
        vendor = await self._vendor_shifts(team, at)
        resolutions, gaps = resolve_roles(self.directory, overrides, team, roles, at, vendor)
        return OncallResult(team=team, resolutions=resolutions, gaps=gaps)

    async def aclose(self) -> None:
        """Close the vendors' HTTP clients (the worker does, when it stops)."""
        for reader in self.vendors.values():
            if (close := getattr(reader, "aclose", None)) is not None:
                await close()

    async def overrides(self) -> list[Override]:
        # The roster of this worker's task queue: the one `warroom oncall override` writes to.
        handle = self._client().get_workflow_handle(roster_id(activity.info().task_queue))
        try:
            answer: OverridesQuery = await handle.query(OVERRIDES_QUERY, result_type=OverridesQuery)
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:  # nobody ever made an override
                return []
            raise
        return answer.overrides

    async def _vendor_shifts(self, team: str | None, at: datetime) -> dict[str, Shift | None]:
        """The shifts of the team's vendor-kept schedules at `at` (only those the team maps)."""
        found = self.directory.config.team(team) if team else None
        if found is None:
            return {}
        shifts: dict[str, Shift | None] = {}
        for target in found.roles.values():
            schedule = self.directory.config.schedule(target.schedule) if target.schedule else None
            if schedule is None or schedule.source not in ("pagerduty", "opsgenie") or schedule.name in shifts:
                continue
            reader = self.vendors.get(schedule.source)
            if reader is None:
                raise NotConfigured(f"schedule {schedule.name} lives in {schedule.source}: set its API token")
            shifts[schedule.name] = await reader.shift_at(schedule, at, self.directory.config.people)
        return shifts
