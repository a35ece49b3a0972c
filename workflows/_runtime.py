"""What every phase workflow shares: its copy of the incident, notifications, and the deadline loop.

A phase keeps the latest incident state the parent sent it (signal `incident_changed`), fires
the deadlines that `pending_deadlines` says are due, and reports each one back to the parent
(signal `phase_event`), which owns the timeline. Since "lean-deadlines" the deadlines due at one
instant go out in one `notify_batch` activity, which reports them itself (signal `phase_events`):
one activity and no workflow task of the phase's own for the report.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from warroom.config import RunbookConfig
    from warroom.contracts.notify import NOTIFY, NOTIFY_BATCH, NotifyBatch
    from warroom.messages import ContextValue, internal_context, public_context
    from warroom.models import Channel, Deadline, Delivery, IncidentState, Notification, PhaseEvent, PhaseInput
    from warroom.policy.deadline_report import DeadlineReport, MessageOutcome, gap_events, report_events
    from warroom.policy.escalation import escalation_plan
    from warroom.policy.handoff import handoff_facts
    from warroom.policy.revisions import ONCALL_RESOLUTION
    from warroom.policy.timers import due_now, next_wakeup, pending_deadlines
    from warroom.policy.war_room import stuck_line_due
    from workflows._activities import call
    from workflows._patches import patched

# What a fired deadline sends: (channel, template).
DEADLINE_MESSAGES: dict[str, tuple[Channel, str]] = {
    "ack_page": ("page", "oncall_page"),
    "ack_repage": ("page", "repage"),
    "ack_escalate": ("page", "escalation"),
    "escalate": ("page", "escalation"),
    "vp_notice": ("stakeholders", "vp_notice"),
    "data_loss_notice": ("stakeholders", "stakeholder_notice"),
    "security_handoff": ("stakeholders", "security_handoff"),
    "severity_notice": ("stakeholders", "stakeholder_notice"),
    "comms_lead_needed": ("incident", "severity_needs_comms_lead"),
    "status_page_initial": ("status_page", "status_initial"),
    "severity_summary": ("incident", "severity_changed"),
    "internal_update": ("incident", "ic_checklist"),
    "external_prompt": ("incident", "external_update_due"),
    "silence": ("status_page", "still_investigating"),
    "silence_identified": ("status_page", "still_identified"),
    "silence_monitoring": ("status_page", "still_monitoring"),
    "monitoring_done": ("incident", "monitoring_complete"),
    "pir_reminder": ("incident", "pir_reminder"),
    "pir_overdue": ("page", "pir_overdue"),
    "action_item_reminder": ("incident", "action_item_reminder"),
    "action_item_overdue": ("page", "action_item_overdue"),
    "customer_email_reminder": ("incident", "customer_email_reminder"),
    "customer_email_overdue": ("page", "escalation"),
    "status_initial_overdue": ("incident", "status_initial_overdue"),
    "resolved_notice_overdue": ("incident", "resolved_notice_overdue"),
    "role_prompt": ("incident", "role_prompt"),
    "war_room_check": ("incident", "war_room_check"),
    "silent_ic": ("page", "silent_ic"),
    "no_progress": ("incident", "no_progress"),
    "resolution_overdue": ("page", "resolution_overdue"),
    "handoff_brief": ("incident", "handoff_brief"),
}
ESCALATING = {"ack_escalate", "escalate", "vp_notice", "pir_overdue", "action_item_overdue", "customer_email_overdue"}
ESCALATING |= {"data_loss_notice", "security_handoff", "severity_notice"}  # told mid-way: they hear its end
ESCALATING |= {"silent_ic"}
NEXT = "next runbook deadline"
"""The deadline timer's summary, as the Web UI shows it."""
PAGED_CHANNELS: frozenset[Channel] = frozenset({"page", "stakeholders"})
"""Where an audience names roles that resolve to the people on call (WARROOM_ONCALL)."""
LEAN_DEADLINES = "lean-deadlines"
"""The patch of the one-activity deadline: 👉 incidents recorded before it sent one `notify` per
message and reported each deadline from the phase, and the incident echoed the report back."""


def notification(
    state: IncidentState,
    runbook: RunbookConfig,
    channel: Channel,
    template: str,
    audience: list[str] | None = None,
    public: bool = False,
    **extra: ContextValue,
) -> Notification:
    """One message, its context rendered from the incident as it is now."""
    now = workflow.now()
    if public:
        details = state.severity is not None and escalation_plan(state.severity, state.signals, runbook).public_details
        context = public_context(state, runbook, now, details, **extra)
    else:
        context = internal_context(state, runbook, now, **extra)
    return Notification(
        incident_id=state.incident_id,
        channel=channel,
        template=template,
        audience=audience or [],
        context=context,
        page_at=now if channel in PAGED_CHANNELS and ONCALL_RESOLUTION in state.revisions else None,
    )


async def send(
    state: IncidentState,
    runbook: RunbookConfig,
    channel: Channel,
    template: str,
    audience: list[str] | None = None,
    public: bool = False,
    **extra: ContextValue,
) -> Delivery:
    """Render-and-deliver as an activity; raises ActivityError once the retries are spent."""
    note = notification(state, runbook, channel, template, audience, public, **extra)
    return await call(NOTIFY, note, summary=f"{channel}: {template}")


async def run_alongside(main: asyncio.Task[None], helpers: list[asyncio.Task[None]]) -> None:
    """Wait for `main`; a helper's exception fails the workflow task at once (a bug made visible,
    not a task exception nobody retrieves), and helpers still running when `main` ends are cancelled."""
    while not main.done():
        await workflow.wait([t for t in (main, *helpers) if not t.done()], return_when=asyncio.FIRST_COMPLETED)
        for task in helpers:
            if task.done():
                task.result()
    main.result()
    for task in helpers:
        if not task.done():
            task.cancel()


class PhaseRuntime:
    def __init__(self, inp: PhaseInput) -> None:
        self.parent_id = inp.parent_workflow_id
        self.runbook = inp.runbook
        self.state = inp.state
        self._fired: set[str] = set(inp.state.fired)
        self.adoptions = 0
        """How many runbooks the incident adopted while this phase ran: each one re-plans the deadlines."""

    def incident_changed(self, state: IncidentState) -> None:
        """Adopt the parent's newer state, keeping deadlines this phase fired but the parent has not seen yet."""
        if state.version < self.state.version:
            return
        self._fired |= set(state.fired)
        # Whom this phase escalated to and the parent has not echoed (it does not, since "lean-deadlines").
        escalated = state.escalated_to + [w for w in self.state.escalated_to if w not in state.escalated_to]
        self.state = state.model_copy(update={"fired": sorted(self._fired), "escalated_to": escalated})

    def adopt(self, runbook: RunbookConfig) -> None:
        """The incident adopted another runbook (`adopt_runbook`): follow it from now on."""
        self.runbook = runbook
        self.adoptions += 1

    async def notify(
        self,
        channel: Channel,
        template: str,
        audience: list[str] | None = None,
        public: bool = False,
        **extra: ContextValue,
    ) -> Delivery | None:
        """Send one message; a delivery that fails after retries is reported, never fatal to the incident."""
        try:
            delivery = await send(self.state, self.runbook, channel, template, audience, public, **extra)
        except ActivityError as err:
            await self.report(
                PhaseEvent(
                    kind="notification_failed",
                    message=f"{channel} message {template!r} could not be delivered: {err.cause or err}",
                )
            )
            return None
        if delivery.oncall is not None:
            for event in gap_events(delivery.oncall, template):
                await self.report(event)
        return delivery

    async def report(self, event: PhaseEvent) -> None:
        await workflow.get_external_workflow_handle(self.parent_id).signal("phase_event", event)

    def _deadline_context(self, deadline: Deadline) -> dict[str, ContextValue]:
        extra: dict[str, ContextValue] = {
            "reason": deadline.reason,
            "waited": deadline.reason,
            "due": (deadline.at + self.runbook.comms.external_prompt_lead).strftime("%H:%M"),
            # For the activity's metrics (warroom/telemetry/metrics.py): which deadline, and when it was due.
            "deadline_kind": deadline.kind,
            "deadline_due_at": deadline.at.isoformat(),
        }
        if deadline.kind == "handoff_brief":  # the current state, for the next on-call
            extra.update(handoff_facts(self.state, self.runbook, workflow.now()))
        return extra

    async def fire_all(self, due: list[Deadline]) -> None:
        """Fire the deadlines due at this instant with one `notify_batch`: every message they send,
        then their report, which the activity signals to the incident itself (`phase_events`).
        Messages that may still go out on retry are sent again one by one (`notify`, its retries)
        and the phase reports; a failed message stays a `notification_failed` event, never fatal."""
        notes: list[Notification] = []
        reports: list[DeadlineReport] = []
        for deadline in due:
            self._fired.add(deadline.key)
            channel, template = DEADLINE_MESSAGES[deadline.kind]
            public = channel == "status_page"
            first = len(notes)
            extra = self._deadline_context(deadline)
            notes.append(notification(self.state, self.runbook, channel, template, deadline.audience, public, **extra))
            if deadline.kind == "escalate" and patched("ic-stuck-line") and not self._stuck_line_due():
                notes.append(notification(self.state, self.runbook, "incident", "ic_stuck", waited=deadline.reason))
            event = PhaseEvent(
                kind=deadline.kind,
                deadline_key=deadline.key,
                message=deadline.reason,
                escalated_to=deadline.audience if deadline.kind in ESCALATING else [],
                data={"audience": ", ".join(deadline.audience), "due_at": deadline.at.isoformat()},
                public_post=public,
            )
            reports.append(DeadlineReport(event=event, messages=list(range(first, len(notes)))))
        batch = NotifyBatch(notifications=notes, reports=reports, report_to=self.parent_id)
        summary = " + ".join(f"{n.channel}: {n.template}" for n in notes)
        try:
            result = await call(NOTIFY_BATCH, batch, summary=summary)
            outcomes, reported = result.outcomes, result.reported
            if result.incident_closed:
                raise ApplicationError(f"{self.parent_id} is no longer running: this phase ends", type="IncidentGone")
        except ActivityError as err:
            outcomes, reported = [MessageOutcome(error=str(err.cause or err), retryable=True) for _ in notes], False
        if not reported:
            for i, outcome in enumerate(outcomes):
                if outcome.retryable:
                    outcomes[i] = await self._send_again(notes[i])
            events = report_events(reports, [(n.channel, n.template) for n in notes], outcomes)
            await workflow.get_external_workflow_handle(self.parent_id).signal("phase_events", events)
        # What the incident takes from the report and does not echo back (`ledger.known_to_reporter`).
        escalated = list(self.state.escalated_to)
        for who in (w for report in reports for w in report.event.escalated_to):
            if who not in escalated:
                escalated.append(who)
        self.state = self.state.model_copy(update={"fired": sorted(self._fired), "escalated_to": escalated})

    async def _send_again(self, note: Notification) -> MessageOutcome:
        try:
            return MessageOutcome(delivery=await call(NOTIFY, note, summary=f"{note.channel}: {note.template}"))
        except ActivityError as err:
            return MessageOutcome(error=str(err.cause or err))

    async def fire(self, deadline: Deadline) -> None:
        """One deadline, one `notify` per message, reported by the phase (before "lean-deadlines")."""
        self._fired.add(deadline.key)
        channel, template = DEADLINE_MESSAGES[deadline.kind]
        public = channel == "status_page"
        extra = self._deadline_context(deadline)
        delivery = await self.notify(channel, template, deadline.audience, public=public, **extra)
        if deadline.kind == "escalate" and patched("ic-stuck-line") and not self._stuck_line_due():
            # The IC script's "when the team is stuck" line goes to the channel with the escalation.
            await self.notify("incident", "ic_stuck", waited=deadline.reason)
        await self.report(
            PhaseEvent(
                kind=deadline.kind,
                deadline_key=deadline.key,
                message=deadline.reason,
                escalated_to=deadline.audience if deadline.kind in ESCALATING else [],
                data={
                    "audience": ", ".join(deadline.audience),
                    "due_at": deadline.at.isoformat(),
                    "delivered": "yes" if delivery else "no",
                    **(
                        {"paged": delivery.oncall.paged}
                        if delivery and delivery.oncall and delivery.oncall.paged
                        else {}
                    ),
                },
                public_post=public and delivery is not None,
            )
        )

    def _stuck_line_due(self) -> bool:
        """The no-progress deadline posts the stuck line at this very moment: the escalation leaves it
        to that one. 👉 Incidents recorded before the no-progress line always posted it here."""
        state = self.state.model_copy(update={"fired": sorted(self._fired)})
        return stuck_line_due(state, self.runbook, workflow.now()) and patched("silent-ic")

    async def run_deadlines(self, kinds: set[str], until: Callable[[], bool]) -> None:
        """Fire due deadlines of `kinds` until `until()` holds, re-planning on every state change.

        One timer stands for the next deadline and is kept across state changes that do not move
        it: a state change cancels it only when the next deadline moved. 👉 Incidents recorded
        before "deadline-timer-kept" re-created it on every state change."""
        if not patched("deadline-timer-kept"):
            await self._run_deadlines_recreating_timers(kinds, until)
            return
        timer: asyncio.Task[None] | None = None
        wake_at: datetime | None = None
        try:
            while not until():
                now = workflow.now()
                fired, wait = await self._fire_due(kinds, now)
                if fired:
                    continue
                wake = now + wait if wait is not None else None
                if wake != wake_at:  # the next deadline moved (or there is none): a new timer
                    if timer is not None and not timer.done():
                        timer.cancel()
                    timer = None if wait is None else asyncio.ensure_future(workflow.sleep(wait, summary=NEXT))
                    wake_at = wake
                version, adopted, current = self.state.version, self.adoptions, timer
                await workflow.wait_condition(
                    lambda: (
                        until()
                        or self.state.version != version
                        or self.adoptions != adopted
                        or (current is not None and current.done())
                    )
                )
                if current is not None and current.done():
                    timer, wake_at = None, None
        finally:
            if timer is not None and not timer.done():
                timer.cancel()

    async def _fire_due(self, kinds: set[str], now: datetime) -> tuple[bool, timedelta | None]:
        """Fire the deadlines of `kinds` due at `now`: (whether any fired, so the state moved and the
        caller plans again; how long until the next one, None when there is none)."""
        state = self.state.model_copy(update={"fired": sorted(self._fired)})
        planned = pending_deadlines(state, self.runbook)
        due = due_now(planned, now, kinds)
        if due and patched(LEAN_DEADLINES):
            await self.fire_all(due)
        else:
            for deadline in due:
                await self.fire(deadline)
        return bool(due), None if due else next_wakeup(planned, now, kinds)

    async def _run_deadlines_recreating_timers(self, kinds: set[str], until: Callable[[], bool]) -> None:
        while not until():
            fired, wait = await self._fire_due(kinds, workflow.now())
            if fired:
                continue
            version, adopted = self.state.version, self.adoptions
            try:
                await workflow.wait_condition(
                    lambda: until() or self.state.version != version or self.adoptions != adopted,
                    timeout=wait,
                    timeout_summary=NEXT,
                )
            except TimeoutError:
                pass
