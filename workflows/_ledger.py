"""The incident's ledger: how its state and timeline change, as plain functions of (state, now, input).

The incident workflow owns the clock and every command; these functions own the bookkeeping. They
call no Temporal API (the workflow passes `workflow.now()` in), so they replay exactly and read
without a worker. Each change bumps `state.version`, which is how the workflow knows to forward
the state to the running phase. What changes once the incident runs (a later alert, the flags, the
severity) is in `workflows._changes`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from temporalio.common import SearchAttributeUpdate

from warroom import search
from warroom.config import RunbookConfig
from warroom.enums import PublicStatus, Role, Severity, format_duration
from warroom.models import (
    SYSTEM,
    Acknowledge,
    Alert,
    AlertDigest,
    ChecksReport,
    Flap,
    IncidentInput,
    IncidentState,
    PhaseEvent,
    PostMitigation,
    Resolve,
    StatusUpdate,
    Step,
    TimelineEntry,
)
from warroom.policy.checklist import CONFIRMABLE, is_synthetic, resolve_blockers
from warroom.policy.declare import should_declare
from warroom.policy.escalation import escalation_plan
from warroom.policy.pir import pir_due
from warroom.policy.revisions import BURN_DURATION_IS_STRICT, CHANNEL_SEQUENCE, REVISIONS, SLO_BURN_IS_AT_LEAST_P2
from warroom.policy.severity import classify_severity
from warroom.policy.war_room import digest, reports_progress

MAX_TRACKED_ALERTS = 100
"""Fingerprints kept in `firing_alerts`; an alert storm beyond this is counted, not tracked."""
FLAP_WINDOW = timedelta(minutes=30)
FLAP_LISTED = 4
"""An alert's first `FLAP_LISTED` state changes in a `FLAP_WINDOW` are each a timeline entry; past
that, the window has one `alert_flapping` entry whose count keeps up. A day of an alert flapping every
minute is some 240 entries instead of 2,880: the timeline is the incident's state, carried whole to
every phase, every query and across continue-as-new (whose input Temporal caps at 2 MB)."""

# What the status page says after a phase event that posted to it (`public_post`), by the event's kind.
PUBLIC_STATUS_POSTED = {
    "status_page_initial": PublicStatus.INVESTIGATING,
    "silence": PublicStatus.INVESTIGATING,
    "silence_identified": PublicStatus.IDENTIFIED,
    "silence_monitoring": PublicStatus.MONITORING,
    "status_page_resolved": PublicStatus.RESOLVED,
}

# What phase workflows do not act on: the timeline and the alert bookkeeping. `last_firing_alert_at`
# is left out too: phases read it only when the set of firing alerts changes (relapse, the clean
# window), and that change is forwarded with the latest value.
_NOT_FOR_PHASES = {
    "timeline",
    "alerts_received",
    "alerts_repeated",
    "recent_alerts",
    "flapping",
    "version",
    "deadlines",
    "last_firing_alert_at",
}


ACTION_KINDS = {
    "rolled_back",
    "rollback_failed",
    "rollback_auto_approved",
    "mitigation_applied",
    "step_approved",
    "step_denied",
    "step_done",
    "step_failed",
}
"""Timeline kinds that are actions taken: the channel update's LAST ACTION is the latest of them."""


def record(state: IncidentState, now: datetime, kind: str, message: str, actor: str = SYSTEM, **data: str) -> None:
    """Append one timeline entry."""
    entry = TimelineEntry(at=now, kind=kind, actor=actor, message=message, data={k: str(v) for k, v in data.items()})
    state.timeline.append(entry)
    if kind in ACTION_KINDS:
        state.last_action = f"{message} at {now:%H:%M} UTC"
    state.version += 1


def note_peak(state: IncidentState) -> None:
    """Keep the worst error ratio seen: "during the incident" means the peak, not the last reading."""
    ratio = state.signals.error_ratio
    if ratio is not None and (state.peak_error_ratio is None or ratio > state.peak_error_ratio):
        state.peak_error_ratio = ratio


def take_trigger(state: IncidentState, event: PhaseEvent) -> None:
    """The rollback rule that holds names the trigger: the deploy it found (TRIGGER in channel updates,
    the cause on the status page once resolved)."""
    holds = event.kind == "rollback_rule" and event.message.startswith("rollback rule holds")
    if not holds or event.data.get("deployed_at", "unknown") == "unknown" or state.deployed_at is None:
        return  # the deploy this rule found, not one an earlier reading found
    images = event.data.get("images") or "a new version"
    state.trigger = f"Deploy of {images} at {state.deployed_at:%H:%M} UTC"


def opened(inp: IncidentInput, workflow_id: str, now: datetime, revisions: Sequence[str] = REVISIONS) -> IncidentState:
    """The incident as it starts: its first alert taken, declared at once when a person or the signals say so."""
    state = IncidentState(
        incident_id=inp.incident_id,
        workflow_id=workflow_id,
        service=inp.service,
        summary=inp.summary,
        opened_at=now,
        on_call=inp.on_call,
        signals=inp.signals,
        vendor_ticket=None,
        revisions=list(revisions),
    )
    if inp.commander:
        state.roles[Role.INCIDENT_COMMANDER] = inp.commander
        if inp.commander == inp.declared_by:  # who declares and names themselves IC is at the keyboard
            note_acknowledged(state, inp.commander)
    state.target = inp.target
    state.impact_started_at = inp.impact_started_at  # `declare --started`; else the first alert's start
    note_peak(state)
    source = inp.alert.source if inp.alert else "manual"
    opener = inp.declared_by or SYSTEM
    record(state, now, "opened", f"incident opened: {inp.summary}", opener, service=inp.service, source=source)
    if inp.alert:
        take_alert(state, inp.alert, now)
        note_synthetic(state, inp.runbook, inp.alert)
    if inp.declared:
        declare(state, inp.runbook, now, opener, inp.severity, "declared by a person")
    elif not state.declared_at:
        declare_if_warranted(state, inp.runbook, now)
    if inp.severity and not state.severity:
        state.severity = inp.severity
    return state


def declare(
    state: IncidentState, runbook: RunbookConfig, now: datetime, by: str, severity: Severity | None, reason: str
) -> None:
    """Declare: the severity set by hand or assessed from the signals, the channel named (under
    CHANNEL_SEQUENCE, named next by `workflows.sequence.name_channel`)."""
    slo_burn = runbook.declare if SLO_BURN_IS_AT_LEAST_P2 in state.revisions else None
    held_over = BURN_DURATION_IS_STRICT in state.revisions
    assessed = classify_severity(state.signals, runbook.severity, slo_burn, held_over)
    state.severity = severity or state.severity or assessed.severity
    state.declared_at = now
    if CHANNEL_SEQUENCE not in state.revisions:
        state.channel = _service_channel(state.service, now)
    basis = "set by hand" if severity else "; ".join(assessed.reasons)
    record(state, now, "declared", f"declared {state.severity} ({basis}): {reason}", by, severity=state.severity.value)
    plan = escalation_plan(state.severity, state.signals, runbook)
    if not plan.public_details:
        record(state, now, "restricted", "security incident: details stay out of public channels")
    state.version += 1


def _service_channel(service: str, declared_at: datetime) -> str:
    """The name before the day's sequence: unique only while two incidents of one service are not
    declared in the same minute."""
    return f"#incident-{declared_at:%Y-%m-%d}-{service}-{declared_at:%H%M}"[:80]


def channel_name(declared_at: datetime, number: int) -> str:
    """The seed's `#incident-YYYY-MM-DD-NNN`: the declaration's UTC day and its number that day."""
    return f"#incident-{declared_at:%Y-%m-%d}-{number:03d}"


def name_channel(state: IncidentState, now: datetime, number: int | None, problem: str = "") -> None:
    """Name the channel with the day's number; without a number (`problem` says why), with the
    service-and-minute name, recorded so the timeline says why the channel is not numbered."""
    assert state.declared_at is not None, "a channel is named at declaration"
    if number is not None:
        state.channel = channel_name(state.declared_at, number)
        state.version += 1
        return
    state.channel = _service_channel(state.service, state.declared_at)
    record(state, now, "channel_unnumbered", f"channel named {state.channel}: no channel number ({problem})")


def acknowledge(state: IncidentState, req: Acknowledge, now: datetime) -> tuple[str, bool]:
    """The page acknowledged: the on-call answers and goes on debugging. Command is taken only when
    asked for (`take_command`); the IC is paged as its own role at declaration. Returns the
    timeline's message and whether the IC changed."""
    state.acknowledged_at = state.acknowledged_at or now
    state.acknowledged_by = state.acknowledged_by or req.by
    note_acknowledged(state, req.by)
    message = f"acknowledged by {req.by}"
    commander = state.roles.get(Role.INCIDENT_COMMANDER)
    if req.take_command and commander != req.by:
        state.roles[Role.INCIDENT_COMMANDER] = req.by
        return message + "; takes command as Incident Commander", True
    if commander == req.by:
        return message + " (Incident Commander)", False
    if commander is None:
        message += "; no Incident Commander yet (the IC is paged at declaration, or `ack --take-command`)"
    return message, False


def note_acknowledged(state: IncidentState, person: str) -> None:
    """`person` is known to be at the keyboard (the war-room check's "IC identified and acknowledged")."""
    if person not in state.acknowledgements:
        state.acknowledgements.append(person)


def note_update(state: IncidentState, req: StatusUpdate, now: datetime) -> bool:
    """Keep the gist of a 15-minute update; True (and `progress_at` moved) when it reports progress."""
    progress = reports_progress(state.last_update, req)
    state.last_update = digest(req, now)
    if progress:
        state.progress_at = now
    return progress


def declare_if_warranted(state: IncidentState, runbook: RunbookConfig, now: datetime) -> None:
    decision = should_declare(state.signals, runbook.declare, BURN_DURATION_IS_STRICT in state.revisions)
    if decision.declare:
        declare(state, runbook, now, SYSTEM, None, "; ".join(decision.reasons))


def never_collapse() -> bool:
    """`take_alert`'s default: list every change (pure callers, tests)."""
    return False


def take_alert(
    state: IncidentState, alert: Alert, now: datetime, collapse: Callable[[], bool] = never_collapse
) -> bool:
    """Count the alert and track its fingerprint; True when it was a repeat (it changed no alert's state).
    `collapse`: whether a flapping alert's changes may be counted in one entry (`_record_change`)."""
    state.alerts_received += 1
    digest = AlertDigest(
        at=now, source=alert.source, fingerprint=alert.fingerprint, summary=alert.summary, firing=alert.firing
    )
    state.recent_alerts = [*state.recent_alerts[-19:], digest]
    state.signals = state.signals.merged(alert.signals)
    note_peak(state)
    firing = state.firing_alerts
    was_firing = alert.fingerprint in firing
    # Counted, not dropped: the delivery is in history either way; this tells an operator how
    # much of alerts_received was a sender repeating itself (retries, an HA Alertmanager pair).
    repeated = alert.firing == was_firing
    state.alerts_repeated += repeated
    if alert.firing:
        state.last_firing_alert_at = now
        if state.impact_started_at is None:
            state.impact_started_at = alert.starts_at or now
        if not was_firing and len(firing) < MAX_TRACKED_ALERTS:
            firing.append(alert.fingerprint)
            _record_change(state, alert, now, collapse)
    elif was_firing:
        firing.remove(alert.fingerprint)
        _record_change(state, alert, now, collapse)
    return repeated


def _record_change(state: IncidentState, alert: Alert, now: datetime, collapse: Callable[[], bool]) -> None:
    """`alert_firing` or `alert_resolved`, or, for an alert flapping past `FLAP_LISTED` changes in its
    window, the window's one `alert_flapping` entry, its count brought up to date. `collapse` is asked
    only then (the workflow's patch: incidents recorded before list every change, as they did)."""
    flap = state.flapping.get(alert.fingerprint)
    if flap is None or now - flap.since >= FLAP_WINDOW:
        for ended in [k for k, f in state.flapping.items() if now - f.since >= FLAP_WINDOW]:
            del state.flapping[ended]
        flap = state.flapping[alert.fingerprint] = Flap(since=now)
    flap.changes += 1
    word = "firing" if alert.firing else "resolved"
    if flap.changes <= FLAP_LISTED or not collapse():
        record(
            state,
            now,
            f"alert_{word}",
            f"alert {word}: {alert.summary}",
            source=alert.source,
            fingerprint=alert.fingerprint,
        )
        return
    message = f"alert flapping: {alert.summary} ({flap.changes} changes since {flap.since:%H:%M} UTC, now {word})"
    data = {"changes": str(flap.changes), "last_change_at": now.isoformat()}
    if flap.entry is None:
        record(state, now, "alert_flapping", message, source=alert.source, fingerprint=alert.fingerprint, **data)
        flap.entry = len(state.timeline) - 1
    else:
        entry = state.timeline[flap.entry]
        entry.message, entry.data = message, {**entry.data, **data}
        state.version += 1


def note_synthetic(state: IncidentState, runbook: RunbookConfig, alert: Alert) -> None:
    """Remember which alerts come from synthetic monitors: "synthetic monitors green" reads them."""
    synthetic = state.checks.synthetic
    if alert.fingerprint not in synthetic and len(synthetic) < MAX_TRACKED_ALERTS and is_synthetic(alert, runbook):
        synthetic.append(alert.fingerprint)


def apply_phase_event(state: IncidentState, event: PhaseEvent, now: datetime) -> bool:
    """Take what a phase reports into the state and the timeline; True when it newly mitigated the incident."""
    if event.deadline_key and event.deadline_key not in state.fired:
        state.fired.append(event.deadline_key)
    for who in event.escalated_to:
        if who not in state.escalated_to:
            state.escalated_to.append(who)
    if event.public_post:
        state.last_external_update_at = now
        state.public_status = PUBLIC_STATUS_POSTED.get(event.kind, state.public_status)
    if event.propose and not any(s.step_id == event.propose.step_id for s in state.steps):
        p = event.propose
        state.steps.append(
            Step(
                step_id=p.step_id,
                action=p.action,
                target=p.target,
                description=p.description,
                evidence=p.evidence,
                proposed_by=SYSTEM,
                proposed_at=now,
                auto_approve_at=p.auto_approve_at,
            )
        )
    if event.step_id and event.step_status:
        for step in state.steps:
            if step.step_id == event.step_id and not (event.step_status == "approved" and step.status != "pending"):
                step.status = event.step_status
                if event.step_status == "approved":
                    step.decided_by, step.decided_at = SYSTEM, now
                    step.reason = event.message
    if event.mitigation_applied and state.mitigation_applied_at is None:
        state.mitigation_applied_at = now
        state.mitigation_action = event.mitigation_applied
    mitigated = event.mitigated and state.mitigated_at is None
    if mitigated:
        state.mitigated_at = now
    if event.checks:
        take_checks(state, event.checks)
    if event.kind == "rollback_rule" and event.data.get("deployed_at", "unknown") != "unknown":
        # The rollback rule's evidence names the deploy: "clean" is then its pre-deploy baseline.
        state.deployed_at = datetime.fromisoformat(event.data["deployed_at"])
    take_trigger(state, event)
    record(state, now, event.kind, event.message, **event.data)
    return mitigated


def take_checks(state: IncidentState, report: ChecksReport) -> None:
    """What the Resolve phase checked after mitigation; a relapse re-opens mitigation and voids every check."""
    checks = state.checks
    if report.reopen_mitigation and state.resolved_at is None:
        state.mitigated_at = state.mitigation_applied_at = None
        state.checks = PostMitigation(relapses=checks.relapses + 1, synthetic=checks.synthetic)
        return
    if report.verified_by is not None:
        checks.verified_by = report.verified_by
    if report.baseline is not None:
        checks.baseline = report.baseline
    if report.monitoring is not None:
        checks.monitoring = report.monitoring
    checks.cannot_verify = checks.cannot_verify or report.cannot_verify


def confirm(state: IncidentState, req: StatusUpdate) -> list[str]:
    """Record who confirmed which post-mitigation checklist items; their labels, in words."""
    for item in req.confirm:
        state.checks.confirmed[item] = req.by
    return [CONFIRMABLE[item] for item in req.confirm]


def confirmation_only(req: StatusUpdate) -> bool:
    """An update that only confirms checklist items: not the 15-minute update, whose cadence it leaves alone."""
    return not (req.error_rate is not None or req.hypothesis or req.next_action or req.public_status)


def mitigation_status(state: IncidentState) -> str:
    """Where mitigation stands, as the 15-minute update says it."""
    if state.mitigated_at:
        return "Mitigated"
    return "Mitigating" if state.mitigation_applied_at else "Investigating"


def resolve(state: IncidentState, runbook: RunbookConfig, req: Resolve, now: datetime) -> None:
    """Resolution: the PIR gets its owner and due date, and for the runbook's severities (P1) the
    customer e-mail is drafted as a step the Comms lead approves."""
    blockers = resolve_blockers(state, runbook, now)
    if req.override and blockers:
        what = "; ".join(blockers)
        record(state, now, "resolve_override", f"resolved with {what} open, by override: {req.override}", req.by)
    state.resolved_at = now
    owner = req.pir_owner or state.roles.get(Role.PIR_OWNER) or state.commander
    state.pir.owner = owner
    if owner:
        state.roles[Role.PIR_OWNER] = owner
    retro = runbook.retrospective
    state.pir.due = pir_due(now, retro, holidays=set(retro.extra_holidays))
    if state.severity in runbook.comms.customer_email_for:
        within = format_duration(runbook.comms.customer_email_within)
        state.steps.append(
            Step(
                step_id=f"s{len(state.steps) + 1}",
                action="customer_email",
                target="customers",
                description=f"customer e-mail, due within {within}",
                approver_role=Role.COMMUNICATIONS_LEAD,
                proposed_by=SYSTEM,
                proposed_at=now,
            )
        )


def search_attributes(state: IncidentState) -> list[SearchAttributeUpdate[str]]:
    """The values `temporal workflow list --query` finds incidents by."""
    return [
        search.SEVERITY.value_set(state.severity.value if state.severity else search.UNASSESSED),
        search.SERVICE.value_set(state.service),
        search.PHASE.value_set(state.phase.value),
        search.COMMANDER.value_set(state.commander or search.NO_COMMANDER),
    ]


def phase_view(state: IncidentState) -> dict[str, Any]:
    """What phase workflows act on: a change outside it does not wake the running phase."""
    return state.model_dump(exclude=_NOT_FOR_PHASES)


_REPORTER_KNOWS = {"fired", "escalated_to"}
"""What a phase applies to its own copy when it reports fired deadlines (`PhaseRuntime.fire_all`)."""


def known_to_reporter(
    forwarded: dict[str, Any] | None, before: dict[str, Any], after: dict[str, Any]
) -> dict[str, Any] | None:
    """The phase's view once its report is taken: `after` when it knew everything `before` and the
    report changed only what it applies itself (no echo); else `forwarded`, so the change goes down."""
    if forwarded != before or any(after[k] != before[k] for k in after if k not in _REPORTER_KNOWS):
        return forwarded
    return after


def snapshot(state: IncidentState) -> IncidentState:
    """The state as phases receive it: without the timeline, which only the incident keeps."""
    return state.model_copy(update={"timeline": []})
