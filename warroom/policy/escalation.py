"""Who hears about an incident, now and later, from the escalation matrix and its special cases.

The plan is data: the workflow sends each `immediate` notice at once and arms a timer for each
`timed` escalation, cancelled when the incident reaches its `unless` state first.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict

from warroom.config import RunbookConfig
from warroom.enums import Severity, format_duration
from warroom.models import ImpactSignals

_NOUN = {"mitigated": "mitigation", "resolved": "resolution"}

SpecialCase = Literal["data_loss", "security"]
"""The special cases that send something the moment they are raised."""
SPECIAL_CASES: tuple[SpecialCase, ...] = ("data_loss", "security")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Notice(_Model):
    """Tell `audience` now."""

    audience: list[str]
    reason: str


class TimedEscalation(_Model):
    """Tell `to` once `after` has passed since the start, unless the incident is `unless` by then."""

    kind: Literal["escalate", "vp_notice"]
    after: timedelta
    to: list[str]
    unless: Literal["mitigated", "resolved"]
    reason: str


class EscalationPlan(_Model):
    severity: Severity
    immediate: list[Notice]
    timed: list[TimedEscalation]
    public_details: bool = True
    hand_off_to: str | None = None
    require_vendor_ticket: bool = False


def special_case_notices(case: SpecialCase, runbook: RunbookConfig) -> list[Notice]:
    """Who hears at once when `case` is raised, at declaration or any time after it."""
    special = runbook.special_cases
    if case == "data_loss":
        return [
            Notice(
                audience=list(special.data_loss.notify_immediately),
                reason="data loss suspected: notify engineering manager and legal/privacy immediately",
            ),
            Notice(
                audience=[special.data_loss.escalate_to],
                reason="data loss: skip the P-level system, go directly to the executive team",
            ),
        ]
    return [
        Notice(
            audience=[special.security_incident.hand_off_to],
            reason="security incident suspected: hand off to the security team",
        )
    ]


def escalation_plan(
    severity: Severity, signals: ImpactSignals, runbook: RunbookConfig, raised_late: Collection[str] = ()
) -> EscalationPlan:
    """The severity row's notices and timers, adjusted by every special case the signals raise.

    Data loss skips the P-level system: legal/privacy and the executive team hear at once and the
    matrix timers are dropped. Data loss raised after declaration (in `raised_late`) keeps the
    timers already counting: the team lead and the VP were promised a page, and the executives
    hearing early is no reason to break that promise. Security hands off and keeps details out
    of public channels.
    """
    row = runbook.severity_matrix[severity]
    special = runbook.special_cases
    immediate: list[Notice] = []
    timed: list[TimedEscalation] = []
    hand_off_to: str | None = None
    public_details = True
    require_vendor_ticket = False

    if signals.data_loss:
        immediate.extend(special_case_notices("data_loss", runbook))
    if not signals.data_loss or "data_loss" in raised_late:
        timed.append(
            TimedEscalation(
                kind="escalate",
                after=row.escalate_after,
                to=[row.escalate_to],
                unless=row.escalate_unless,
                reason=f"{severity}: {format_duration(row.escalate_after)} without {_NOUN[row.escalate_unless]}",
            )
        )
        if row.notify_vp_after is not None:
            timed.append(
                TimedEscalation(
                    kind="vp_notice",
                    after=row.notify_vp_after,
                    to=[row.vp],
                    unless="mitigated",
                    reason=f"{severity}: {format_duration(row.notify_vp_after)} without mitigation",
                )
            )

    if signals.security:
        hand_off_to = special.security_incident.hand_off_to
        public_details = special.security_incident.public_details
        immediate.extend(special_case_notices("security", runbook))

    if signals.third_party_vendor:
        require_vendor_ticket = special.third_party_vendor.require_vendor_ticket

    already = {who for notice in immediate for who in notice.audience}
    at_start = [who for who in row.notify_at_start if who not in already]
    if at_start:
        immediate.append(Notice(audience=at_start, reason=f"{severity} declared: notify at start"))

    return EscalationPlan(
        severity=severity,
        immediate=immediate,
        timed=timed,
        public_details=public_details,
        hand_off_to=hand_off_to,
        require_vendor_ticket=require_vendor_ticket,
    )


class SeverityChange(_Model):
    """What a severity change mid-incident sets off: the new severity's start actions that the old
    one did not take, and in words what starts, stops and changes."""

    before: Severity
    after: Severity
    notify: list[str]
    ask_comms_lead: bool
    post_status_initial: bool
    starts: list[str]
    stops: list[str]
    changes: list[str]

    @property
    def upgrade(self) -> bool:
        return self.after.rank < self.before.rank


def _duties(severity: Severity, runbook: RunbookConfig) -> dict[str, str]:
    """What a severity commits the team to, by duty, in the words people read."""
    row = runbook.severity_matrix[severity]
    comms = runbook.comms
    duties = {
        "escalate": f"escalation to {row.escalate_to} after {format_duration(row.escalate_after)} "
        f"without {_NOUN[row.escalate_unless]}"
    }
    if row.notify_vp_after is not None:
        duties["vp"] = f"{row.vp} notice after {format_duration(row.notify_vp_after)} without mitigation"
    if severity in comms.status_page_for:
        duties["status_page"] = (
            f"status page updates every {format_duration(comms.external_update_every)} "
            f"(and 'still investigating' after {format_duration(comms.silence_max)} of silence)"
        )
    if severity in runbook.roles.communications_lead_required_for:
        duties["comms_lead"] = "a Communications Lead"
    if severity in comms.customer_email_for:
        duties["customer_email"] = (
            f"a customer e-mail within {format_duration(comms.customer_email_within)} of resolution"
        )
    if severity in runbook.retrospective.required_for:
        duties["pir"] = "a post-incident review"
    return duties


def severity_change(
    before: Severity,
    after: Severity,
    runbook: RunbookConfig,
    *,
    told: Collection[str] = (),
    comms_lead_assigned: bool = False,
    posted_publicly: bool = False,
) -> SeverityChange:
    """Re-run the start actions for the new severity: notify its `notify_at_start` people who have not
    heard (`told`), ask for a Communications Lead it requires, post the initial status page when the
    page was not in use; and say what starts, stops and changes (a downgrade says what stops)."""
    old, new = runbook.severity_matrix[before], runbook.severity_matrix[after]
    was, now = _duties(before, runbook), _duties(after, runbook)
    comms_required = runbook.roles.communications_lead_required_for
    status_page = runbook.comms.status_page_for
    return SeverityChange(
        before=before,
        after=after,
        notify=[p for p in new.notify_at_start if p not in old.notify_at_start and p not in told],
        ask_comms_lead=after in comms_required and before not in comms_required and not comms_lead_assigned,
        post_status_initial=after in status_page and before not in status_page and not posted_publicly,
        starts=[text for duty, text in now.items() if duty not in was],
        stops=[text for duty, text in was.items() if duty not in now],
        changes=[
            f"{text} (was {_after_common_words(was[duty], text)})"
            for duty, text in now.items()
            if was.get(duty, text) != text
        ],
    )


def _after_common_words(old: str, new: str) -> str:
    """`old` without the words it begins with in common with `new`: "after 4h without resolution"."""
    old_words, new_words = old.split(), new.split()
    same = 0
    while same < min(len(old_words), len(new_words)) - 1 and old_words[same] == new_words[same]:
        same += 1
    return " ".join(old_words[same:])
