"""What a fired deadline tells the incident, as a pure function of how its messages went.

A deadline's messages (the page, the IC's stuck line, several deadlines due at one instant) go
out in one `notify_batch` activity, which then reports to the incident itself: the events it
signals are built here from each message's outcome, in the order the one-message-per-activity
path reported them (per message: its failure or its on-call gaps; then the deadline itself), so
the timeline reads exactly as before whichever path ran.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from warroom.models import Delivery, PhaseEvent
from warroom.oncall.models import OncallResult


class MessageOutcome(BaseModel):
    """One message of a batch: delivered (`delivery`), or failed (`error`; `retryable` when a later
    attempt could still deliver it, so the batch does not report it as failed yet)."""

    model_config = ConfigDict(extra="forbid")

    delivery: Delivery | None = None
    error: str | None = None
    retryable: bool = False


class DeadlineReport(BaseModel):
    """A fired deadline's event, before its messages went out: `messages` index the batch's
    notifications it sent, the first one being the deadline's own (its delivery fills `delivered`
    and `paged`)."""

    model_config = ConfigDict(extra="forbid")

    event: PhaseEvent
    messages: list[int] = Field(min_length=1)


def gap_events(result: OncallResult, template: str) -> list[PhaseEvent]:
    """A role that resolved to nobody is never silent: one timeline event per gap, naming who was paged instead."""
    events = []
    for gap in result.gaps:
        stand_in = next((r for r in result.resolutions if r.instead_of == gap.role), None)
        instead = f"paged {stand_in.describe} instead" if stand_in else "nobody on the escalation chain either"
        where = f" of team {gap.team}" if gap.team else ""
        schedule = f" (schedule {gap.schedule})" if gap.schedule else ""
        events.append(
            PhaseEvent(
                kind="oncall_gap",
                message=f"{gap.role}{where} resolved to nobody{schedule} for {template!r}: {instead}",
                data={"role": gap.role, "team": gap.team or "", "paged_instead": stand_in.person if stand_in else ""},
            )
        )
    return events


def failed_event(channel: str, template: str, error: str) -> PhaseEvent:
    """A message that could not be delivered after its retries: reported, never fatal to the incident."""
    return PhaseEvent(
        kind="notification_failed", message=f"{channel} message {template!r} could not be delivered: {error}"
    )


def message_events(channel: str, template: str, outcome: MessageOutcome) -> list[PhaseEvent]:
    """What one message adds to the timeline: its failure, or the on-call gaps its page met."""
    if outcome.delivery is None:
        return [failed_event(channel, template, outcome.error or "not delivered")]
    return gap_events(outcome.delivery.oncall, template) if outcome.delivery.oncall is not None else []


def deadline_event(event: PhaseEvent, delivery: Delivery | None) -> PhaseEvent:
    """The deadline's own event with how its message went: delivered yes/no, who was paged."""
    data = dict(event.data)
    data["delivered"] = "yes" if delivery else "no"
    if delivery and delivery.oncall and delivery.oncall.paged:
        data["paged"] = delivery.oncall.paged
    return event.model_copy(update={"data": data, "public_post": event.public_post and delivery is not None})


def report_events(
    reports: Sequence[DeadlineReport], channels: Sequence[tuple[str, str]], outcomes: Sequence[MessageOutcome]
) -> list[PhaseEvent]:
    """Every event a batch reports, in order; `channels[i]` is message i's (channel, template)."""
    events: list[PhaseEvent] = []
    for report in reports:
        for i in report.messages:
            events += message_events(*channels[i], outcomes[i])
        events.append(deadline_event(report.event, outcomes[report.messages[0]].delivery))
    return events


def repeated(fired: Sequence[str], events: Sequence[PhaseEvent]) -> bool:
    """A report the incident already took (the activity retried after signalling): its first deadline is fired."""
    key = next((e.deadline_key for e in events if e.deadline_key), None)
    return key is not None and key in fired
