"""Fixtures for the comms tests: the vendor fakes, recorded backoff, a real SMTP server, a clean env."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.comms.fakes import Mailbox, Sleeps, Vendors, smtp_server_at


@pytest.fixture(autouse=True)
def _no_warroom_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings in these tests come from the test, never from the machine's WARROOM_* variables."""
    for name in list(os.environ):
        if name.startswith("WARROOM_"):
            monkeypatch.delenv(name)


@pytest.fixture
def vendors() -> Vendors:
    return Vendors()


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture(scope="module")
def smtp_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mailbox]:
    """A real SMTP server: STARTTLS required, AUTH required (PLAIN/LOGIN), self-signed certificate."""
    yield from smtp_server_at(tmp_path_factory.mktemp("smtp"), starttls=True)


@pytest.fixture(scope="module")
def plaintext_smtp_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mailbox]:
    """An SMTP server that offers no STARTTLS (the mailer must refuse to send through it)."""
    yield from smtp_server_at(tmp_path_factory.mktemp("smtp-plain"), starttls=False)
