"""Helpers of the status page subscriber tests: settings, a PostgreSQL database, a webhook receiver."""

from __future__ import annotations

import email
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.ansible.support import Postgres
from tests.comms.fakes import SMTP_PASSWORD, SMTP_USER, Mailbox
from warroom.statuspage.subscribers import SubscriberSettings

SIGNING_KEY = "status-signing-key-" + uuid.uuid4().hex


def subscriber_settings(public_url: str = "http://status.test", **overrides: object) -> SubscriberSettings:
    values: dict[str, object] = dict(
        status_subscriptions=True,
        status_signing_key=SIGNING_KEY,
        status_public_url=public_url,
        status_webhook_private=True,  # the test receivers listen on 127.0.0.1
    )
    values.update(overrides)
    return SubscriberSettings(**values)  # type: ignore[arg-type]


def postgres_url(pg: Postgres) -> str:
    """A fresh database owned by the test role, as a WARROOM_DATABASE_URL."""
    name = f"subs_{uuid.uuid4().hex[:10]}"
    pg.psql(f"CREATE DATABASE {name} OWNER {pg.role}")
    return f"postgresql://{pg.role}:{pg.password}@127.0.0.1:{pg.port}/{name}"


@dataclass
class Receiver:
    """A real HTTP server on loopback that keeps every POST (headers and raw body)."""

    url: str
    status: list[int] = field(default_factory=lambda: [200])
    got: list[tuple[dict[str, str], bytes]] = field(default_factory=list)


@contextmanager
def webhook_receiver(status: int = 200) -> Iterator[Receiver]:
    box = Receiver(url="", status=[status])

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_: object) -> None:
            pass

        def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            box.got.append(({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(box.status[0])
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    box.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/status"
    try:
        yield box
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def smtp_env(monkeypatch: pytest.MonkeyPatch, box: Mailbox) -> None:
    """The SMTP the intake (confirmation mails) and the worker (updates) use, as in production."""
    for name, value in {
        "HOST": box.host,
        "PORT": str(box.port),
        "USER": SMTP_USER,
        "PASSWORD": SMTP_PASSWORD,
        "FROM": "Acme Status <status@acme.test>",
        "TO": "oncall@acme.test",
        "CA_FILE": str(box.ca_file),
        "TIMEOUT": "10",
    }.items():
        monkeypatch.setenv(f"WARROOM_SMTP_{name}", value)


def mails_to(box: Mailbox, address: str, since: int = 0) -> list[EmailMessage]:
    return [
        email.message_from_string(m["data"], policy=policy.default)  # type: ignore[misc]
        for m in box.received[since:]
        if address in m["rcpt_tos"]
    ]
