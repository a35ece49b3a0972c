"""Phase 5, Retrospective: the PIR is due within 5 business days of close; remind, then escalate.

The PIR completes through the entity's `complete_pir` update, which refuses a review with no
action items ("a review with no actions changes nothing"); each action item is then tracked to
done, with a reminder before its due date and an escalation when it passes.
"""

from __future__ import annotations

import asyncio

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from warroom.enums import Phase
    from warroom.messages import ContextValue, public_context
    from warroom.models import PhaseEvent, PhaseInput, PhaseResult, Step
    from warroom.policy.timers import ACTION_KINDS, CUSTOMER_KINDS, RETRO_KINDS
    from workflows._patches import patched
    from workflows._phase import PhaseWorkflow, reports_result
    from workflows._runtime import run_alongside


@workflow.defn(name="RetrospectivePhase")
class RetrospectivePhase(PhaseWorkflow):
    @workflow.run
    @reports_result
    async def run(self, inp: PhaseInput) -> PhaseResult:
        def over() -> bool:
            s = self.rt.state
            return s.pir.completed_at is not None or s.phase == Phase.CLOSED

        emails = asyncio.create_task(self._customer_emails()) if patched("customer-email") else None
        review = asyncio.create_task(self.rt.run_deadlines(RETRO_KINDS, until=over))
        await run_alongside(review, [emails] if emails else [])
        if self.rt.state.phase == Phase.CLOSED:
            return PhaseResult(outcome="closed")
        # 👉 Incidents recorded before action items were tracked ended here; replay keeps them so.
        if patched("track-action-items"):

            def all_done() -> bool:
                s = self.rt.state
                return s.phase == Phase.CLOSED or all(item.done_at for item in s.pir.action_items)

            await self.rt.run_deadlines(ACTION_KINDS, until=all_done)
            return PhaseResult(outcome="action_items_done")
        return PhaseResult(outcome="pir_completed")

    async def _customer_emails(self) -> None:
        """Draft each customer e-mail for the Comms lead, remind and escalate, send once approved."""
        rt = self.rt
        steps = [s for s in rt.state.steps if s.action == "customer_email" and s.status == "pending"]
        for step in steps:
            # audience and public by name: the e-mail context's keys are template variables only.
            draft = self._email_context()
            await rt.notify(
                "incident", "customer_email_draft", audience=None, public=False, step_id=step.step_id, **draft
            )

            def decided(step_id: str = step.step_id) -> bool:
                current = self._step(step_id)
                return current is None or current.status != "pending" or rt.state.phase == Phase.CLOSED

            await rt.run_deadlines(CUSTOMER_KINDS, until=decided)
            current = self._step(step.step_id)
            if current is None or current.status != "approved":
                continue
            sent = await rt.notify("email", "customer_email", ["customers"], public=False, **self._email_context())
            await rt.report(
                PhaseEvent(
                    kind="customer_email_sent" if sent else "customer_email_failed",
                    message=f"customer e-mail {step.step_id} {'sent' if sent else 'could not be sent'}",
                    step_id=step.step_id,
                    step_status="done" if sent else "failed",
                )
            )

    def _step(self, step_id: str) -> Step | None:
        return next((s for s in self.rt.state.steps if s.step_id == step_id), None)

    def _email_context(self) -> dict[str, ContextValue]:
        now = workflow.now()
        public = public_context(self.rt.state, self.rt.runbook, now, public_details=True)
        public.pop("now", None)  # the notify context has its own clock
        return {**public, "date": now.strftime("%Y-%m-%d"), "team": self.rt.runbook.comms.team_name}
