"""The `ingest_alerts` rule, both sides of each boundary: 1 to MAX_ALERTS_PER_UPDATE alerts, an open incident."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from warroom.enums import Phase
from warroom.models import Alert, IncidentState
from warroom.policy import authority
from warroom.policy.authority import MAX_ALERTS_PER_UPDATE, Rejected

AT = datetime(2026, 1, 1, tzinfo=UTC)
ALERT = Alert(fingerprint="f1", summary="5xx above 2%")


def incident(phase: Phase) -> IncidentState:
    return IncidentState(
        incident_id="order-api-1", service="order-api", summary="checkout 5xx", opened_at=AT, phase=phase
    )


def refusal(alerts: list[Alert], phase: Phase = Phase.DETECTION) -> tuple[str, str]:
    with pytest.raises(Rejected) as caught:
        authority.may_ingest_alerts(incident(phase), alerts)
    return caught.value.kind, str(caught.value)


@pytest.mark.parametrize("n", [1, MAX_ALERTS_PER_UPDATE])
def test_one_to_the_limit_are_taken_by_an_open_incident(n: int) -> None:
    authority.may_ingest_alerts(incident(Phase.COMMAND), [ALERT] * n)


def test_an_empty_batch_and_one_over_the_limit_are_refused_by_name() -> None:
    assert refusal([]) == ("EmptyBatch", "an empty batch records nothing: send at least one alert")
    over = MAX_ALERTS_PER_UPDATE + 1
    assert refusal([ALERT] * over) == (
        "TooManyAlerts",
        f"{over} alerts in one batch; at most {MAX_ALERTS_PER_UPDATE}: split it",
    )


def test_a_closed_incident_refuses_a_batch_as_it_refuses_one_alert() -> None:
    assert refusal([ALERT, ALERT], Phase.CLOSED) == (
        "IncidentClosed",
        "incident closed; the next alert opens a new one",
    )
