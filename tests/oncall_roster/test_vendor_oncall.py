"""Who PagerDuty and Opsgenie have on call, read from a real local HTTP server answering in their
APIs' shapes: the right person at the instant, nobody, someone not in the roster, rate limits,
bad tokens, redirects and hostile answers, with the token in no message and no log line."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from pydantic import SecretStr

from activities.oncall_vendors import MAX_BODY, OncallSourceRefused, OpsgenieOnCall, PagerDutyOnCall
from tests.http_steps.support import Recorder, serving
from warroom.contracts.errors import ActivityFailure, OncallSourceUnavailable
from warroom.devserver import free_port
from warroom.oncall.models import Contacts, PersonEntry, Schedule, Shift, VendorSource

TOKEN = "u+pd-Secr3t-T0ken-xyz"
AT = datetime(2026, 12, 11, 23, 59, tzinfo=UTC)  # a Friday, a minute before midnight
PEOPLE = [
    PersonEntry(name="alice", contacts=Contacts(email="alice@example.com", pagerduty_id="PALICE1")),
    PersonEntry(name="bob", contacts=Contacts(email="Bob.Smith@example.com")),
    PersonEntry(name="carol", contacts=Contacts(email="carol@example.com", opsgenie_id="c569c016-8a28")),
]
PD_SCHEDULE = Schedule(name="payments-primary", pagerduty=VendorSource(schedule_id="PSCHED1"))
OG_SCHEDULE = Schedule(name="payments-primary", opsgenie=VendorSource(schedule_id="d875a1b4-9b4e"))


def pd_entry(user_id: str, email: str, schedule_id: str, start: str, end: str | None, level: int = 1) -> dict[str, Any]:
    """One entry of `GET /oncalls?include[]=users` (PagerDuty REST API v2), as it answers."""
    return {
        "escalation_policy": {
            "id": "PT20YPA",
            "type": "escalation_policy_reference",
            "summary": "Payments Escalation Policy",
            "self": "https://api.pagerduty.com/escalation_policies/PT20YPA",
            "html_url": "https://acme.pagerduty.com/escalation_policies/PT20YPA",
        },
        "escalation_level": level,
        "schedule": {
            "id": schedule_id,
            "type": "schedule_reference",
            "summary": "Payments Primary",
            "self": f"https://api.pagerduty.com/schedules/{schedule_id}",
            "html_url": f"https://acme.pagerduty.com/schedules/{schedule_id}",
        },
        "user": {
            "id": user_id,
            "type": "user",
            "name": email.split("@")[0],
            "summary": email.split("@")[0],
            "email": email,
            "time_zone": "Europe/Berlin",
            "self": f"https://api.pagerduty.com/users/{user_id}",
            "html_url": f"https://acme.pagerduty.com/users/{user_id}",
        },
        "start": start,
        "end": end,
    }


def pd_page(*entries: dict[str, Any]) -> bytes:
    return json.dumps({"oncalls": list(entries), "limit": 100, "offset": 0, "more": False, "total": None}).encode()


def og_page(*recipients: str) -> bytes:
    """`GET /v2/schedules/ID/on-calls?flat=true` (Opsgenie Who is On Call API), as it answers."""
    return json.dumps(
        {
            "data": {
                "_parent": {"id": "d875a1b4-9b4e", "name": "Payments Primary", "enabled": True},
                "onCallRecipients": list(recipients),
            },
            "took": 0.011,
            "requestId": "0a5b0a8a-0a7c-4e4e-9a1d-3c5b8a2f4e1d",
        }
    ).encode()


@pytest.fixture
def server() -> Iterator[Recorder]:
    with serving() as recorder:
        yield recorder


@pytest.fixture
def pagerduty(server: Recorder) -> PagerDutyOnCall:
    return PagerDutyOnCall(SecretStr(TOKEN), base_url=server.base, timeout=2.0)


@pytest.fixture
def opsgenie(server: Recorder) -> OpsgenieOnCall:
    return OpsgenieOnCall(SecretStr(TOKEN), base_url=server.base, timeout=2.0)


def query_of(server: Recorder) -> tuple[str, dict[str, list[str]]]:
    parts = urlsplit(server.seen[-1].path)
    return parts.path, parse_qs(parts.query)


async def test_pagerduty_names_the_person_whose_shift_covers_the_instant(
    server: Recorder, pagerduty: PagerDutyOnCall
) -> None:
    server.replies.append(
        (
            200,
            {},
            pd_page(
                pd_entry(
                    "PBOB0001", "bob.smith@example.com", "PSCHED1", "2026-12-04T09:00:00Z", "2026-12-11T09:00:00Z"
                ),
                pd_entry("PCAROL01", "carol@example.com", "POTHER1", "2026-12-11T09:00:00Z", "2026-12-18T09:00:00Z"),
                pd_entry("PALICE1", "alice@work.example", "PSCHED1", "2026-12-11T09:00:00Z", "2026-12-18T09:00:00Z", 2),
            ),
        )
    )
    shift = await pagerduty.shift_at(PD_SCHEDULE, AT, PEOPLE)
    assert shift == Shift(
        person="alice",
        schedule="payments-primary",
        layer="pagerduty",
        start=datetime(2026, 12, 11, 9, tzinfo=UTC),
        end=datetime(2026, 12, 18, 9, tzinfo=UTC),
    ), "the covering entry of this schedule, matched by pagerduty_id although its e-mail differs"
    path, query = query_of(server)
    assert path == "/oncalls"
    assert query["schedule_ids[]"] == ["PSCHED1"] and query["include[]"] == ["users"]
    assert query["since"] == ["2026-12-11T23:59:00+00:00"] and query["until"] == ["2026-12-11T23:59:01+00:00"]
    assert server.seen[-1].headers["authorization"] == f"Token token={TOKEN}"
    assert "version=2" in server.seen[-1].headers["accept"]


async def test_pagerduty_matches_by_email_and_an_open_ended_shift(server: Recorder, pagerduty: PagerDutyOnCall) -> None:
    server.replies.append(
        (200, {}, pd_page(pd_entry("PBOB0001", "bob.smith@EXAMPLE.com", "PSCHED1", "2026-12-01T00:00:00Z", None)))
    )
    shift = await pagerduty.shift_at(PD_SCHEDULE, AT, PEOPLE)
    assert shift is not None and (shift.person, shift.end) == ("bob", None)


async def test_pagerduty_nobody_on_call_or_someone_not_in_the_roster_is_none(
    server: Recorder, pagerduty: PagerDutyOnCall
) -> None:
    server.replies.append((200, {}, pd_page()))
    assert await pagerduty.shift_at(PD_SCHEDULE, AT, PEOPLE) is None
    stranger = pd_entry("PZZZ9999", "zed@example.com", "PSCHED1", "2026-12-11T09:00:00Z", "2026-12-18T09:00:00Z")
    server.replies.append((200, {}, pd_page(stranger)))
    assert await pagerduty.shift_at(PD_SCHEDULE, AT, PEOPLE) is None
    ended = pd_entry("PALICE1", "alice@example.com", "PSCHED1", "2026-12-04T09:00:00Z", "2026-12-11T23:59:00Z")
    server.replies.append((200, {}, pd_page(ended)))
    assert await pagerduty.shift_at(PD_SCHEDULE, AT, PEOPLE) is None, "a shift ending at the instant does not cover it"


async def test_opsgenie_names_the_first_recipient_in_the_roster(server: Recorder, opsgenie: OpsgenieOnCall) -> None:
    server.replies.append((200, {}, og_page("zed@example.com", "bob.smith@example.com")))
    assert await opsgenie.shift_at(OG_SCHEDULE, AT, PEOPLE) == Shift(
        person="bob", schedule="payments-primary", layer="opsgenie"
    )
    path, query = query_of(server)
    assert path == "/v2/schedules/d875a1b4-9b4e/on-calls"
    assert query == {"scheduleIdentifierType": ["id"], "flat": ["true"], "date": ["2026-12-11T23:59:00Z"]}
    assert server.seen[-1].headers["authorization"] == f"GenieKey {TOKEN}"

    server.replies.append((200, {}, og_page("c569c016-8a28")))
    shift = await opsgenie.shift_at(OG_SCHEDULE, AT, PEOPLE)
    assert shift is not None and shift.person == "carol", "matched by opsgenie_id"
    server.replies.append((200, {}, og_page()))
    assert await opsgenie.shift_at(OG_SCHEDULE, AT, PEOPLE) is None
    server.replies.append((200, {}, og_page("zed@example.com")))
    assert await opsgenie.shift_at(OG_SCHEDULE, AT, PEOPLE) is None


def no_token(err: BaseException, caplog: pytest.LogCaptureFixture) -> None:
    assert TOKEN not in str(err) and TOKEN not in repr(err)
    assert all(TOKEN not in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("vendor", ["pagerduty", "opsgenie"])
async def test_rate_limits_and_server_errors_are_retryable_with_the_server_s_delay(
    request: pytest.FixtureRequest, server: Recorder, vendor: str, caplog: pytest.LogCaptureFixture
) -> None:
    reader: PagerDutyOnCall | OpsgenieOnCall = request.getfixturevalue(vendor)
    schedule = PD_SCHEDULE if vendor == "pagerduty" else OG_SCHEDULE
    caplog.set_level(logging.INFO)  # the worker's level: httpcore's DEBUG echoes what a server sends
    server.replies.append((429, {"Retry-After": "7"}, b'{"error": {"message": "Rate Limit Exceeded", "code": 2020}}'))
    with pytest.raises(OncallSourceUnavailable) as caught:
        await reader.shift_at(schedule, AT, PEOPLE)
    assert (caught.value.retryable, caught.value.retry_after) == (True, 7.0)
    assert "HTTP 429" in str(caught.value)
    failure = caught.value.to_application_error()
    assert not failure.non_retryable and failure.next_retry_delay is not None
    no_token(caught.value, caplog)

    server.replies.append((503, {}, f"upstream broke, token {TOKEN}".encode()))
    with pytest.raises(OncallSourceUnavailable, match="HTTP 503") as caught:
        await reader.shift_at(schedule, AT, PEOPLE)
    no_token(caught.value, caplog)


@pytest.mark.parametrize(
    ("status", "says"),
    [(401, "check the API token"), (403, "check the API token"), (404, "no such schedule"), (302, "redirect")],
)
@pytest.mark.parametrize("vendor", ["pagerduty", "opsgenie"])
async def test_refusals_are_not_retried_and_name_no_token(
    request: pytest.FixtureRequest,
    server: Recorder,
    vendor: str,
    status: int,
    says: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    reader: PagerDutyOnCall | OpsgenieOnCall = request.getfixturevalue(vendor)
    schedule = PD_SCHEDULE if vendor == "pagerduty" else OG_SCHEDULE
    caplog.set_level(logging.INFO)  # the worker's level: httpcore's DEBUG echoes what a server sends
    elsewhere = f"http://127.0.0.1:{free_port()}/steal?token={TOKEN}"
    body = f'{{"error": {{"message": "Invalid token {TOKEN}"}}}}'.encode()
    server.replies.append((status, {"Location": elsewhere}, body))
    with pytest.raises(OncallSourceRefused, match=says) as caught:
        await reader.shift_at(schedule, AT, PEOPLE)
    assert caught.value.retryable is False and caught.value.to_application_error().non_retryable
    assert caught.value.type == "OncallSourceRefused" and f"HTTP {status}" in str(caught.value)
    assert len(server.seen) == 1, "nothing followed the redirect"
    no_token(caught.value, caplog)


HOSTILE: list[tuple[str, bytes, type[ActivityFailure]]] = [
    ("not json", b"<html>maintenance</html>", OncallSourceUnavailable),
    ("a list", b"[]", OncallSourceRefused),
    ("wrong types", b'{"oncalls": "everyone", "data": {"onCallRecipients": 7}}', OncallSourceRefused),
    (
        "times without a zone",
        b'{"oncalls": [{"user": {"id": "PALICE1"}, "schedule": {"id": "PSCHED1"}, "start": "2026-12-11T09:00:00"}], '
        b'"data": {"onCallRecipients": [{"id": "x"}]}}',
        OncallSourceRefused,
    ),
    ("nested a million deep", b"[" * 500_000 + b"]" * 500_000, OncallSourceRefused),
    ("over the size limit", b'{"oncalls": [], "pad": "' + b"x" * (MAX_BODY + 10) + b'"}', OncallSourceRefused),
]


@pytest.mark.parametrize(("what", "body", "error"), HOSTILE, ids=[h[0] for h in HOSTILE])
@pytest.mark.parametrize("vendor", ["pagerduty", "opsgenie"])
async def test_hostile_answers_are_refused_by_name(
    request: pytest.FixtureRequest,
    server: Recorder,
    vendor: str,
    what: str,
    body: bytes,
    error: type[ActivityFailure],
    caplog: pytest.LogCaptureFixture,
) -> None:
    reader: PagerDutyOnCall | OpsgenieOnCall = request.getfixturevalue(vendor)
    schedule = PD_SCHEDULE if vendor == "pagerduty" else OG_SCHEDULE
    server.replies.append((200, {}, body))
    with pytest.raises(error) as caught:
        await reader.shift_at(schedule, AT, PEOPLE)
    assert str(caught.value).startswith(f"{vendor} "), "the message names the vendor"
    if what == "over the size limit":
        assert f"larger than {MAX_BODY} bytes" in str(caught.value)
    no_token(caught.value, caplog)


async def test_an_unreachable_vendor_is_retryable(caplog: pytest.LogCaptureFixture) -> None:
    reader = PagerDutyOnCall(SecretStr(TOKEN), base_url=f"http://127.0.0.1:{free_port()}", timeout=2.0)
    with pytest.raises(OncallSourceUnavailable, match="ConnectError") as caught:
        await reader.shift_at(PD_SCHEDULE, AT, PEOPLE)
    no_token(caught.value, caplog)
    assert TOKEN not in repr(reader)


async def test_a_slow_vendor_times_out_as_retryable(server: Recorder) -> None:
    reader = PagerDutyOnCall(SecretStr(TOKEN), base_url=server.base, timeout=0.5)
    server.replies.append((-1, {}, b""))  # the server thinks for 5 s
    with pytest.raises(OncallSourceUnavailable, match="timed out"):
        await reader.shift_at(PD_SCHEDULE, AT, PEOPLE)
