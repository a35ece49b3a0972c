"""Hostile HTTP at the intake and at the codec server: a clear 4xx, never a 5xx, a hang or a Temporal call.

The intake faces the internet (through a proxy) and the codec server faces every operator's
browser, so both must treat the request as hostile down to its bytes. Proven here over real HTTP
on loopback, with valid credentials so that the hostile part is what gets judged:

* bodies at every alert source: invalid UTF-8, NUL bytes, 200 KB and 1 MB values, path traversal,
  shell metacharacters and CR/LF in the names warroom later uses (service, namespace, deployment),
  10,000 nested lists, duplicate keys. A refusal is a 4xx whose JSON `detail` names the reason,
  with no Temporal call. Where a field is free text (a label, the summary), a hostile value may be
  accepted, and then what reaches the incident's history is checked: names are DNS labels, text is
  bounded and carries no control character;
* headers and framing, written as raw bytes: NUL and bare CR/LF in headers, a 1 MB Authorization,
  a Content-Length the body never reaches (held open, or half-closed), negative or non-numeric
  lengths, Transfer-Encoding with Content-Length. Answered 4xx (or the connection closed) in bounded
  time;
* the codec server's /decode and /encode: bodies that are not Payloads JSON, unknown key ids,
  garbage ciphertext, 1 MB and 16 MB bodies, missing or wrong tokens, a foreign CORS origin.

`/tmp/pwned` never appears. The module prints one `[reliability] hostile HTTP:` line with the counts.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from tests.helpers import Harness, payload_json, running_worker
from tests.intake.support import Intake, open_intake, payload
from warroom.codec import BODY_LIMIT, ENCODING, KEY_ID, codec_app, new_key, parse_key_ring
from warroom.intake.normalize import is_dns_label
from warroom.intake.server import running

pytestmark = pytest.mark.e2e
SOURCES = ("alertmanager", "pagerduty", "opsgenie", "grafana", "generic")
PWNED = Path("/tmp/pwned")
BODY_TIMEOUT = 2.0
"""The intake's body timeout here: a request whose body never completes is answered 408 after it."""
HANG = 15.0
"""Any exchange taking longer is a hang."""
TOKEN = "codec-t0ken"
RAW = "@@RAW@@"
"""Stands for bytes json.dumps cannot write (invalid UTF-8, a raw NUL, deep nesting), swapped in after."""
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass
class Tally:
    statuses: Counter[str] = field(default_factory=Counter)
    refused_calls: int = 0
    accepted_as_text: int = 0
    hangs: int = 0

    def line(self) -> str:
        total = sum(self.statuses.values())
        by_status = ", ".join(f"{status}×{n}" for status, n in sorted(self.statuses.items()))
        errors = sum(n for status, n in self.statuses.items() if status.startswith("5"))
        return (
            f"[reliability] hostile HTTP: {total} hostile requests ({by_status}) → {total - self.accepted_as_text} "
            f"refused (4xx, or closed unanswered), {self.accepted_as_text} free-text values accepted as bounded text; "
            f"{self.refused_calls} Temporal calls from refused requests, {errors} 5xx, {self.hangs} hangs"
        )


TALLY = Tally()
T = TypeVar("T")


async def bounded(awaitable: Awaitable[T]) -> T:
    """`awaitable`, failing as a hang after HANG seconds."""
    try:
        return await asyncio.wait_for(awaitable, HANG)
    except TimeoutError:
        TALLY.hangs += 1
        raise


@pytest.fixture(scope="module", autouse=True)
def summary() -> Iterator[None]:
    yield
    print(f"\n{TALLY.line()}")
    # Every figure printed is also asserted (each test asserts its own request; these are the totals).
    assert TALLY.refused_calls == TALLY.hangs == 0
    assert not [status for status in TALLY.statuses if status.startswith("5")], TALLY.statuses


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def worker(dev_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Harness]:
    async with running_worker(dev_env.client, tmp_path_factory.mktemp("hostile-worker")) as harness:
        yield harness


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def intake(dev_env: WorkflowEnvironment, worker: Harness) -> AsyncIterator[Intake]:
    async with open_intake(dev_env.client, worker.queue, body_timeout=BODY_TIMEOUT) as running_intake:
        yield running_intake


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def codec() -> AsyncIterator[str]:
    async with running(codec_app(parse_key_ring(f"k1:{new_key()}"), token=TOKEN)) as url:
        yield url


# --- bodies ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Body:
    where: str  # service, namespace, deployment (names warroom uses), label or summary (free text)
    value: str
    refused: str  # what the refusal's detail names; "" = free text, accepted
    raw: bytes | None = None  # replaces RAW in the encoded body (with its quotes when the value is RAW alone)
    duplicate: bool = False  # every top-level key twice, the hostile copy last


NESTED = b"[" * 10_000 + b"]" * 10_000
BODIES: dict[str, Body] = {
    "invalid-utf8-in-summary": Body("summary", f"errors {RAW}", "not valid JSON", b"\xff\xfe\xc0\xaf"),
    "raw-nul-byte-in-label": Body("label", f"pay{RAW}ments", "not valid JSON", b"\x00"),
    "nested-10000-lists-in-label": Body("label", RAW, "not valid JSON", NESTED),
    "escaped-nul-in-service": Body("service", "order\x00api", "service"),
    "escaped-nul-in-label": Body("label", "pay\x00ments $(touch /tmp/pwned)", ""),
    "nul-crlf-backticks-in-summary": Body("summary", "errors rising\r\n\x00`touch /tmp/pwned`", ""),
    "crlf-in-service": Body("service", "order-api\r\nX-Injected: 1", "service"),
    "crlf-in-label": Body("label", "payments\r\nX-Injected: $(touch /tmp/pwned)", ""),
    "200kb-label": Body("label", "A" * 200_000, ""),
    "1mb-label": Body("label", "A" * 1_048_576, "over 262144 bytes"),
    "traversal-in-service": Body("service", "../../etc/passwd", "service"),
    "traversal-in-namespace": Body("namespace", "../../etc/passwd", "namespace"),
    "traversal-in-deployment": Body("deployment", "../../etc/passwd", "deployment"),
    "shell-substitution-in-service": Body("service", "$(touch /tmp/pwned)", "service"),
    "shell-chain-in-deployment": Body("deployment", "order-api; rm -rf /", "deployment"),
    "backticks-in-deployment": Body("deployment", "`touch /tmp/pwned`", "deployment"),
    "duplicate-keys-hostile-last": Body("service", "../../etc/passwd", "service", duplicate=True),
}


def refusal(source: str, body: Body) -> str:
    """What the refusal's detail names, or "" when the value is accepted as text: free text is bounded
    and kept, and PagerDuty's service is a display name that warroom makes into a DNS label."""
    if source == "pagerduty" and body.where == "service" and body.raw is None:
        return ""
    if source == "generic" and body.value == BODIES["200kb-label"].value:
        return "labels.team"  # generic's own schema bounds a label value (256 characters)
    return body.refused


def place(source: str, document: dict[str, Any], where: str, value: str) -> None:
    if source in ("alertmanager", "grafana"):
        alert = document["alerts"][
            -1
        ]  # the last one (firing): one copy of a 200 KB value keeps the body under the limit
        (alert["annotations"] if where == "summary" else alert["labels"])[
            "summary" if where == "summary" else "team" if where == "label" else where
        ] = value
    elif source == "generic":
        if where == "label":
            document["labels"]["team"] = value
        else:
            document[where] = value
    elif source == "opsgenie":
        alert = document["alert"]
        if where == "summary":
            alert["message"] = value
        else:
            alert["details"]["team" if where == "label" else where] = value
    else:  # pagerduty: the service's and the priority's display names, the incident's title
        data = document["event"]["data"]
        target, key = {
            "service": (data["service"], "summary"),
            "label": (data["priority"], "summary"),
            "summary": (data, "title"),
        }[where]
        target[key] = value


def encode(source: str, body: Body) -> bytes:
    clean = payload(source)
    hostile = json.loads(json.dumps(clean))
    place(source, hostile, body.where, body.value)
    raw = json.dumps(hostile).encode()
    if body.raw is not None:
        raw = raw.replace(f'"{RAW}"'.encode(), body.raw) if body.value == RAW else raw.replace(RAW.encode(), body.raw)
    if body.duplicate:  # json.loads keeps the last of duplicate keys
        raw = json.dumps(clean).encode()[:-1] + b", " + raw[1:]
    return raw


BODY_CASES = [
    pytest.param(source, name, id=f"{source}-{name}")
    for name in BODIES
    for source in SOURCES
    if not (source == "pagerduty" and BODIES[name].where in ("namespace", "deployment"))
]


def fragment(value: str) -> str:
    """The longest printable run of a hostile value: what must survive as text when it is accepted."""
    return max(CONTROL.split(value), key=len).strip()[:40]


async def recorded(intake: Intake, workflow_id: str) -> tuple[list[str], list[str]]:
    """(names, texts) the incident's history holds: service, namespace and deployment of the start
    input and of each alert; the summaries, label and annotation values."""
    history = await intake.client.get_workflow_handle(workflow_id).fetch_history()
    names: list[str] = []
    texts: list[str] = []
    for event in history.events:
        if event.HasField("workflow_execution_started_event_attributes"):
            start = payload_json(event.workflow_execution_started_event_attributes.input.payloads[0])
            names += [start["service"], *(start.get("target") or {}).values()]
            texts.append(start["summary"])
        elif event.HasField("workflow_execution_update_accepted_event_attributes"):
            request = event.workflow_execution_update_accepted_event_attributes.accepted_request
            if request.input.name not in ("ingest_alert", "ingest_alerts"):
                continue
            arg = payload_json(request.input.args.payloads[0])  # one alert, or a notification's list
            for alert in arg if isinstance(arg, list) else [arg]:
                names += [alert[k] for k in ("service", "namespace", "deployment") if alert.get(k)]
                texts += [alert["summary"], *alert["labels"].values(), *alert["annotations"].values()]
    return names, texts


@pytest.mark.parametrize(("source", "name"), BODY_CASES)
async def test_a_hostile_body_is_refused_or_kept_as_bounded_text(intake: Intake, source: str, name: str) -> None:
    body = BODIES[name]
    before = len(intake.calls)

    response = await bounded(intake.post(source, encode(source, body)))

    TALLY.statuses[str(response.status_code)] += 1
    assert not PWNED.exists()
    if reason := refusal(source, body):
        TALLY.refused_calls += len(intake.calls) - before
        assert 400 <= response.status_code < 500, response.text[:500]
        assert reason in json.dumps(response.json()["detail"]), response.text[:500]
        assert len(intake.calls) == before
        return
    TALLY.accepted_as_text += 1
    assert response.status_code == 200, response.text[:500]
    names, texts = await recorded(intake, response.json()["workflow_id"])
    assert names and all(is_dns_label(n) for n in names), names
    assert all(len(t) <= 300 and not CONTROL.search(t) for t in texts), [t[:80] for t in texts]
    assert any(fragment(body.value) in t for t in texts), (fragment(body.value), texts)


# --- headers and framing, as raw bytes --------------------------------------------------------------


def request(headers: list[bytes], body: bytes, path: bytes = b"/alerts/generic") -> bytes:
    return (
        b"POST "
        + path
        + b" HTTP/1.1\r\nHost: warroom\r\nConnection: close\r\n"
        + b"".join(h + b"\r\n" for h in headers)
        + b"\r\n"
        + body
    )


async def exchange(url: str, data: bytes, *, half_close: bool = False) -> tuple[str, bytes]:
    """Send `data`, read until the server closes; ("closed", b"") when it answered nothing (a reset
    included: a server refusing a huge header stops reading, and the kernel drops its answer)."""
    address = urlsplit(url)
    reader, writer = await asyncio.open_connection(address.hostname, address.port)
    try:
        try:
            writer.write(data)
            await writer.drain()
            if half_close:
                writer.write_eof()
        except ConnectionError:
            pass
        try:
            answer = await bounded(reader.read())
        except ConnectionError:
            answer = b""
    finally:
        writer.close()
    if not answer:
        return "closed", b""
    status_line, _, rest = answer.partition(b"\r\n")
    return status_line.split(b" ")[1].decode(), rest.partition(b"\r\n\r\n")[2]


def generic_body() -> bytes:
    return json.dumps(payload("generic")).encode()


AUTH = b"Authorization: Bearer generic-token"
JSON = b"Content-Type: application/json"


def length(body: bytes, extra: int = 0) -> bytes:
    return b"Content-Length: %d" % (len(body) + extra)


# Each carries valid credentials and a valid alert: a lenient parser would show as a 200 and a Temporal call.
HEADER_CASES: dict[str, tuple[list[bytes], bytes | None, bool]] = {
    # name: (headers, body (None: a valid alert with a matching Content-Length), closed without an answer is fine)
    "nul-in-authorization": ([AUTH + b"\x00", JSON], None, False),
    "nul-in-another-header": ([AUTH, JSON, b"X-Note: a\x00b"], None, False),
    "bare-cr-smuggling-authorization": ([JSON, b"X-Note: x\r" + AUTH], None, False),
    "bare-lf-line-with-forged-authorization": ([JSON, b"X-Note: x\nAuthorization: Bearer forged"], None, False),
    "obs-fold-hiding-authorization": ([JSON, b"X-Note: x\r\n " + AUTH], None, False),
    "1mb-authorization": ([b"Authorization: Bearer " + b"a" * 1_048_576, JSON], None, True),
    "negative-content-length": ([AUTH, JSON, b"Content-Length: -5"], b"{}", False),
    "non-numeric-content-length": ([AUTH, JSON, b"Content-Length: 12abc"], b"{}", False),
    "two-differing-content-lengths": ([AUTH, JSON, b"Content-Length: 2", b"Content-Length: 3"], b"{}", False),
    "transfer-encoding-with-content-length": ([AUTH, JSON, b"Transfer-Encoding: chunked"], None, False),
    "chunk-size-not-hex": ([AUTH, JSON, b"Transfer-Encoding: chunked"], b"zz\r\n{}\r\n0\r\n\r\n", False),
    "unknown-transfer-encoding": ([AUTH, JSON, b"Transfer-Encoding: gzip, chunked"], b"2\r\n{}\r\n0\r\n\r\n", False),
}


@pytest.mark.parametrize("name", HEADER_CASES)
async def test_hostile_headers_and_framing_are_4xx_in_bounded_time(intake: Intake, name: str) -> None:
    headers, body, may_close = HEADER_CASES[name]
    if body is None:  # a valid alert; a trailing CRLF makes a chunked reading fail at once, a CL reading accept it
        body = generic_body() + b"\r\n"
        headers = [*headers, length(body)]
    before = len(intake.calls)

    status, _ = await exchange(intake.url, request(headers, body))

    TALLY.statuses[status] += 1
    TALLY.refused_calls += len(intake.calls) - before
    assert (may_close and status == "closed") or status.startswith("4"), status
    assert len(intake.calls) == before


@pytest.mark.parametrize("half_close", [False, True], ids=["held-open", "half-closed"])
async def test_a_body_shorter_than_its_content_length_is_408_or_closed_not_a_hang(
    intake: Intake, half_close: bool
) -> None:
    body = generic_body()
    before = len(intake.calls)
    started = asyncio.get_running_loop().time()

    status, answer = await exchange(intake.url, request([AUTH, JSON, length(body, 100)], body), half_close=half_close)

    waited = asyncio.get_running_loop().time() - started
    TALLY.statuses[status] += 1
    TALLY.refused_calls += len(intake.calls) - before
    if half_close:  # the sender went away: nothing to answer to
        assert status == "closed" or status.startswith("4"), status
    else:
        assert status == "408" and "not complete within" in json.loads(answer)["detail"], (status, answer)
        assert waited >= BODY_TIMEOUT, "the server waited its body timeout out (a hang fails in bounded())"
    assert len(intake.calls) == before


@pytest.mark.parametrize("server", ["intake", "codec server"])
async def test_transfer_encoding_with_content_length_is_400_and_closes_the_connection(
    intake: Intake, codec: str, server: str
) -> None:
    """RFC 9112 §6.1: both headers is how requests are smuggled past a proxy framing by the other one;
    the server must not answer what is pipelined behind it."""
    url, path = (intake.url, b"/alerts/generic") if server == "intake" else (codec, b"/decode")
    chunked = b"2\r\n{}\r\n0\r\n\r\n"  # an empty alert: 422, so nothing reaches Temporal either way
    pipelined = b"GET /healthz HTTP/1.1\r\nHost: warroom\r\nConnection: close\r\n\r\n"
    data = (
        b"POST "
        + path
        + b" HTTP/1.1\r\nHost: warroom\r\n"
        + AUTH
        + b"\r\n"
        + JSON
        + b"\r\n"
        + b"Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n"
        + chunked
        + pipelined
    )
    before = len(intake.calls)

    status, rest = await exchange(url, data)

    assert status == "400" and b"HTTP/1.1" not in rest, (status, rest[:300])
    assert len(intake.calls) == before


# --- the codec server ----------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def sealed(key_id: bytes, data: bytes) -> bytes:
    metadata = {"encoding": _b64(ENCODING), KEY_ID: _b64(key_id)}
    return json.dumps({"payloads": [{"metadata": metadata, "data": _b64(data)}]}).encode()


CODEC_BODIES: dict[str, tuple[bytes, str, str, tuple[str, ...]]] = {
    # name: (body, status, what the detail says, paths)
    "invalid-json": (b'{"payloads": [', "422", "not Temporal Payloads JSON", ("/decode", "/encode")),
    "invalid-utf8": (b'{"payloads": [{"data": "\xff\xfe"}]}', "422", "can't decode byte 0xff", ("/decode", "/encode")),
    "nested-10000-lists": (b'{"payloads": ' + NESTED + b"}", "422", "maximum recursion depth", ("/decode", "/encode")),
    "duplicate-keys": (b'{"payloads": [], "payloads": []}', "422", "duplicate key payloads", ("/decode", "/encode")),
    "payloads-not-a-list": (b'{"payloads": "x"}', "422", "not Temporal Payloads JSON", ("/decode", "/encode")),
    "unknown-key-id": (sealed(b"retired-key", b"x" * 40), "422", "unknown key id 'retired-key'", ("/decode",)),
    "non-utf8-key-id": (sealed(b"\xff\xfe", b"x" * 40), "422", "unknown key id", ("/decode",)),
    "garbage-ciphertext": (sealed(b"k1", b"\x00garbage" * 8), "422", "failed authentication", ("/decode",)),
    "base64-garbage-ciphertext": (
        sealed(b"k1", b"").replace(b'"data": ""', b'"data": "@@!!%%"'),
        "422",
        "failed authentication",
        ("/decode",),
    ),
    "1mb-junk": (b"\x00junk" * 209_716, "422", "not Temporal Payloads JSON", ("/decode", "/encode")),
    "over-16mb": (b"x" * (BODY_LIMIT + 1), "413", f"body over {BODY_LIMIT} bytes", ("/decode",)),
}
CODEC_CASES = [
    pytest.param(name, path, id=f"{path[1:]}-{name}") for name, (*_, paths) in CODEC_BODIES.items() for path in paths
]


@pytest.mark.parametrize(("name", "path"), CODEC_CASES)
async def test_the_codec_server_refuses_a_hostile_body_with_a_reason(codec: str, name: str, path: str) -> None:
    body, expected, reason, _ = CODEC_BODIES[name]
    async with httpx.AsyncClient(base_url=codec, timeout=HANG) as http:
        response = await bounded(http.post(path, content=body, headers={"Authorization": f"Bearer {TOKEN}"}))

    TALLY.statuses[str(response.status_code)] += 1
    assert str(response.status_code) == expected, response.text[:500]
    assert reason in response.json()["detail"], response.text[:500]


CODEC_HEADERS: dict[str, tuple[list[bytes], str]] = {
    "no-token": ([], "401"),
    "wrong-token": ([b"Authorization: Bearer wrong"], "403"),
    "basic-scheme": ([b"Authorization: Basic " + base64.b64encode(TOKEN.encode())], "403"),
    "nul-after-token": ([f"Authorization: Bearer {TOKEN}".encode() + b"\x00"], "400"),
    "bare-cr-smuggling-token": ([b"X-Note: x\rAuthorization: Bearer " + TOKEN.encode()], "400"),
    "1mb-authorization": ([b"Authorization: Bearer " + b"a" * 1_048_576], "4xx-or-closed"),
}


@pytest.mark.parametrize("name", CODEC_HEADERS)
async def test_the_codec_server_refuses_hostile_credentials(codec: str, name: str) -> None:
    headers, expected = CODEC_HEADERS[name]
    body = sealed(b"k1", b"x" * 40)

    status, answer = await exchange(codec, request([*headers, JSON, length(body)], body, b"/decode"))

    TALLY.statuses[status] += 1
    if expected == "4xx-or-closed":
        assert status == "closed" or status.startswith("4"), status
    else:
        assert status == expected, (status, answer[:300])
    if status in ("401", "403"):
        assert json.loads(answer)["detail"] in ("missing bearer token", "wrong token")


async def test_the_codec_server_refuses_a_foreign_origin(codec: str) -> None:
    async with httpx.AsyncClient(base_url=codec, timeout=HANG) as http:
        preflight = {"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
        response = await bounded(http.options("/decode", headers=preflight))

    TALLY.statuses[str(response.status_code)] += 1
    assert response.status_code == 400 and "origin" in response.text.lower(), response.text
    assert "access-control-allow-origin" not in response.headers
