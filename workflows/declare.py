"""Phase 2, Declare: open the channel, page the IC, publish severity, notify per the matrix.

Also the special cases, at once: data loss notifies the engineering manager and legal/privacy
and goes straight to the executive team; a security incident is handed to the security team
and kept out of public channels; a vendor incident asks for the vendor ticket.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from warroom.enums import Role
    from warroom.models import PhaseEvent, PhaseInput, PhaseResult
    from warroom.policy.escalation import escalation_plan
    from workflows._patches import patched
    from workflows._phase import PhaseWorkflow, reports_result
    from workflows._ticket import open_ticket


@workflow.defn(name="DeclarePhase")
class DeclarePhase(PhaseWorkflow):
    @workflow.run
    @reports_result
    async def run(self, inp: PhaseInput) -> PhaseResult:
        rt = self.rt
        state = rt.state
        assert state.severity is not None, "the entity assesses severity before Declare"
        # A case raised after the snapshot this phase started from is owed by the incident, not sent here.
        late = {case: False for case in state.raised_mid_incident}
        plan = escalation_plan(state.severity, state.signals.model_copy(update=late), rt.runbook)

        opened = await rt.notify("incident", "channel_opened")
        await rt.report(
            PhaseEvent(
                kind="channel_opened",
                message=f"incident channel {state.channel} opened",
                data={"destination": opened.destination if opened else "undelivered"},
            )
        )

        # The IC is its own role: a person already named, or the runbook's IC rotation — never the
        # on-call by default. One who already took command (or named themselves) needs no page.
        # 👉 Incidents recorded before that paged whoever commanded.
        commander = state.roles.get(Role.INCIDENT_COMMANDER)
        if commander in state.acknowledgements and patched("no-ic-page-for-who-commands"):
            await rt.report(PhaseEvent(kind="ic_in_command", message=f"{commander} already commands: no IC page"))
        else:
            rotation = rt.runbook.roles.incident_commander_page
            await rt.notify("page", "ic_page", [commander or rotation])
            await rt.report(PhaseEvent(kind="ic_paged", message=f"paged {commander or f'the {rotation} rotation'}"))

        for notice in plan.immediate:
            template = "security_handoff" if notice.audience == [plan.hand_off_to] else "stakeholder_notice"
            await rt.notify("stakeholders", template, notice.audience, reason=notice.reason)
            await rt.report(
                PhaseEvent(
                    kind="stakeholders_notified",
                    message=notice.reason,
                    escalated_to=notice.audience,
                    data={"audience": ", ".join(notice.audience)},
                )
            )

        if plan.require_vendor_ticket and not state.vendor_ticket:
            await rt.notify("incident", "vendor_ticket")
            await rt.report(PhaseEvent(kind="vendor_ticket_requested", message="vendor support ticket requested"))

        if state.severity in rt.runbook.comms.status_page_for:
            posted = await rt.notify("status_page", "status_initial", ["status-page"], public=True)
            await rt.report(
                PhaseEvent(
                    kind="status_page_initial",
                    message="initial status page update posted",
                    public_post=posted is not None,
                )
            )

        await rt.notify("incident", "ic_opening")
        await open_ticket(rt)  # the war-room checklist's "incident ticket created (link in channel)"
        return PhaseResult(outcome="declared", message=f"{state.severity} declared")
