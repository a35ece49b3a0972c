"""Public status never regresses: what 30 minutes of status-page silence posts, and what a person may post.

The silence post stops once mitigation is applied and repeats the page's own status when the page
moved past Investigating; incidents recorded before the rule (no revision) keep the old timer.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.helpers import utc
from warroom.enums import PublicStatus, Role, Severity
from warroom.models import IncidentState, StatusUpdate
from warroom.policy import authority
from warroom.policy.authority import Rejected
from warroom.policy.timers import PUBLIC_STATUS_NEVER_REGRESSES, pending_deadlines, silence_kind
from warroom.runbook import load_runbook

RUNBOOK = load_runbook()
DECLARED = utc(2026, 11, 27, 14, 0)


def incident(**fields: object) -> IncidentState:
    base: dict[str, object] = dict(
        incident_id="order-api-1",
        service="order-api",
        summary="Order API 503s",
        severity=Severity.P2,
        roles={Role.INCIDENT_COMMANDER: "alice"},
        opened_at=DECLARED,
        declared_at=DECLARED,
        acknowledged_at=DECLARED,
        revisions=[PUBLIC_STATUS_NEVER_REGRESSES],
    )
    base.update(fields)
    return IncidentState.model_validate(base)


def silences(state: IncidentState) -> list[tuple[str, timedelta]]:
    return [(d.kind, d.at - DECLARED) for d in pending_deadlines(state, RUNBOOK) if d.key.startswith("silence")]


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (None, "silence"),
        (PublicStatus.INVESTIGATING, "silence"),
        (PublicStatus.IDENTIFIED, "silence_identified"),
        (PublicStatus.MONITORING, "silence_monitoring"),
        (PublicStatus.RESOLVED, None),
    ],
)
def test_silence_repeats_what_the_page_says_never_investigating_after_it_moved_on(status, kind) -> None:
    state = incident(public_status=status)
    assert silence_kind(state) == kind
    assert silences(state) == ([(kind, timedelta(minutes=30))] if kind else [])


def test_silence_stops_once_mitigation_is_applied() -> None:
    assert silences(incident(mitigation_applied_at=None)) == [("silence", timedelta(minutes=30))]
    assert silences(incident(mitigation_applied_at=DECLARED + timedelta(minutes=29, seconds=59))) == []


def test_incidents_recorded_before_the_rule_keep_the_old_silence_timer() -> None:
    old = incident(revisions=[], mitigation_applied_at=DECLARED, public_status=PublicStatus.MONITORING)
    assert silences(old) == [("silence", timedelta(minutes=30))]


def post(status: PublicStatus) -> StatusUpdate:
    return StatusUpdate(by="alice", public_status=status, public_message="an update")


def test_a_monitoring_page_does_not_go_back_to_investigating() -> None:
    with pytest.raises(Rejected) as refused:
        authority.may_post_update(incident(public_status=PublicStatus.MONITORING), post(PublicStatus.INVESTIGATING))
    assert refused.value.kind == "PublicStatusRegression"
    assert str(refused.value) == (
        "the status page says Monitoring and does not go back to Investigating: post Identified if the fix did not hold"
    )
    authority.may_post_update(incident(public_status=PublicStatus.MONITORING), post(PublicStatus.IDENTIFIED))
    authority.may_post_update(incident(public_status=PublicStatus.MONITORING), post(PublicStatus.MONITORING))
    # Identified may go back: the cause it named can turn out wrong.
    authority.may_post_update(incident(public_status=PublicStatus.IDENTIFIED), post(PublicStatus.INVESTIGATING))
