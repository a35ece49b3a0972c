"""Roles → the people on call at an instant, for the `notify` activity (`Notification.page_at`).

iCal feeds are read again every `ical.refresh` (default 15 min) by `keep_feeds_fresh`, beside the
worker; a feed that cannot be read keeps its last copy.

Reads the worker's `WARROOM_ONCALL` directory, the live overrides from the `Roster` workflow
(a query; a roster never started has none) and, for schedules PagerDuty or Opsgenie keep, their
API. Runs inside the page's own activity, so the answer is recorded with the delivery and
replay never asks again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

from temporalio import activity
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from activities.oncall_vendors import VendorOnCall
from warroom.contracts.errors import NotConfigured
from warroom.contracts.oncall import OVERRIDES_QUERY, OverridesQuery, roster_id
from warroom.oncall.directory import Directory
from warroom.oncall.load import refresh_feeds
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
        self._read_at = {name: time.monotonic() for name in directory.feeds}

    def feeds_due(self, now: float | None = None) -> list[str]:
        """The iCal schedules whose `refresh` interval has passed since their feed was last read."""
        now = time.monotonic() if now is None else now
        return [
            s.name
            for s in self.directory.config.schedules
            if s.ical is not None and now - self._read_at.get(s.name, 0.0) >= s.ical.refresh.total_seconds()
        ]

    async def refresh_feeds(self, now: float | None = None, fetch: Callable[[str], str] | None = None) -> list[str]:
        """Read the due feeds again, off the event loop, and swap them in; returns the problems. A feed
        that cannot be read keeps its last copy and is tried again after its interval."""
        due = self.feeds_due(now)
        if not due:
            return []
        fresh, problems = await asyncio.to_thread(refresh_feeds, self.directory, due, fetch)
        self.directory = fresh  # one assignment: a page resolving meanwhile sees the old or the new, whole
        stamp = time.monotonic() if now is None else now
        self._read_at.update({name: stamp for name in due})
        for problem in problems:
            log.warning("on-call feed not refreshed, keeping the last copy: %s", problem)
        return problems

    async def keep_feeds_fresh(self, every: float = 60.0) -> None:
        """The worker runs this beside itself: pages never wait on a feed's URL."""
        while True:
            await asyncio.sleep(every)
            try:
                await self.refresh_feeds()
            except Exception:  # never let a refresh bug stop the loop; the old feeds stay
                log.exception("on-call feed refresh failed")

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
