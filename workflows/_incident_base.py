"""What every handler of the Incident workflow shares: its state, the bookkeeping an update ends
with, and the messages an update posts itself.

`IncidentWorkflow` (workflows/incident.py) holds the lifecycle and the handlers; this base holds
what they call, so each handler reads as its rule. The messages go through the same notify path
as the phases (`workflows._runtime.send`); a delivery that fails is recorded, never fatal.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ParamSpec

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from warroom.config import RunbookConfig
    from warroom.enums import Phase
    from warroom.models import SYSTEM, IncidentState, StatusUpdate, UpdateResult
    from warroom.policy import authority
    from warroom.policy.checklist import resolve_blockers
    from workflows import _ledger as ledger
    from workflows._runtime import send

P = ParamSpec("P")


class IncidentBase:
    state: IncidentState
    runbook: RunbookConfig
    publish: bool

    @staticmethod
    def _check(rule: Callable[P, None], *args: P.args, **kwargs: P.kwargs) -> None:
        """Run a validator's rule: a refusal becomes a non-retryable ApplicationError of the rule's
        kind, raised before the update is accepted, so it leaves no event in history."""
        try:
            rule(*args, **kwargs)
        except authority.Rejected as err:
            raise ApplicationError(str(err), type=err.kind, non_retryable=True) from None

    async def _confirm(self, req: StatusUpdate) -> UpdateResult:
        """Checklist items a person confirms (the Resolve phase reads them); the channel hears what is still open."""
        what = ledger.confirm(self.state, req)
        result = self._done("checklist_confirmed", f"{req.by} confirms: {'; '.join(what)}", req.by)
        facts: dict[str, Any] = {
            "confirmed": what,
            "still_open": resolve_blockers(self.state, self.runbook, workflow.now()),
        }
        try:
            await send(self._snapshot(), self.runbook, "incident", "checklist_confirmed", confirmed_by=req.by, **facts)
        except ActivityError as err:
            self._record("notification_failed", f"the confirmation could not be posted: {err.cause or err}")
        return result

    async def _post(self, template: str, **extra: Any) -> None:
        """One message to the incident channel from an update; a failed delivery is recorded, not raised."""
        try:
            await send(self._snapshot(), self.runbook, "incident", template, **extra)
        except ActivityError as err:
            self._record("notification_failed", f"{template!r} could not be posted: {err.cause or err}")

    async def _post_update_messages(self, req: StatusUpdate) -> None:
        """Post the update to the channel (and the status page) through the same notify path as the phases."""
        try:
            await send(
                self._snapshot(),
                self.runbook,
                "incident",
                "internal_update",
                status=ledger.mitigation_status(self.state),
                error_rate=req.error_rate,
                hypothesis=req.hypothesis,
                next_action=req.next_action,
                owner=req.owner,
                eta=req.eta,
            )
            if req.public_status:
                await send(
                    self._snapshot(),
                    self.runbook,
                    "status_page",
                    "status_update",
                    ["status-page"],
                    public=True,
                    public_status=req.public_status,
                    public_message=req.public_message,
                )
        except ActivityError as err:
            self._record("notification_failed", f"the update could not be posted: {err.cause or err}")

    def _set_phase(self, phase: Phase) -> None:
        self.state.phase = phase
        self._publish()
        self._changed()

    def _publish(self) -> None:
        """Keep the search attributes current so `temporal workflow list --query` finds incidents."""
        if self.publish:
            workflow.upsert_search_attributes(ledger.search_attributes(self.state))

    def _snapshot(self) -> IncidentState:
        return ledger.snapshot(self.state)

    def _record(self, kind: str, message: str, actor: str = SYSTEM, **data: str) -> None:
        ledger.record(self.state, workflow.now(), kind, message, actor, **data)

    def _changed(self) -> None:
        self.state.version += 1

    def _done(self, kind: str | None, message: str, by: str, **data: str) -> UpdateResult:
        if kind:
            self._record(kind, message, by, **data)
        self._changed()
        return UpdateResult(
            incident_id=self.state.incident_id,
            message=message,
            phase=self.state.phase,
            severity=self.state.severity,
            step_id=data.get("step_id"),
        )
