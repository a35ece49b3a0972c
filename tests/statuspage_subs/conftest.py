"""Fixtures for the status page's feed and subscribers: a clean env, a real SMTP server, and a real
PostgreSQL (tests/ansible's session fixture, reused as it is)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.ansible.conftest import postgres as postgres  # the one real-PostgreSQL fixture, reused
from tests.comms.fakes import Mailbox, smtp_server_at


@pytest.fixture(autouse=True)
def _no_warroom_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings in these tests come from the test, never from the machine's WARROOM_* variables."""
    for name in list(os.environ):
        if name.startswith("WARROOM_"):
            monkeypatch.delenv(name)


@pytest.fixture(scope="module")
def smtp_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mailbox]:
    """A real SMTP server (aiosmtpd): STARTTLS and AUTH required, self-signed certificate."""
    yield from smtp_server_at(tmp_path_factory.mktemp("smtp"), starttls=True)
