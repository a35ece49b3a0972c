"""The on-call roster: run-time overrides ("I'll take Bob's shift tonight"), audited by Temporal.

`RosterWorkflow` (id `warroom-roster-<task queue>`) never completes by itself. Each change is an
update, so its history records who asked, when and why (the request carries `by` and `reason`);
a refusal comes from the update's validator, which only reads state, so it leaves no event. The
people and teams it checks against are the `WARROOM_ONCALL` names the worker and the CLI send
(`sync_roster`, and the start input). Overrides that have ended are dropped from the state at the
moment they end (a timer; their history keeps them) and the query never shows them. A long-lived roster
continues as new with its live overrides when the server suggests it or its history passes
`RosterInput.history_limit` events.
"""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from warroom.contracts.oncall import (
        ADD_OVERRIDE,
        MAX_OVERRIDE_LENGTH,
        MAX_OVERRIDES,
        OVERRIDES_QUERY,
        REMOVE_OVERRIDE,
        ROSTER_WORKFLOW,
        SYNC_ROSTER,
        AddOverride,
        OverridesQuery,
        RemoveOverride,
        RosterInput,
        RosterNames,
        SyncRoster,
    )
    from warroom.oncall.models import Override


class Refusal(ValueError):
    """An override the roster will not take; `kind` is the refusal's type callers match on."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


def check_add(req: AddOverride, names: RosterNames, live: list[Override], now: datetime) -> None:
    """Every reason an override cannot be taken, as one readable sentence (the first that applies)."""
    if req.person not in names.people:
        raise Refusal(f"unknown person {req.person!r}: not in WARROOM_ONCALL's people", "UnknownPerson")
    if req.team not in names.teams:
        teams = sorted(names.teams)
        known = ", ".join(teams[:10]) + (f" and {len(teams) - 10} more" if len(teams) > 10 else "") if teams else "none"
        raise Refusal(f"unknown team {req.team!r} (teams: {known})", "UnknownTeam")
    roles = names.teams[req.team]
    if roles and req.role not in roles:
        raise Refusal(f"team {req.team} has no role {req.role!r} (its roles: {', '.join(roles)})", "UnknownRole")
    if any(ord(c) < 32 or ord(c) == 127 for c in req.reason):
        raise Refusal("the reason holds control characters: write it on one line, as plain text", "BadReason")
    if req.end <= req.start:
        raise Refusal(
            f"an override must end after it starts (start {req.start.isoformat()}, end {req.end.isoformat()})",
            "EndBeforeStart",
        )
    if req.end <= now:
        raise Refusal(f"the override is already over: it ended {req.end.isoformat()}", "AlreadyOver")
    if req.end - req.start > MAX_OVERRIDE_LENGTH:
        raise Refusal(
            f"an override lasts at most {MAX_OVERRIDE_LENGTH.days} days; change the schedule instead", "OverrideTooLong"
        )
    if len(live) >= MAX_OVERRIDES:
        raise Refusal(f"the roster already holds {MAX_OVERRIDES} overrides: remove some first", "TooManyOverrides")


def _refuse(err: Refusal) -> ApplicationError:
    return ApplicationError(str(err), type=err.kind, non_retryable=True)


@workflow.defn(name=ROSTER_WORKFLOW)
class RosterWorkflow:
    @workflow.init
    def __init__(self, inp: RosterInput) -> None:
        self.names = inp.names
        self.overrides = list(inp.overrides)
        self.next_id = inp.next_id
        self.history_limit = inp.history_limit

    @workflow.run
    async def run(self, inp: RosterInput) -> None:
        while not self._due_to_continue():
            self._drop_ended()
            wake = self._next_end()
            try:  # sleep until the next override ends, or until the overrides change
                await workflow.wait_condition(
                    lambda: self._due_to_continue() or self._next_end() != wake,
                    timeout=None if wake is None else wake - workflow.now(),
                    timeout_summary="the next override ends",
                )
            except TimeoutError:
                pass
        await workflow.wait_condition(workflow.all_handlers_finished)
        self._drop_ended()
        workflow.continue_as_new(
            RosterInput(
                names=self.names, overrides=self.overrides, next_id=self.next_id, history_limit=self.history_limit
            )
        )

    # --- Updates --------------------------------------------------------------------------------

    @workflow.update(
        name=ADD_OVERRIDE,
        description='Someone holds a role of a team for a while. JSON: {"team": "payments", "person": "alice", '
        '"start": "2026-12-06T22:00Z", "end": "2026-12-07T08:00Z", "reason": "swap with bob", "by": "bob"}',
    )
    def add_override(self, req: AddOverride) -> Override:
        self._drop_ended()
        override = Override(
            id=f"ovr-{self.next_id}",
            team=req.team,
            role=req.role,
            person=req.person,
            start=req.start,
            end=req.end,
            reason=req.reason,
            created_by=req.by,
            created_at=workflow.now(),
        )
        self.next_id += 1
        self.overrides.append(override)
        return override

    @add_override.validator
    def _validate_add_override(self, req: AddOverride) -> None:
        try:
            check_add(req, self.names, self._live(), workflow.now())
        except Refusal as err:
            raise _refuse(err) from None

    @workflow.update(
        name=REMOVE_OVERRIDE,
        description='Take an override back. JSON: {"override_id": "ovr-3", "by": "alice", "reason": "..."}',
    )
    def remove_override(self, req: RemoveOverride) -> Override:
        removed = next(o for o in self.overrides if o.id == req.override_id)
        self.overrides.remove(removed)
        self._drop_ended()
        return removed

    @remove_override.validator
    def _validate_remove_override(self, req: RemoveOverride) -> None:
        if not any(o.id == req.override_id for o in self._live()):
            raise _refuse(Refusal(f"no live override {req.override_id} (it ended, or was removed)", "UnknownOverride"))

    @workflow.update(
        name=SYNC_ROSTER,
        description="The people and teams from WARROOM_ONCALL (the worker sends them at start); overrides stay.",
    )
    def sync_roster(self, req: SyncRoster) -> RosterNames:
        self.names = req.names
        self._drop_ended()
        return self.names

    # --- Query ----------------------------------------------------------------------------------

    @workflow.query(
        name=OVERRIDES_QUERY, description="The overrides not yet ended, and the names they are checked against."
    )
    def overrides_query(self) -> OverridesQuery:
        return OverridesQuery(overrides=self._live(), names=self.names)

    # --- State ----------------------------------------------------------------------------------

    def _live(self) -> list[Override]:
        now = workflow.now()
        return [o for o in self.overrides if o.end > now]

    def _drop_ended(self) -> None:
        self.overrides = self._live()

    def _next_end(self) -> datetime | None:
        return min((o.end for o in self.overrides), default=None)

    def _due_to_continue(self) -> bool:
        info = workflow.info()
        return info.is_continue_as_new_suggested() or info.get_current_history_length() >= self.history_limit
