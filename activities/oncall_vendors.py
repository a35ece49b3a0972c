"""Who PagerDuty or Opsgenie has on call, for schedules that live there.

warroom does not fight the tool that owns the schedule: it reads the on-call at the instant a
page fires, to name the person in the channel and the timeline, and the page itself goes through
that tool (PagerDuty's Events API, as before). The person is matched by the roster's
`pagerduty_id` / `opsgenie_id` contact, else by e-mail.

    PagerDuty   GET {base}/oncalls?schedule_ids[]=ID&since=AT&until=AT   (Authorization: Token token=…)
    Opsgenie    GET {base}/v2/schedules/ID/on-calls?scheduleIdentifierType=id&flat=true&date=AT
                                                                        (Authorization: GenieKey …)

Failures: `OncallSourceUnavailable` (retryable: unreachable, 5xx, 429 with Retry-After);
`OncallSourceRefused` (not retryable: 401/403/404, a redirect, an answer over `MAX_BODY` or of
another shape); `NotConfigured` (no token for that vendor on this worker). The token never
appears in a log line or an error message, and no redirect is followed: an answer comes from the
configured base URL or not at all.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Protocol
from urllib.parse import quote

import httpx
from pydantic import AwareDatetime, BaseModel, ConfigDict, SecretStr, ValidationError

from activities.channels._http import parse_retry_after
from warroom.contracts.errors import ActivityFailure, OncallSourceUnavailable
from warroom.oncall.models import PersonEntry, Schedule, Shift

log = logging.getLogger("warroom.oncall")

MAX_BODY = 1_000_000
"""Bytes: an on-call answer is a few kB; anything near this is not the API we asked."""


class VendorOnCall(Protocol):
    async def shift_at(self, schedule: Schedule, at: datetime, people: Sequence[PersonEntry]) -> Shift | None:
        """The shift covering `at` (layer 'pagerduty' or 'opsgenie'); None when nobody is on call
        or the person is not in the roster."""
        ...


class OncallSourceRefused(ActivityFailure):
    """PagerDuty or Opsgenie refused the question (a bad token, no access, an unknown schedule) or
    answered something else than the API's answer: asking again will not help, the configuration will."""

    type = "OncallSourceRefused"


# --- The vendors' answers, as far as warroom reads them --------------------------------------------


class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _PdUser(_Loose):
    id: str
    summary: str | None = None
    email: str | None = None


class _PdReference(_Loose):
    id: str


class _PdOncall(_Loose):
    user: _PdUser
    schedule: _PdReference | None = None
    escalation_level: int = 1
    start: AwareDatetime | None = None
    end: AwareDatetime | None = None


class _PdOncalls(_Loose):
    oncalls: list[_PdOncall]


class _OgData(_Loose):
    onCallRecipients: list[str] = []


class _OgOncalls(_Loose):
    data: _OgData


# --- The shared reader ---------------------------------------------------------------------------


class _VendorReader:
    vendor: ClassVar[str]

    def __init__(
        self,
        token: SecretStr,
        *,
        base_url: str,
        timeout: float = 10.0,
        connect_timeout: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._token = token
        self.base_url = base_url.rstrip("/")
        self._timeout = httpx.Timeout(timeout, connect=connect_timeout)
        self._transport = transport
        self._client: httpx.AsyncClient | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r})"

    def _auth(self) -> dict[str, str]:
        raise NotImplementedError

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None or self._client.is_closed:
            self._client = httpx.AsyncClient(
                base_url=self.base_url,
                timeout=self._timeout,
                transport=self._transport,
                follow_redirects=False,
                headers={"User-Agent": "warroom", "Accept": "application/json"},
            )
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _get(self, label: str, path: str, params: httpx.QueryParams) -> Any:
        """GET one JSON answer, at most `MAX_BODY` bytes, from the base URL itself (no redirect)."""
        try:
            async with self.client.stream("GET", path, params=params, headers=self._auth()) as response:
                self._check_status(label, response)
                declared = response.headers.get("Content-Length")
                if declared is not None and declared.isdigit() and int(declared) > MAX_BODY:
                    raise self._too_big(label)
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_BODY:
                        raise self._too_big(label)
        except httpx.TimeoutException as exc:
            raise OncallSourceUnavailable(f"{self.vendor} {label}: timed out ({type(exc).__name__})") from None
        except httpx.InvalidURL:
            raise OncallSourceRefused(f"{self.vendor} {label}: the configured base URL is not valid") from None
        except httpx.HTTPError as exc:  # refused, reset, a protocol error: ask again later
            raise OncallSourceUnavailable(f"{self.vendor} {label}: {type(exc).__name__}") from None
        try:
            return json.loads(bytes(body))
        except ValueError:
            raise OncallSourceUnavailable(f"{self.vendor} {label}: the answer was not JSON") from None
        except RecursionError:  # [[[[…]]]] a million deep fits in MAX_BODY
            raise OncallSourceRefused(f"{self.vendor} {label}: the answer is nested too deeply; refused") from None

    def _check_status(self, label: str, response: httpx.Response) -> None:
        status = response.status_code
        if 200 <= status < 300:
            return
        where = f"{self.vendor} {label}: HTTP {status}"
        if status == 429 or status >= 500:
            delay = parse_retry_after(response.headers.get("Retry-After"))
            raise OncallSourceUnavailable(f"{where}{' (rate limited)' if status == 429 else ''}", retry_after=delay)
        if 300 <= status < 400:
            raise OncallSourceRefused(f"{where}: a redirect, which warroom does not follow; check the base URL")
        if status in (401, 403):
            raise OncallSourceRefused(f"{where}: check the API token and its access to the schedule")
        if status == 404:
            raise OncallSourceRefused(f"{where}: no such schedule (check its schedule_id)")
        raise OncallSourceRefused(f"{where}: the request was refused")

    def _too_big(self, label: str) -> OncallSourceRefused:
        return OncallSourceRefused(f"{self.vendor} {label}: the answer is larger than {MAX_BODY} bytes; refused")

    def _shape(self, label: str, model: type[_Loose], data: Any) -> Any:
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "the answer"
            raise OncallSourceRefused(f"{self.vendor} {label}: unexpected answer ({where}: {first['msg']})") from None


def _utc(at: datetime) -> datetime:
    """A naive instant is UTC (workflow.now() never is naive; a caller's datetime might be)."""
    return at.astimezone(UTC) if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _person(people: Sequence[PersonEntry], vendor_id: str | None, email: str | None, field: str) -> PersonEntry | None:
    """The roster's person by their vendor id contact, else by e-mail (case-insensitive)."""
    if vendor_id:
        for p in people:
            if getattr(p.contacts, field) == vendor_id:
                return p
    if email:
        wanted = email.strip().lower()
        for p in people:
            if p.contacts.email is not None and p.contacts.email.lower() == wanted:
                return p
    return None


class PagerDutyOnCall(_VendorReader):
    """`GET /oncalls` over the one second at `at`: the entry of this schedule covering `at`."""

    vendor = "pagerduty"

    def __init__(self, token: SecretStr, *, base_url: str = "https://api.pagerduty.com", **options: Any) -> None:
        super().__init__(token, base_url=base_url, **options)

    def _auth(self) -> dict[str, str]:
        return {
            "Authorization": f"Token token={self._token.get_secret_value()}",
            "Accept": "application/vnd.pagerduty+json;version=2",
        }

    async def shift_at(self, schedule: Schedule, at: datetime, people: Sequence[PersonEntry]) -> Shift | None:
        assert schedule.pagerduty is not None, f"schedule {schedule.name} is not a PagerDuty schedule"
        schedule_id = schedule.pagerduty.schedule_id
        at = _utc(at)
        label = f"oncalls of schedule {schedule_id}"
        params = httpx.QueryParams(
            [
                ("schedule_ids[]", schedule_id),
                ("since", at.isoformat()),
                ("until", (at + timedelta(seconds=1)).isoformat()),
                ("include[]", "users"),
                ("time_zone", "UTC"),
                ("limit", "100"),
            ]
        )
        answer: _PdOncalls = self._shape(label, _PdOncalls, await self._get(label, "/oncalls", params))
        covering = [
            o
            for o in answer.oncalls
            if o.schedule is not None
            and o.schedule.id == schedule_id
            and (o.start is None or o.start <= at)
            and (o.end is None or at < o.end)
        ]
        for entry in sorted(covering, key=lambda o: o.escalation_level):
            person = _person(people, entry.user.id, entry.user.email, "pagerduty_id")
            if person is not None:
                return Shift(
                    person=person.name, schedule=schedule.name, layer="pagerduty", start=entry.start, end=entry.end
                )
            log.warning("pagerduty schedule %s: user %s is on call but not in the roster", schedule_id, entry.user.id)
        return None


class OpsgenieOnCall(_VendorReader):
    """`GET /v2/schedules/ID/on-calls?flat=true&date=AT`: the recipients (user names, which are
    e-mail addresses) on call at `at`; the first one in the roster holds the shift."""

    vendor = "opsgenie"

    def __init__(self, token: SecretStr, *, base_url: str = "https://api.opsgenie.com", **options: Any) -> None:
        super().__init__(token, base_url=base_url, **options)

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"GenieKey {self._token.get_secret_value()}"}

    async def shift_at(self, schedule: Schedule, at: datetime, people: Sequence[PersonEntry]) -> Shift | None:
        assert schedule.opsgenie is not None, f"schedule {schedule.name} is not an Opsgenie schedule"
        schedule_id = schedule.opsgenie.schedule_id
        label = f"on-calls of schedule {schedule_id}"
        params = httpx.QueryParams(
            [
                ("scheduleIdentifierType", "id"),
                ("flat", "true"),
                ("date", _utc(at).strftime("%Y-%m-%dT%H:%M:%SZ")),
            ]
        )
        path = f"/v2/schedules/{quote(schedule_id, safe='')}/on-calls"
        answer: _OgOncalls = self._shape(label, _OgOncalls, await self._get(label, path, params))
        for recipient in answer.data.onCallRecipients:
            person = _person(people, recipient, recipient, "opsgenie_id")
            if person is not None:
                return Shift(person=person.name, schedule=schedule.name, layer="opsgenie")
            log.warning("opsgenie schedule %s: a recipient is on call but not in the roster", schedule_id)
        return None
