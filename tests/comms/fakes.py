"""Local servers speaking each vendor's protocol, and a real SMTP server with STARTTLS and AUTH.

The HTTP vendors are small stateful fakes, reached either behind `httpx.MockTransport` (the real
httpx client, headers and JSON; no network) or over real HTTP on loopback (`served(fake)`). They
keep what a real service would (channels, alerts, incidents) and answer errors the way the vendor
does, e.g. Slack's HTTP 200 `{"ok": false, ...}`.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import itertools
import json
import re
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from warroom.devserver import free_port as free_port  # the one definition, re-exported for the tests

SLACK_TOKEN = "xoxb-0000-test-slack-token"
PD_ROUTING_KEY = "R0UT1NGKEY0123456789abcdefabcdef"
SP_API_KEY = "sp-api-key-0123456789"
SP_PAGE = "pg1"
SP_COMPONENT = "cmp1"
WEBHOOK_URL = "https://hooks.test/services/T000/B000/s3cr3t-webhook-path"
SMTP_USER = "warroom"
SMTP_PASSWORD = "smtp-pa55word-secret"
SECRETS = (SLACK_TOKEN, PD_ROUTING_KEY, SP_API_KEY, "s3cr3t-webhook-path", SMTP_PASSWORD)

HOSTS = {
    "slack": "slack.test",
    "pagerduty": "events.pagerduty.test",
    "statuspage": "statuspage.test",
    "webhook": "hooks.test",
}


def reply(status: int = 200, body: Any = None, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json=body if body is not None else {}, headers=headers)


class Fake:
    """Failure injection shared by the fakes: queued responses are served first, one per request."""

    def __init__(self) -> None:
        self.queued: list[httpx.Response] = []
        self.requests: list[httpx.Request] = []

    def fail_next(self, *responses: httpx.Response) -> None:
        self.queued.extend(responses)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.queued:
            return self.queued.pop(0)
        return self.handle(request)

    def handle(self, request: httpx.Request) -> httpx.Response:
        raise NotImplementedError


class FakeSlack(Fake):
    """conversations.create/list/join, chat.postMessage, pins.add — with Slack's ok:false errors."""

    NAME = re.compile(r"^[a-z0-9_-]{1,80}$")

    def __init__(self, token: str = SLACK_TOKEN) -> None:
        super().__init__()
        self.token = token
        self.channels: dict[str, dict[str, Any]] = {}
        self.messages: list[dict[str, str]] = []
        self.pins: list[tuple[str, str]] = []
        self.calls: list[str] = []
        self.failing: dict[str, dict[str, Any]] = {}  # method → the ok:false answer it gives
        self._ids = itertools.count(1)
        self._ts = itertools.count(1)

    def add_channel(self, name: str, *, member: bool = False, archived: bool = False) -> str:
        cid = f"C{next(self._ids):06d}"
        self.channels[cid] = {
            "id": cid,
            "name": name,
            "is_member": member,
            "is_private": False,
            "is_archived": archived,
        }
        return cid

    def by_name(self, name: str) -> dict[str, Any] | None:
        return next((c for c in self.channels.values() if c["name"] == name), None)

    def texts(self, channel_name: str) -> list[str]:
        channel = self.by_name(channel_name)
        assert channel, f"no channel {channel_name}"
        return [m["text"] for m in self.messages if m["channel"] == channel["id"]]

    def handle(self, request: httpx.Request) -> httpx.Response:
        method = request.url.path.rsplit("/", 1)[-1]
        self.calls.append(method)
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return reply(200, {"ok": False, "error": "invalid_auth"})
        body = json.loads(request.content) if request.method == "POST" else dict(request.url.params)
        if method in self.failing:
            return reply(200, self.failing[method])
        handler = getattr(self, "_" + method.replace(".", "_"), None)
        if handler is None:
            return reply(200, {"ok": False, "error": "unknown_method"})
        return reply(200, handler(body))

    def _conversations_create(self, body: dict[str, Any]) -> dict[str, Any]:
        name = body.get("name", "")
        if not self.NAME.fullmatch(name):
            return {"ok": False, "error": "invalid_name_specials"}
        if self.by_name(name):
            return {"ok": False, "error": "name_taken"}
        cid = self.add_channel(name, member=True)
        self.channels[cid]["is_private"] = bool(body.get("is_private"))
        return {"ok": True, "channel": self.channels[cid]}

    def _conversations_list(self, params: dict[str, Any]) -> dict[str, Any]:
        everything = [
            c for c in self.channels.values() if not (params.get("exclude_archived") == "true" and c["is_archived"])
        ]
        start = int(params.get("cursor") or 0)
        limit = min(int(params.get("limit", 100)), 2)  # tiny pages, so the adapter must follow cursors
        page = everything[start : start + limit]
        more = start + limit < len(everything)
        return {"ok": True, "channels": page, "response_metadata": {"next_cursor": str(start + limit) if more else ""}}

    def _conversations_join(self, body: dict[str, Any]) -> dict[str, Any]:
        channel = self.channels.get(body.get("channel", ""))
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        if channel["is_archived"]:
            return {"ok": False, "error": "is_archived"}
        already = channel["is_member"]
        channel["is_member"] = True
        return {"ok": True, "channel": channel, **({"warning": "already_in_channel"} if already else {})}

    def _chat_postMessage(self, body: dict[str, Any]) -> dict[str, Any]:
        channel = self.channels.get(body.get("channel", ""))
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        if not channel["is_member"]:
            return {"ok": False, "error": "not_in_channel"}
        ts = f"1700000000.{next(self._ts):06d}"
        self.messages.append({"channel": channel["id"], "text": body["text"], "ts": ts})
        return {"ok": True, "channel": channel["id"], "ts": ts}

    def _pins_add(self, body: dict[str, Any]) -> dict[str, Any]:
        key = (body.get("channel", ""), body.get("timestamp", ""))
        if not any(m["channel"] == key[0] and m["ts"] == key[1] for m in self.messages):
            return {"ok": False, "error": "message_not_found"}
        if key in self.pins:
            return {"ok": False, "error": "already_pinned"}
        self.pins.append(key)
        return {"ok": True}


class FakePagerDuty(Fake):
    """Events API v2: alerts keyed by dedup_key; a trigger on a resolved key opens a new alert."""

    def __init__(self) -> None:
        super().__init__()
        self.alerts: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []

    def open_alert(self, key: str) -> dict[str, Any] | None:
        return next((a for a in self.alerts if a["dedup_key"] == key and a["status"] != "resolved"), None)

    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.url.path != "/v2/enqueue" or request.method != "POST":
            return reply(404, {"status": "not found"})
        event = json.loads(request.content)
        if event.get("routing_key") != PD_ROUTING_KEY:
            return reply(
                400,
                {"status": "invalid event", "message": "Event object is invalid", "errors": ["Invalid routing key"]},
            )
        action, key = event.get("event_action"), event.get("dedup_key")
        if action == "trigger":
            payload = event.get("payload") or {}
            if (
                not payload.get("summary")
                or not payload.get("source")
                or payload.get("severity") not in ("critical", "error", "warning", "info")
            ):
                return reply(
                    400,
                    {
                        "status": "invalid event",
                        "message": "Event object is invalid",
                        "errors": ["'payload' is invalid or missing"],
                    },
                )
        elif action not in ("acknowledge", "resolve") or not key:
            return reply(400, {"status": "invalid event", "message": "Event object is invalid"})
        self.events.append(event)
        alert = self.open_alert(key) if key else None
        if action == "trigger":
            if alert is None:
                alert = {"dedup_key": key, "status": "triggered", "summary": event["payload"]["summary"], "events": 0}
                self.alerts.append(alert)
            alert["events"] += 1
        elif alert is not None:
            alert["status"] = "acknowledged" if action == "acknowledge" else "resolved"
        return reply(202, {"status": "success", "message": "Event processed", "dedup_key": key})


class FakeStatuspage(Fake):
    """/v1/pages/{page}/incidents (POST create, PATCH update) with OAuth api-key auth."""

    def __init__(self) -> None:
        super().__init__()
        self.incidents: dict[str, dict[str, Any]] = {}
        self.components: dict[str, str] = {SP_COMPONENT: "operational"}
        self._ids = itertools.count(1)

    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.headers.get("Authorization") != f"OAuth {SP_API_KEY}":
            return reply(401, {"error": "The API key is invalid"})
        match = re.fullmatch(rf"/v1/pages/{SP_PAGE}/incidents(?:/(\w+))?", request.url.path)
        if not match:
            return reply(404, {"error": "Not found"})
        data = json.loads(request.content)["incident"]
        if data.get("status") not in ("investigating", "identified", "monitoring", "resolved"):
            return reply(422, {"error": "Status is not included in the list"})
        if request.method == "POST" and match.group(1) is None:
            iid = f"sp{next(self._ids)}"
            incident = {"id": iid, "name": data["name"], "status": data["status"], "incident_updates": []}
            self.incidents[iid] = incident
            status = 201
        elif request.method == "PATCH" and match.group(1):
            incident = self.incidents.get(match.group(1))
            if incident is None:
                return reply(404, {"error": "Could not find incident"})
            incident.update(name=data.get("name", incident["name"]), status=data["status"])
            status = 200
        else:
            return reply(405, {"error": "Method not allowed"})
        incident["incident_updates"].insert(0, {"status": data["status"], "body": data.get("body", "")})
        for cid, state in (data.get("components") or {}).items():
            self.components[cid] = state
        return reply(status, incident)


class FakeWebhook(Fake):
    def __init__(self) -> None:
        super().__init__()
        self.bodies: list[dict[str, Any]] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.url.path != httpx.URL(WEBHOOK_URL).path:
            return reply(404, {"error": "no such hook"})
        self.bodies.append(json.loads(request.content))
        return httpx.Response(200, text="ok")


@dataclass
class Vendors:
    slack: FakeSlack = field(default_factory=FakeSlack)
    pagerduty: FakePagerDuty = field(default_factory=FakePagerDuty)
    statuspage: FakeStatuspage = field(default_factory=FakeStatuspage)
    webhook: FakeWebhook = field(default_factory=FakeWebhook)

    @property
    def transport(self) -> httpx.MockTransport:
        by_host = {HOSTS[name]: getattr(self, name) for name in HOSTS}

        def route(request: httpx.Request) -> httpx.Response:
            fake = by_host.get(request.url.host)
            if fake is None:
                raise httpx.ConnectError(f"no route to {request.url.host}", request=request)
            return fake(request)

        return httpx.MockTransport(route)


@contextmanager
def served(fake: Fake) -> Iterator[str]:
    """`fake` behind a real HTTP server on a free loopback port; yields its base URL.

    Each request arrives as the bytes a client sent (method, path, headers, body) and leaves as the
    fake's status, headers and body, so the adapter's own httpx client, connection pool and
    timeouts are what is tested."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_: object) -> None:
            pass

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            request = httpx.Request(
                self.command,
                f"http://{self.headers.get('Host', 'localhost')}{self.path}",
                headers=list(self.headers.items()),
                content=body,
            )
            response = fake(request)
            content = response.read()
            self.send_response(response.status_code)
            for name, value in response.headers.items():
                if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


class Sleeps:
    """Records the backoff delays instead of waiting them."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def vendor_settings(data_dir: Path, **overrides: Any) -> Any:
    """ChannelSettings with every vendor pointed at the fakes (override or drop any field)."""
    from activities.channels.settings import ChannelSettings

    values: dict[str, Any] = dict(
        data_dir=data_dir,
        http_backoff=0.01,
        slack_token=SLACK_TOKEN,
        slack_api_url=f"https://{HOSTS['slack']}/api",
        pagerduty_routing_key=PD_ROUTING_KEY,
        pagerduty_events_url=f"https://{HOSTS['pagerduty']}/v2/enqueue",
        statuspage_api_key=SP_API_KEY,
        statuspage_page_id=SP_PAGE,
        statuspage_component_id=SP_COMPONENT,
        statuspage_api_url=f"https://{HOSTS['statuspage']}/v1",
    )
    values.update(overrides)
    return ChannelSettings(**{k: v for k, v in values.items() if v is not None})


def assert_no_secrets(*texts: object) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in str(text), f"a secret leaked into: {text}"


# --- SMTP: aiosmtpd with STARTTLS and AUTH on loopback -------------------------------------------


@dataclass
class Mailbox:
    host: str
    port: int
    ca_file: Path
    received: list[dict[str, Any]] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)


def _self_signed(folder: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "smtp.crt", folder / "smtp.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file


def smtp_server_at(folder: Path, *, starttls: bool) -> Iterator[Mailbox]:
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    cert_file, key_file = _self_signed(folder)
    box = Mailbox(host="127.0.0.1", port=free_port(), ca_file=cert_file)

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            box.received.append(
                {
                    "mail_from": envelope.mail_from,
                    "rcpt_tos": list(envelope.rcpt_tos),
                    "data": envelope.content.decode("utf-8", "replace"),
                    "tls": session.ssl is not None,
                }
            )
            return "250 OK"

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        login = auth_data.login.decode()
        ok = login == SMTP_USER and auth_data.password.decode() == SMTP_PASSWORD
        if ok:
            box.logins.append(login)
        return AuthResult(success=ok, handled=False)

    # Without TLS the server offers no AUTH at all (the mailer must refuse before it gets that far).
    kwargs: dict[str, Any] = dict(authenticator=authenticator, auth_required=starttls, auth_require_tls=True)
    if starttls:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert_file, key_file)
        kwargs.update(tls_context=context, require_starttls=True)
    controller = Controller(Handler(), hostname=box.host, port=box.port, ready_timeout=10, **kwargs)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()
