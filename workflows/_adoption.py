"""Moving one open incident to another runbook: the IC's `adopt_runbook` update.

The incident follows the new runbook from the update on: its own deadlines (the `state` query), the
phases it starts next (their `PhaseInput`), and the phase running now, which gets the runbook by
its `runbook_adopted` signal and re-plans its deadlines at once. Other incidents keep theirs.

Histories recorded before this update never called it, so they replay without a `workflow.patched`
guard: nothing here runs unless the update arrives. `IncidentWorkflow` (workflows/incident.py)
derives from this class, as Temporal collects handlers from base classes too.
"""

from __future__ import annotations

from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from warroom.models import AdoptRunbook, UpdateResult
    from warroom.policy import authority
    from warroom.policy.adoption import moved, moves_under
    from workflows._incident_base import IncidentBase


class RunbookAdoption(IncidentBase):
    running: workflow.ChildWorkflowHandle[Any, Any] | None = None
    """The phase child started last (set by `IncidentWorkflow._phase`): the one an adoption reaches."""

    @workflow.update(
        description="The IC moves this incident to another runbook; deadlines are recomputed under it. "
        'JSON: {"by": "alice", "runbook": {...}, "reason": "P2 escalates at 30 minutes now"}'
    )
    async def adopt_runbook(self, req: AdoptRunbook) -> UpdateResult:
        changed = moved(moves_under(self.state, self.runbook, req.runbook))
        self.runbook = req.runbook
        count = f"{len(changed)} deadline{'' if len(changed) == 1 else 's'} moved"
        result = self._done(
            "runbook_adopted",
            f"runbook adopted by {req.by}: {req.reason}; {count}",
            req.by,
            moved=str(len(changed)),
            deadlines=", ".join(m.key for m in changed),
        )
        await self.hand_runbook()
        return result

    @adopt_runbook.validator
    def _validate_adopt_runbook(self, req: AdoptRunbook) -> None:
        self._check(authority.may_adopt_runbook, self.state, req, self.runbook)

    async def hand_runbook(self) -> None:
        """Give the running phase the incident's runbook; a phase that has just completed needs
        none (the next one starts with it)."""
        child = self.running
        if child is None or child.done():
            return
        try:
            await child.signal("runbook_adopted", self.runbook)
        except Exception:
            # It completed between the check and the signal; its result arrives in `_phase`.
            workflow.logger.info("the phase completed before the adopted runbook reached it")
