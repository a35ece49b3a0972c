"""The pure side of adopting a runbook: which pending deadlines another runbook moves, and who may adopt."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.helpers import MINUTE, utc
from warroom.config import RunbookConfig
from warroom.enums import Phase, Role, Severity
from warroom.models import AdoptRunbook, Deadline, IncidentState
from warroom.policy.adoption import deadline_moves, moved, moves_under
from warroom.policy.authority import Rejected, may_adopt_runbook
from warroom.policy.revisions import REVISIONS
from warroom.runbook import load_runbook

T0 = utc(2026, 12, 6, 14, 0)


def p2_escalating_after(after: timedelta) -> RunbookConfig:
    base = load_runbook()
    p2 = base.severity_matrix[Severity.P2].model_copy(update={"escalate_after": after})
    return base.model_copy(update={"severity_matrix": {**base.severity_matrix, Severity.P2: p2}})


def p2_incident(**fields: object) -> IncidentState:
    base: dict[str, object] = dict(
        incident_id="order-api-1",
        service="order-api",
        summary="503s",
        opened_at=T0,
        declared_at=T0,
        acknowledged_at=T0,
        acknowledged_by="alice",
        severity=Severity.P2,
        phase=Phase.COMMAND,
        roles={Role.INCIDENT_COMMANDER: "alice"},
        revisions=list(REVISIONS),
    )
    base.update(fields)
    return IncidentState.model_validate(base)


@pytest.mark.parametrize(("after", "shift"), [(30 * MINUTE, -30 * MINUTE), (90 * MINUTE, 30 * MINUTE)])
def test_a_changed_p2_escalation_moves_only_the_escalation(after: timedelta, shift: timedelta) -> None:
    moves = moves_under(p2_incident(), load_runbook(), p2_escalating_after(after))
    [escalation] = moved(moves)
    assert (escalation.key, escalation.kind) == ("escalate:engineering-team-lead", "escalate")
    assert escalation.now_due_at == T0 + 60 * MINUTE and escalation.difference == shift
    assert len(moves) > 1 and all(m.difference == timedelta(0) for m in moves if m is not escalation)


def test_the_same_runbook_moves_nothing_and_a_mitigated_incident_has_no_escalation_to_move() -> None:
    assert moved(moves_under(p2_incident(), load_runbook(), load_runbook())) == []
    mitigated = p2_incident(mitigated_at=T0 + 10 * MINUTE)
    assert moved(moves_under(mitigated, load_runbook(), p2_escalating_after(30 * MINUTE))) == []


def test_a_deadline_only_one_runbook_has_is_new_or_dropped() -> None:
    kept = Deadline(key="k", kind="escalate", at=T0)
    dropped = Deadline(key="d", kind="vp_notice", at=T0 + MINUTE)
    new = Deadline(key="n", kind="silence", at=T0 + 2 * MINUTE)
    moves = deadline_moves([kept, dropped], [new, kept])
    assert [(m.key, m.moved, m.difference) for m in moves] == [
        ("k", False, timedelta(0)),
        ("d", True, None),
        ("n", True, None),
    ]
    assert (moves[1].would_be_due_at, moves[2].now_due_at) == (None, None)


def test_only_the_ic_of_an_open_incident_adopts_a_runbook_that_changes_something() -> None:
    shorter = p2_escalating_after(30 * MINUTE)
    may_adopt_runbook(p2_incident(), AdoptRunbook(by="alice", runbook=shorter, reason="r"), load_runbook())
    cases = [
        (p2_incident(), "bob", shorter, "NotIncidentCommander"),
        (p2_incident(roles={}), "alice", shorter, "NoCommander"),
        (p2_incident(phase=Phase.CLOSED), "alice", shorter, "IncidentClosed"),
        (p2_incident(), "alice", load_runbook(), "NoChange"),
    ]
    for state, by, runbook, kind in cases:
        with pytest.raises(Rejected) as refused:
            may_adopt_runbook(state, AdoptRunbook(by=by, runbook=runbook, reason="r"), load_runbook())
        assert refused.value.kind == kind


def test_a_runbook_whose_customer_comms_disagree_is_refused() -> None:
    base = load_runbook()
    disagreeing = base.model_copy(update={"comms": base.comms.model_copy(update={"status_page_for": [Severity.P1]})})
    assert disagreeing.customer_comms_conflicts()
    with pytest.raises(Rejected) as refused:
        may_adopt_runbook(p2_incident(), AdoptRunbook(by="alice", runbook=disagreeing, reason="r"), base)
    assert refused.value.kind == "InvalidRunbook" and "severity_matrix.P2.customer_comms" in str(refused.value)
