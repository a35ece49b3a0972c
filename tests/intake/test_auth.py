"""A forged or replayed request changes nothing: 401/403, zero Temporal calls, no workflow.

Each row is one sender and one way of getting its credentials right or wrong. "No workflow" is
proven twice: the client interceptor saw no call, and the incident's workflow id does not exist.
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from warroom.intake import identity

BEARER = {"Authorization": "Bearer generic-token"}
CHALLENGES = {"generic": 'Bearer realm="warroom-intake"', "opsgenie": 'Basic realm="warroom-intake"'}


def _group(source: str, body: dict[str, Any]) -> str:
    return {
        "alertmanager": lambda: body["groupKey"],
        "grafana": lambda: body["groupKey"],
        "generic": lambda: body["group_key"],
        "opsgenie": lambda: body["alert"]["alias"],
        "pagerduty": lambda: body["event"]["data"]["incident_key"],
    }[source]()


def _bytes(body: dict[str, Any]) -> bytes:
    return json.dumps(body).encode()


# (case, source, headers(body bytes, tools) -> headers, tamper the body after signing?, expected status)
CASES = [
    ("bearer: good", "generic", lambda b, t: BEARER, False, 200),
    ("bearer: missing", "generic", lambda b, t: {}, False, 401),
    ("bearer: wrong token", "generic", lambda b, t: {"Authorization": "Bearer generic-tokeN"}, False, 403),
    (
        "bearer: basic sent instead",
        "alertmanager",
        lambda b, t: {"Authorization": httpx.BasicAuth("am", "am-token")._auth_header},
        False,
        403,
    ),
    (
        "basic: good",
        "opsgenie",
        lambda b, t: {"Authorization": httpx.BasicAuth("opsgenie", "og-password")._auth_header},
        False,
        200,
    ),
    (
        "basic: wrong password",
        "opsgenie",
        lambda b, t: {"Authorization": httpx.BasicAuth("opsgenie", "og-passwore")._auth_header},
        False,
        403,
    ),
    ("basic: missing", "opsgenie", lambda b, t: {}, False, 401),
    ("pagerduty: good", "pagerduty", lambda b, t: {"X-PagerDuty-Signature": t["pd"](b, "pd-secret")}, False, 200),
    ("pagerduty: missing signature", "pagerduty", lambda b, t: {}, False, 401),
    (
        "pagerduty: wrong secret",
        "pagerduty",
        lambda b, t: {"X-PagerDuty-Signature": t["pd"](b, "pd-secreT")},
        False,
        403,
    ),
    (
        "pagerduty: tampered body",
        "pagerduty",
        lambda b, t: {"X-PagerDuty-Signature": t["pd"](b, "pd-secret")},
        True,
        403,
    ),
    (
        "pagerduty: rotated, ours is the second signature",
        "pagerduty",
        lambda b, t: {"X-PagerDuty-Signature": t["pd"](b, "pd-old-secret", "pd-secret")},
        False,
        200,
    ),
    ("grafana: good", "grafana", lambda b, t: t["gf"](b), False, 200),
    ("grafana: missing signature", "grafana", lambda b, t: {}, False, 401),
    ("grafana: wrong secret", "grafana", lambda b, t: t["gf"](b, secret="gf-secreT"), False, 403),
    ("grafana: tampered body", "grafana", lambda b, t: t["gf"](b), True, 403),
    ("grafana: stale timestamp", "grafana", lambda b, t: t["gf"](b, at=int(time.time()) - 3600), False, 403),
    ("grafana: timestamp from the future", "grafana", lambda b, t: t["gf"](b, at=int(time.time()) + 3600), False, 403),
]


@pytest.mark.parametrize(("source", "headers", "tamper", "status"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
async def test_credentials(intake, payload, pagerduty_signature, grafana_headers, source, headers, tamper, status):
    body = payload(source)
    signed = _bytes(body)
    sent = headers(signed, {"pd": pagerduty_signature, "gf": grafana_headers})
    if tamper:
        body = {**body, "tampered": True}
    workflow_id = identity.workflow_id(source, _group(source, body))

    response = await intake.post(source, _bytes(body), auth=False, headers=sent)

    assert response.status_code == status, response.text
    if status == 200:
        assert response.json()["workflow_id"] == workflow_id
        return
    assert intake.calls.workflow_ids == [], "no Temporal call for a refused request"
    assert not await intake.exists(workflow_id)
    # A 401 names the scheme to use (RFC 9110); signed sources have none, and a 403 never offers one.
    assert response.headers.get("WWW-Authenticate") == (CHALLENGES.get(source) if status == 401 else None)


async def test_a_stale_pagerduty_event_is_refused(intake, payload, pagerduty_signature):
    body = payload("pagerduty")
    body["event"]["occurred_at"] = "2024-05-20T14:00:00Z"
    raw = _bytes(body)

    response = await intake.post(
        "pagerduty", raw, auth=False, headers={"X-PagerDuty-Signature": pagerduty_signature(raw, "pd-secret")}
    )

    assert response.status_code == 403 and "replay window" in response.json()["detail"]
    assert intake.calls.workflow_ids == []


async def test_a_replayed_signed_delivery_is_recorded_once(intake, payload, grafana_headers):
    raw = _bytes(payload("grafana"))
    headers = grafana_headers(raw)

    first = await intake.post("grafana", raw, auth=False, headers=headers)
    replay = await intake.post("grafana", raw, auth=False, headers=headers)

    assert first.status_code == replay.status_code == 200
    assert replay.json()["duplicate"] is True and replay.json()["accepted"] == 0
    assert len(intake.calls) == 1


async def test_a_source_without_credentials_is_closed(make_intake, payload):
    async with make_intake(http=False, generic_token=None) as intake:
        response = await intake.post("generic", payload("generic"), headers=BEARER)

    assert response.status_code == 403
    assert "WARROOM_INTAKE_GENERIC_TOKEN" in response.json()["detail"]
    assert intake.calls.workflow_ids == []
