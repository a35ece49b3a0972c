"""Revised runbook rules, by the `workflow.patched` id that turns each on for new incidents.

An incident asks `workflow.patched` for every id in `REVISIONS` once, when it starts (a new one
through the patch bundle, warroom.patches: one marker for all of them), and keeps
the ids it got in `IncidentState.revisions`; the ledger and the policies read that list. New
incidents follow every revision; a replayed incident keeps the rules its history was written
under, and so does every phase of it (phases see the same state), for its whole life.
"""

from __future__ import annotations

SLO_BURN_IS_AT_LEAST_P2 = "slo-burn-is-at-least-p2"
"""A burn meeting the declare criterion is SLO-affecting, so never P3 (issue #12)."""

BURN_DURATION_IS_STRICT = "burn-duration-strict"
"""The burn criterion's "for > 5 minutes" is strict: held exactly 5:00 does not declare (issue #12)."""

CHANNEL_SEQUENCE = "channel-sequence"
"""The channel is `#incident-YYYY-MM-DD-NNN`, numbered by the day's ChannelSequence (issue #12);
incidents started before keep `#incident-<date>-<service>-<HHMM>`."""

STATUS_PAGE_DEADLINES = "status-page-deadlines"
"""comms.initial_status_page_within and resolved_notice_within are deadlines: a status page post
missing by then prompts the Comms lead (issue #12)."""

SPECIAL_CASES_MID_INCIDENT = "special-cases-mid-incident"
"""A special case raised after declaration sends what declaring with it sends (issue #12)."""

PUBLIC_STATUS_NEVER_REGRESSES = "public-status-never-regresses"
"""The silence post stops at mitigation and repeats what the page says, never going back (issue #12)."""

SEVERITY_CHANGE_START_ACTIONS = "severity-change-start-actions"
"""A severity change re-runs what declaring at the new severity does; a downgrade says what stops (issue #12)."""

ESCALATION_FROM_OPENING = "escalation-clock-from-opening"
"""The matrix's "30 minutes without mitigation" counts from when the incident was opened, not from
its declaration (issue #12)."""

ONCALL_RESOLUTION = "oncall-resolution"
"""Pages and stakeholder notices name people: their roles resolve at the instant they fire, to the
person on call then (WARROOM_ONCALL); a gap pages the next level and is recorded (issue #14)."""

REVISIONS: tuple[str, ...] = (
    SLO_BURN_IS_AT_LEAST_P2,
    BURN_DURATION_IS_STRICT,
    CHANNEL_SEQUENCE,
    STATUS_PAGE_DEADLINES,
    SPECIAL_CASES_MID_INCIDENT,
    PUBLIC_STATUS_NEVER_REGRESSES,
    ESCALATION_FROM_OPENING,
    SEVERITY_CHANGE_START_ACTIONS,
    ONCALL_RESOLUTION,
)
"""Every revised rule a new incident follows, in the order the incident asks for them."""
