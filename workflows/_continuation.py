"""Bounded histories: an incident continues as new when its history grows long, nothing lost.

A long alert storm, or weeks of PIR action items, grow the incident's history with every alert and
signal; Temporal refuses one past 51,200 events and replay slows long before. So when the server
suggests it, or the history passes `IncidentInput.history_limit` (WARROOM_INCIDENT_HISTORY_LIMIT),
the run hands its whole state (timeline, roles, counts, the `fired` set, steps) to the next run
under the same workflow id, as `IncidentInput.continued`.

The running phase is not touched. A run under "incident-continue-as-new" starts its phases with
parent close policy ABANDON; before it continues, it tells the running phase (`parent_continues`,
acknowledged by the server before the run closes), which then signals `phase_finished` to the
incident's workflow id at its end: that reaches whichever run is current. A phase never told ends
as before, at no extra cost. The next run
re-attaches to the phase by its workflow id (`incident_changed` goes to it as an external signal,
once at once, then on every relevant change) and waits for that signal instead of the child's
completion, which only the starting run could await. The phase's timers (deadlines) never stop, so
an escalation due after the switch fires once, from the phase that planned it. A phase that closes
without that signal (terminated or cancelled by hand) is found by a probe every
`IncidentInput.phase_probe_every` ("reattached-phase-probe"): the run fails with `PhaseFailed`.

The switch waits for a quiet point: the phase's child started and running, no update or signal
handler unfinished, no step in flight (steps run inside the incident, `workflows._steps`). An
update arriving during the switch lands on the old run before it closes, or on the new one.
Histories recorded before never call `workflow.patched("incident-continue-as-new")`: they replay
unchanged and never continue.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, NoReturn

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from warroom.contracts.phases import PHASE_STATUS, PhaseStatusRequest
    from warroom.enums import Phase
    from warroom.ids import phase_workflow_id
    from warroom.models import Continued, IncidentInput, PhaseFinished, PhaseResult
    from workflows import _ledger as ledger
    from workflows._activities import call
    from workflows._adoption import RunbookAdoption
    from workflows._patches import patched
    from workflows._phase import PARENT_CONTINUES, PHASE_FINISHED
    from workflows._steps import StepRunner

CONTINUE_AS_NEW = "incident-continue-as-new"
PHASE_PROBE = "reattached-phase-probe"
"""A continued run asks now and then whether the phase it waits for still runs (`_probe`)."""
PHASES = [Phase.DETECTION, Phase.DECLARE, Phase.COMMAND, Phase.RESOLVE, Phase.RETROSPECTIVE]


class ReattachedPhase:
    """A phase child an earlier run started: signalled by workflow id, done once it said so."""

    def __init__(self, workflow_id: str, finished: dict[str, PhaseFinished]) -> None:
        self.id = workflow_id
        self._finished = finished
        self._handle = workflow.get_external_workflow_handle(workflow_id)

    def done(self) -> bool:
        return self.id in self._finished

    async def signal(self, signal: str, arg: Any) -> None:
        await self._handle.signal(signal, arg)

    def result(self) -> PhaseResult:
        finished = self._finished[self.id]
        if finished.result is None:
            raise ApplicationError(f"{self.id} failed: {finished.failure}", type="PhaseFailed")
        return finished.result


class Continuation(RunbookAdoption):
    """The incident's side of continue-as-new; `IncidentWorkflow` derives from it."""

    steps: StepRunner
    _opened_by_alert: bool

    def _init_continuation(self, inp: IncidentInput) -> None:
        """Called by `__init__`: whether this incident may continue as new, and where a continued run resumes."""
        self._input = inp
        self._continues = patched(CONTINUE_AS_NEW)
        self._resume = inp.continued.phase_running if inp.continued else None
        self._run_number = inp.continued.run if inp.continued else 1
        self._finished: dict[str, PhaseFinished] = {}

    @workflow.signal(
        name=PHASE_FINISHED, description="Internal: a phase's end, for a run that did not start it (continue-as-new)."
    )
    def phase_finished(self, finished: PhaseFinished) -> None:
        self._finished[finished.workflow_id] = finished

    async def _phase(self, run_fn: Any, phase: Phase) -> PhaseResult:
        raise NotImplementedError  # IncidentWorkflow's

    def _phase_due(self, phase: Phase) -> bool:
        """A continued run skips the phases that ended in earlier runs."""
        return self._resume is None or PHASES.index(phase) >= PHASES.index(self._resume)

    async def _run_phase(self, run_fn: Any, phase: Phase) -> PhaseResult:
        """Run (or re-attach to) one phase; continue as new instead when the history is due and quiet."""
        if self._resume == phase:
            self._resume = None
            return await self._reattached(phase)
        if not self._continues:
            return await self._phase(run_fn, phase)
        task = asyncio.create_task(self._phase(run_fn, phase))
        told = False
        while True:
            await workflow.wait_condition(lambda: task.done() or self._ready(phase))
            if task.done():
                return task.result()
            if told:
                self._continue_as_new(phase)
            told = await self._tell_phase()
            if not told:  # it has just ended: its result arrives as the child's
                await workflow.wait_condition(task.done)

    async def _tell_phase(self) -> bool:
        """Tell the running phase this run continues as new, so it reports its end by signal; False
        when it has already ended (the signal fails), so its end reaches this run as its completion."""
        assert self.running is not None
        try:
            await self.running.signal(PARENT_CONTINUES)
        except Exception:
            return False
        return True

    async def _reattached(self, phase: Phase) -> PhaseResult:
        """`_phase` for the phase an earlier run started: forward what it acts on, wait for its end."""
        child = ReattachedPhase(phase_workflow_id(self.state.workflow_id, phase), self._finished)
        self.running = child  # type: ignore[assignment]  # what `adopt_runbook` reaches
        probe = asyncio.create_task(self._probe(child)) if patched(PHASE_PROBE) else None
        sent: int | None = None
        forwarded: dict[str, Any] | None = None
        while not child.done():
            if self.state.version != sent:
                sent, view = self.state.version, ledger.phase_view(self.state)
                if view != forwarded:
                    forwarded = view
                    await self._forward(child, self._wait_for(child.done))
                continue
            await workflow.wait_condition(lambda: child.done() or self.state.version != sent or self._ready(phase))
            if not child.done() and self._ready(phase):
                self._continue_as_new(phase)
        if probe is not None:
            probe.cancel()
        result = child.result()
        self._record("phase_completed", f"{phase.value} phase: {result.outcome}", phase=phase.value)
        return result

    async def _probe(self, child: ReattachedPhase) -> None:
        """Every `phase_probe_every`, ask whether the phase still runs. One that closed without telling
        its end (terminated or cancelled by hand, timed out) would leave this run waiting for ever; told
        so, the run fails with `PhaseFailed`, as a run whose own phase child was terminated fails. A
        phase that ended normally told its end before it closed, so its signal is here first."""
        while not child.done():
            await workflow.sleep(self._input.phase_probe_every)
            if child.done():
                return
            try:
                status = await call(
                    PHASE_STATUS, PhaseStatusRequest(workflow_id=child.id), summary=f"is {child.id} running?"
                )
            except ActivityError:
                continue  # Temporal could not say: ask again next time rather than fail a running incident
            if not status.running and not child.done():
                failure = f"it closed ({status.status.lower()}) without reporting its end"
                self._finished[child.id] = PhaseFinished(workflow_id=child.id, failure=failure)

    async def _forward(self, child: ReattachedPhase, ended: Callable[[], Awaitable[bool]]) -> None:
        try:
            await child.signal("incident_changed", self._snapshot())
        except Exception:
            # It ended between the run's start and the signal; its `phase_finished` arrives next.
            if not await ended():
                raise ApplicationError(f"{child.id} stopped answering", type="PhaseLost") from None

    def _wait_for(self, done: Callable[[], bool]) -> Callable[[], Awaitable[bool]]:
        async def wait() -> bool:
            try:
                await workflow.wait_condition(done, timeout=timedelta(minutes=5))
            except TimeoutError:
                return False
            return True

        return wait

    def _ready(self, phase: Phase) -> bool:
        """Due (the server suggests it, or the limit is passed) and quiet: the phase's child is
        running and has not told its end, no handler is unfinished, no step is in flight."""
        if not self._continues:
            return False
        info = workflow.info()
        if not (info.is_continue_as_new_suggested() or info.get_current_history_length() >= self._input.history_limit):
            return False
        child = self.running
        return (
            self.state.phase == phase
            and child is not None
            and not child.done()
            # its end already told (the child's completion event not yet here): the next run would wait forever
            and phase_workflow_id(self.state.workflow_id, phase) not in self._finished
            and workflow.all_handlers_finished()
            and all(task.done() for task in self.steps.tasks.values())
        )

    def _continue_as_new(self, phase: Phase) -> NoReturn:
        carried = Continued(
            state=self.state,
            phase_running=phase,
            opened_by_alert=self._opened_by_alert,
            run=self._run_number + 1,
        )
        workflow.continue_as_new(
            self._input.model_copy(update={"runbook": self.runbook, "alert": None, "continued": carried})
        )
