"""E-mail against a real SMTP server (aiosmtpd on loopback) that requires STARTTLS and AUTH."""

from __future__ import annotations

import email
from email import policy
from pathlib import Path

import pytest
from pydantic import SecretStr

from activities.channels._http import ChannelAuthError, ChannelConfigError, ChannelRejected, ChannelUnavailable
from activities.channels.email import SmtpMailer
from tests.comms.fakes import SMTP_PASSWORD, SMTP_USER, Mailbox, assert_no_secrets, free_port
from warroom.models import Notification

CUSTOMER_EMAIL = """Subject: Service Disruption Resolved — 2026-11-28

Dear customer,

We are writing to inform you that our Order Api experienced a service
disruption today between 14:07 UTC and 14:28 UTC (21m)."""


def mailer(
    box: Mailbox, *, password: str = SMTP_PASSWORD, ca_file: Path | None | bool = True, **kwargs: object
) -> SmtpMailer:
    return SmtpMailer(
        box.host,
        box.port,
        sender="Acme Status <status@acme.test>",
        username=SMTP_USER,
        password=SecretStr(password),
        ca_file=box.ca_file if ca_file is True else ca_file or None,
        recipients=["oncall@acme.test"],
        audiences={"customers": ["a@customer.test", "b@customer.test"], "engineering-manager": ["em@acme.test"]},
        timeout=5,
        **kwargs,
    )  # type: ignore[arg-type]


def note(channel: str = "email", template: str = "customer_email", audience: list[str] | None = None) -> Notification:
    return Notification(
        incident_id="order-api-1",
        channel=channel,
        template=template,  # type: ignore[arg-type]
        audience=audience if audience is not None else ["customers"],
        context={"severity": "P1"},
    )


async def test_customer_email_over_starttls_with_auth(smtp_server: Mailbox) -> None:
    before = len(smtp_server.received)
    where = await mailer(smtp_server).deliver(note(), CUSTOMER_EMAIL)

    assert where == f"email to 2 recipient(s) via {smtp_server.host}:{smtp_server.port}"
    got = smtp_server.received[before]
    assert got["tls"], "the message went over the STARTTLS-upgraded connection"
    assert got["mail_from"] == "status@acme.test"
    assert got["rcpt_tos"] == ["a@customer.test", "b@customer.test"]
    assert SMTP_USER in smtp_server.logins
    msg = email.message_from_string(got["data"], policy=policy.default)
    assert msg["Subject"] == "Service Disruption Resolved — 2026-11-28"
    assert msg["To"] == "undisclosed-recipients:;", "customers never see each other's addresses"
    body = msg.get_content()
    assert body.startswith("Dear customer,") and "Subject:" not in body
    assert msg["Message-ID"].endswith("@acme.test>")


async def test_stakeholder_notice_gets_a_subject_and_audience_addresses(smtp_server: Mailbox) -> None:
    before = len(smtp_server.received)
    await mailer(smtp_server).deliver(
        note("stakeholders", "stakeholder_notice", ["engineering-manager"]),
        "ℹ️ NOTICE to engineering-manager: P1 incident order-api-1 declared",
    )
    got = smtp_server.received[before]
    msg = email.message_from_string(got["data"], policy=policy.default)
    assert got["rcpt_tos"] == ["em@acme.test"] and msg["To"] == "em@acme.test"
    assert msg["Subject"] == "[P1] ℹ️ NOTICE to engineering-manager: P1 incident order-api-1 declared"


async def test_unknown_audiences_fall_back_to_the_default_recipients(smtp_server: Mailbox) -> None:
    m = mailer(smtp_server)
    assert m.recipients_for(["vp-engineering"]) == ["oncall@acme.test"]
    assert m.recipients_for(["x@y.test", "customers"]) == ["x@y.test", "a@customer.test", "b@customer.test"]
    empty = SmtpMailer(smtp_server.host, smtp_server.port, sender="s@acme.test")
    with pytest.raises(ChannelConfigError, match="no recipients"):
        await empty.deliver(note(audience=["nobody"]), "x")


async def test_a_wrong_password_is_permanent_and_never_shown(smtp_server: Mailbox) -> None:
    wrong = "not-the-smtp-password"
    with pytest.raises(ChannelAuthError, match="authentication failed") as caught:
        await mailer(smtp_server, password=wrong).deliver(note(), CUSTOMER_EMAIL)
    failure = caught.value.to_application_error()
    assert failure.non_retryable
    assert wrong not in str(caught.value) and caught.value.__cause__ is None
    assert_no_secrets(caught.value)


async def test_no_starttls_no_mail(plaintext_smtp_server: Mailbox) -> None:
    before = len(plaintext_smtp_server.received)
    with pytest.raises(ChannelRejected, match="does not offer STARTTLS"):
        await mailer(plaintext_smtp_server).deliver(note(), CUSTOMER_EMAIL)
    assert len(plaintext_smtp_server.received) == before and plaintext_smtp_server.logins == []


async def test_an_untrusted_certificate_is_refused_with_a_hint(smtp_server: Mailbox) -> None:
    with pytest.raises(ChannelRejected, match="WARROOM_SMTP_CA_FILE"):
        await mailer(smtp_server, ca_file=False).deliver(note(), CUSTOMER_EMAIL)


async def test_a_server_that_is_down_is_retryable(smtp_server: Mailbox) -> None:
    down = Mailbox(host="127.0.0.1", port=free_port(), ca_file=smtp_server.ca_file)
    with pytest.raises(ChannelUnavailable) as caught:
        await mailer(down).deliver(note(), CUSTOMER_EMAIL)
    assert caught.value.to_application_error().non_retryable is False
    assert_no_secrets(caught.value)
