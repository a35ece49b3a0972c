"""E-mail over SMTP: STARTTLS (required by default) then AUTH, with the stdlib's smtplib in a thread.

Recipients come from the notification's audience: an entry with an '@' is an address, a name is
looked up in `audiences` (e.g. "customers" → the customer list), and anything left falls back to
the default recipients. With more than one recipient the addresses go in the envelope only
(`To: undisclosed-recipients:;`), so customers never see each other. A template whose first line is
`Subject: ...` (the P1 customer e-mail) gives the subject; otherwise the first line does.

Errors: authentication, refused recipients and 5xx replies are permanent; 4xx replies, dropped
connections and timeouts are retryable (Temporal retries the activity). The password is never
part of an error or a log line.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

from pydantic import SecretStr

from activities.channels._http import (
    ChannelAuthError,
    ChannelConfigError,
    ChannelError,
    ChannelRejected,
    ChannelUnavailable,
    redact,
    short,
)
from warroom.models import Notification

SERVICE = "smtp"

SendOutcome = dict[str, tuple[int, bytes]] | ChannelError
"""One message of `send_many`: the recipients the server refused (empty: all took it), or why it failed."""


def split_subject(text: str, fallback_prefix: str) -> tuple[str, str]:
    lines = text.splitlines()
    if lines and lines[0].lower().startswith("subject:"):
        return lines[0].split(":", 1)[1].strip(), "\n".join(lines[1:]).lstrip("\n")
    first = next((line.strip() for line in lines if line.strip()), "")
    return f"{fallback_prefix}{first}"[:150], text


class SmtpMailer:
    def __init__(
        self,
        host: str,
        port: int,
        *,
        sender: str,
        recipients: Sequence[str] = (),
        audiences: Mapping[str, Sequence[str]] | None = None,
        username: str | None = None,
        password: SecretStr | None = None,
        starttls: bool = True,
        implicit_tls: bool = False,
        ca_file: Path | None = None,
        timeout: float = 20.0,
    ) -> None:
        self.host = host
        self.port = port
        self.sender = sender
        self.recipients = list(recipients)
        self.audiences = {k: list(v) for k, v in (audiences or {}).items()}
        self.username = username
        self._password = password
        self.starttls = starttls
        self.implicit_tls = implicit_tls
        self.ca_file = ca_file
        self.timeout = timeout

    def recipients_for(self, audience: Sequence[str]) -> list[str]:
        out: list[str] = []
        unresolved = False
        for entry in audience:
            if "@" in entry:
                out.append(entry)
            elif entry in self.audiences:
                out.extend(self.audiences[entry])
            else:
                unresolved = True
        if unresolved or not out:
            out.extend(self.recipients)
        return list(dict.fromkeys(out))

    def build(self, notification: Notification, text: str, to: list[str]) -> EmailMessage:
        internal = notification.channel != "email"
        prefix = f"[{notification.context.get('severity') or 'incident'}] " if internal else ""
        subject, body = split_subject(text, prefix)
        msg = EmailMessage()
        msg["From"] = self.sender
        msg["To"] = to[0] if len(to) == 1 else "undisclosed-recipients:;"
        msg["Subject"] = subject
        msg["Date"] = formatdate(localtime=False, usegmt=True)
        domain = self.sender.rsplit("@", 1)[-1].strip(">") or None
        msg["Message-ID"] = make_msgid(domain=domain)
        msg["Auto-Submitted"] = "auto-generated"
        msg.set_content(body)
        return msg

    async def deliver(self, notification: Notification, text: str) -> str:
        people = [r.contacts.email for r in notification.recipients if r.contacts.email]
        to = list(dict.fromkeys(people)) or self.recipients_for(notification.audience)
        if not to:
            raise ChannelConfigError(
                SERVICE,
                f"no recipients for audience {notification.audience}: set WARROOM_SMTP_TO or WARROOM_SMTP_AUDIENCES",
            )
        msg = self.build(notification, text, to)
        refused = await asyncio.to_thread(self._send, msg, to)
        sent = len(to) - len(refused)
        note = f", {len(refused)} refused" if refused else ""
        return f"email to {sent} recipient(s) via {self.host}:{self.port}{note}"

    async def send(self, msg: EmailMessage, to: list[str]) -> dict[str, tuple[int, bytes]]:
        """Send a message built elsewhere (status-page subscriber mails); returns the refused recipients."""
        return await asyncio.to_thread(self._send, msg, to)

    def _context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)

    async def send_many(self, batch: Sequence[tuple[EmailMessage, list[str]]]) -> list[SendOutcome]:
        """Send many messages over one connection (one TLS handshake and one login for a whole
        status-page fan-out); per message, the refused recipients or the error that stopped it."""
        return await asyncio.to_thread(self._send_many, list(batch))

    def _send(self, msg: EmailMessage, to: list[str]) -> dict[str, tuple[int, bytes]]:
        secret = self._password.get_secret_value() if self._password else None
        try:
            with self._session(secret) as smtp:
                return smtp.send_message(msg, from_addr=self.sender, to_addrs=to)
        except ChannelError:
            raise
        except Exception as exc:  # noqa: BLE001 - every failure becomes a typed, secret-free error
            raise self._classify(exc, secret) from None

    def _send_many(self, batch: list[tuple[EmailMessage, list[str]]]) -> list[SendOutcome]:
        secret = self._password.get_secret_value() if self._password else None
        outcomes: list[SendOutcome] = []
        try:
            with self._session(secret) as smtp:
                for msg, to in batch:
                    try:
                        outcomes.append(smtp.send_message(msg, from_addr=self.sender, to_addrs=to))
                    except smtplib.SMTPServerDisconnected:
                        raise  # the rest cannot go over this connection: they fail below
                    except (smtplib.SMTPRecipientsRefused, smtplib.SMTPResponseException) as exc:
                        outcomes.append(self._classify(exc, secret))  # this message only
                        smtp.rset()
        except ChannelError as exc:
            error: ChannelError = exc
        except Exception as exc:  # noqa: BLE001 - every failure becomes a typed, secret-free error
            error = self._classify(exc, secret)
        else:
            return outcomes
        return outcomes + [error] * (len(batch) - len(outcomes))

    @contextmanager
    def _session(self, secret: str | None) -> Iterator[smtplib.SMTP]:
        """A connection that has said EHLO, upgraded to TLS (required unless turned off) and logged in."""
        if self.implicit_tls:
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=self._context())
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        with smtp:
            smtp.ehlo()
            if self.starttls:
                if not smtp.has_extn("starttls"):
                    raise ChannelRejected(
                        SERVICE,
                        f"{self.host}:{self.port} does not offer STARTTLS; "
                        "refusing to send credentials or mail in clear text",
                    )
                smtp.starttls(context=self._context())
                smtp.ehlo()
            if self.username and secret is not None:
                smtp.login(self.username, secret)
            yield smtp

    def _classify(self, exc: Exception, secret: str | None) -> ChannelError:
        where = f"{self.host}:{self.port}"

        def reply(e: smtplib.SMTPResponseException) -> str:
            text = e.smtp_error.decode(errors="replace") if isinstance(e.smtp_error, bytes) else str(e.smtp_error)
            return short(redact(f"{e.smtp_code} {text}", [secret]))

        if isinstance(exc, smtplib.SMTPAuthenticationError):
            return ChannelAuthError(SERVICE, f"{where}: authentication failed ({reply(exc)})", status=exc.smtp_code)
        if isinstance(exc, smtplib.SMTPRecipientsRefused):
            codes = sorted({code for code, _ in exc.recipients.values()})
            temporary = all(400 <= c < 500 for c in codes)
            kind = ChannelUnavailable if temporary else ChannelRejected
            return kind(SERVICE, f"{where}: all {len(exc.recipients)} recipient(s) refused (codes {codes})")
        if isinstance(exc, smtplib.SMTPNotSupportedError):
            return ChannelConfigError(SERVICE, f"{where}: {short(str(exc))}")
        if isinstance(exc, smtplib.SMTPServerDisconnected):
            return ChannelUnavailable(SERVICE, f"{where}: the server closed the connection")
        if isinstance(exc, smtplib.SMTPResponseException):
            kind = ChannelUnavailable if 400 <= exc.smtp_code < 500 else ChannelRejected
            return kind(SERVICE, f"{where}: {reply(exc)}", status=exc.smtp_code)
        if isinstance(exc, ssl.SSLCertVerificationError):
            return ChannelRejected(
                SERVICE,
                f"{where}: the server's TLS certificate is not trusted "
                f"({short(exc.verify_message or 'verification failed')}); set "
                "WARROOM_SMTP_CA_FILE for a private CA",
            )
        if isinstance(exc, (OSError, smtplib.SMTPException)):  # refused, reset, timeout, TLS handshake
            return ChannelUnavailable(SERVICE, f"{where}: {type(exc).__name__}: {short(redact(str(exc), [secret]))}")
        return ChannelUnavailable(SERVICE, f"{where}: {type(exc).__name__}")
