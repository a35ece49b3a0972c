"""The patch bundle: one marker in a new run's history for every workflow change made before it.

Each `workflow.patched(id)` a new run takes writes a marker, and Temporal's core adds an upsert of
the `TemporalChangeVersion` search attribute: two commands, two history events, and two state
machines the worker keeps for the rest of the run. A new incident took twelve before its first phase
(the runbook revisions and the continue-as-new and forwarding changes), so 24 of its first 81 events
were patch bookkeeping, and the machines were most of what the worker's core held per cached incident.

A run that starts now asks for `BUNDLE` once, the first time it asks for any id in `BUNDLED`, and
every bundled id is on from then without a marker of its own (`workflows._patches.patched`).
Histories recorded before the bundle never asked for it: they replay as they were written, one
marker per id. A shipped bundle never changes: a later change takes its own id.
"""

from __future__ import annotations

from collections.abc import Iterable

BUNDLE = "bundle-2026-12"

BUNDLED: frozenset[str] = frozenset(
    {
        # Runbook revisions (warroom.policy.revisions.REVISIONS as the bundle shipped).
        "slo-burn-is-at-least-p2",
        "burn-duration-strict",
        "channel-sequence",
        "status-page-deadlines",
        "special-cases-mid-incident",
        "public-status-never-regresses",
        "escalation-clock-from-opening",
        "severity-change-start-actions",
        "oncall-resolution",
        # The incident entity.
        "incident-continue-as-new",
        "forward-phase-relevant-state",
        "forward-changes-during-phase-start",
        "ack-is-not-command",
        "page-acknowledged",
        "vendor-ticket-posted",
        "step-catalog",
        "track-action-items",
        # Phases and their deadlines.
        "no-ic-page-for-who-commands",
        "war-room-prompts",
        "silent-ic",
        "resolution-timers",
        "rollback-rule",
        "diagnosis",
        "ic-stuck-line",
        "deadline-timer-kept",
        "lean-deadlines",
        "relapse-watch",
        "resolved-notice-to-stakeholders",
        "unverifiable-mitigation",
        "metrics-clean-window",
        "customer-email",
        "incident-ticket",
        "incident-ticket-timeline",
        # Rollback and diagnosis.
        "status-identified-when-the-rollback-rule-holds",
        "rollback-via-catalog",
        "diagnosis-prometheus-classes",
        "diagnosis-kubernetes-events",
        "diagnosis-kubernetes-usage",
        "diagnosis-database",
    }
)
"""Every patch id in use when the bundle shipped."""


def taken(markers: Iterable[str]) -> list[str]:
    """The patch ids a run took, from the ids of the patch markers in its history, in order:
    `BUNDLE` stands for every bundled id (sorted), each id once."""
    ids: list[str] = []
    for marker in markers:
        for patch_id in sorted(BUNDLED) if marker == BUNDLE else [marker]:
            if patch_id not in ids:
                ids.append(patch_id)
    return ids
