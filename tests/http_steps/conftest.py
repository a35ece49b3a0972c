"""The recording HTTP server, one per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.http_steps.support import Recorder, serving


@pytest.fixture
def server() -> Iterator[Recorder]:
    with serving() as recorder:
        yield recorder
