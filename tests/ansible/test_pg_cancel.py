"""Playbook steps against a real PostgreSQL 15: `pg_cancel_long_queries` previewed with `--check --diff`
(the long `pg_sleep` keeps running) and applied (its client sees the cancel), a young query left alone,
a retry finding nothing; hostile extravars refused before any run; the generic preview and apply."""

from __future__ import annotations

import re
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from temporalio.exceptions import ApplicationError, CancelledError

from activities.ansible import PlaybookInvalid, PlaybookRunner
from tests.ansible.support import PG_PASSWORD, Postgres, Recorder, as_postgres, processes_mentioning
from warroom.contracts.ansible import PlaybookRequest
from warroom.contracts.steps import OUTPUT_MAX, PREVIEW_TEXT_MAX, PlaybookStepRequest

pytestmark = pytest.mark.system("postgresql")

PLAYBOOK = "pg_cancel_long_queries"
CANCEL_TASK = "Cancel them (pg_cancel_backend)"
APP_ROLE = "orders_app"


@dataclass
class Sleeper:
    """A client of the `orders_app` role running `SELECT pg_sleep(600)` in its own psql process."""

    name: str
    proc: subprocess.Popen[str]
    pid: int
    started: float

    @classmethod
    def start(cls, pg: Postgres, name: str) -> Sleeper:
        conninfo = f"host={pg.socket_dir} port={pg.port} dbname=postgres user={APP_ROLE} application_name={name}"
        proc = subprocess.Popen(
            as_postgres([str(pg.bin_dir / "psql"), "-X", "-d", conninfo, "-c", "SELECT pg_sleep(600)"]),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        started = time.monotonic()
        deadline = started + 15
        while True:
            found = str(
                pg.psql(f"SELECT pid FROM pg_stat_activity WHERE application_name = '{name}' AND state = 'active'")
            )
            if found.strip():
                return cls(name, proc, int(found.strip()), started)
            assert proc.poll() is None, f"psql ended: {proc.communicate()}"
            assert time.monotonic() < deadline, "the pg_sleep query never started"
            time.sleep(0.05)

    def running(self, pg: Postgres) -> bool:
        state = str(pg.psql(f"SELECT state FROM pg_stat_activity WHERE pid = {self.pid}")).strip()
        return state == "active" and self.proc.poll() is None

    def stop(self, pg: Postgres) -> None:
        pg.psql(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '{self.name}'")
        try:
            self.proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover - psql ignores a terminated backend? kill it
            self.proc.kill()
            self.proc.communicate()


@pytest.fixture(scope="module")
def app_role(postgres: Postgres) -> str:
    """An application role whose queries warroom may cancel (pg_signal_backend; never a superuser's)."""
    postgres.psql(f"DO $$ BEGIN CREATE ROLE {APP_ROLE} LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$")
    postgres.psql("GRANT pg_signal_backend TO warroom")
    return APP_ROLE


@pytest.fixture(scope="module", autouse=True)
def long_query(postgres: Postgres, app_role: str) -> Iterator[Sleeper]:
    """Started when the module starts, so the fast tests run while it ages past the 1-minute bound."""
    sleeper = Sleeper.start(postgres, "warroom-test-long")
    yield sleeper
    sleeper.stop(postgres)


def step(postgres: Postgres, **extravars: Any) -> PlaybookStepRequest:
    base = {"pg_port": postgres.port, "pg_user": postgres.role, "credential": "orders-db", "older_than_minutes": 1}
    return PlaybookStepRequest(playbook=PLAYBOOK, extravars={**base, **extravars}, idempotency_key="INC-1/step-3")


# --- refused before anything runs -----------------------------------------------------------------

HOSTILE: list[tuple[str, dict[str, Any]]] = [
    ("sql in a number", {"older_than_minutes": "1; DROP TABLE users"}),
    ("sql in a name", {"database_filter": "x' OR '1'='1"}),
    ("statement in a name", {"user_filter": "app;DROP TABLE users"}),
    ("path traversal", {"database_filter": "../etc"}),
    ("NUL byte", {"user_filter": "app\x00"}),
    ("100 KB", {"database_filter": "a" * 100_000}),
    ("negative minutes", {"older_than_minutes": -5}),
    ("zero minutes", {"older_than_minutes": 0}),
    ("huge minutes", {"older_than_minutes": 10**12}),
    ("fractional minutes", {"older_than_minutes": 1.5}),
    ("too many queries", {"max_queries": 101}),
    ("negative queries", {"max_queries": -1}),
    ("long query text", {"query_max_chars": 501}),
    ("unknown variable", {"ansible_python_interpreter": "/bin/sh"}),
    ("reserved variable", {"warroom_target": "all"}),
    ("command substitution host", {"pg_host": "$(id)"}),
    ("unknown credential", {"credential": "not-configured"}),
    ("a password instead of a credential", {"pg_password": "hunter2"}),
]


@pytest.mark.parametrize("activity_name", ["step_preview", "step_apply"])
@pytest.mark.parametrize("case", HOSTILE, ids=[name for name, _ in HOSTILE])
def test_hostile_extravars_are_refused_before_any_run(
    case: tuple[str, dict[str, Any]],
    activity_name: str,
    postgres: Postgres,
    runner: PlaybookRunner,
    recorder: Recorder,
    runs_dir: Path,
) -> None:
    _, extravars = case
    started = time.monotonic()
    with pytest.raises(ApplicationError) as caught:
        recorder.run(getattr(runner, activity_name), step(postgres, **extravars))
    assert time.monotonic() - started < 1.0  # an ansible-playbook process alone takes ~1 s to start
    assert caught.value.type == "PlaybookInvalid" and caught.value.non_retryable
    assert "DROP TABLE" not in str(caught.value) and "a" * 100 not in str(caught.value)  # not echoed
    assert recorder.beats == []  # no heartbeat: no run started
    assert list(runs_dir.iterdir()) == []  # not even a private directory


@pytest.mark.parametrize(
    "request_fields",
    [
        {"playbook": "../pg_cancel_long_queries"},
        {"playbook": "pg_cancel_long_queries.yml"},
        {"target": "db-7.internal"},  # local-only: psql runs where the password is
        {"target": "localhost; rm -rf /"},
        {"timeout_seconds": -1},
    ],
)
def test_hostile_requests_are_refused_before_any_run(
    request_fields: dict[str, Any], postgres: Postgres, runner: PlaybookRunner, recorder: Recorder, runs_dir: Path
) -> None:
    request = step(postgres).model_copy(update=request_fields)
    with pytest.raises(ApplicationError) as caught:
        recorder.run(runner.step_preview, request)
    assert caught.value.type == "PlaybookInvalid" and caught.value.non_retryable
    assert recorder.beats == [] and list(runs_dir.iterdir()) == []


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.text(max_size=80), minutes=st.integers(min_value=-(10**6), max_value=10**6))
def test_any_filter_reaching_psql_is_a_plain_postgres_name(name: str, minutes: int, runner: PlaybookRunner) -> None:
    """What `prepare` lets through is a plain identifier and a bounded integer; anything else is refused."""
    try:
        prepared = runner.prepare(
            PlaybookRequest(
                playbook=PLAYBOOK,
                extravars={"older_than_minutes": minutes, "database_filter": name, "user_filter": name},
            )
        )
    except PlaybookInvalid:
        return
    assert 1 <= prepared.extravars["older_than_minutes"] <= 1440
    for key in ("database_filter", "user_filter"):
        value = prepared.extravars[key]
        assert value[0].isalpha() or value[0] == "_", value
        assert all(c.isascii() and (c.isalnum() or c in "_$-") for c in value), value
        assert ".." not in value and len(value) <= 63


# --- the generic steps ----------------------------------------------------------------------------


def test_a_harmless_playbook_previews_and_applies_as_no_change(
    runner: PlaybookRunner, recorder: Recorder, runs_dir: Path
) -> None:
    request = PlaybookStepRequest(playbook="noop")
    preview = recorder.run(runner.step_preview, request)
    assert not preview.would_change and preview.changes == [] and preview.diff == ""
    assert preview.summary == "noop: would change nothing (1 task ran)"
    assert preview.request.startswith("ansible-playbook --check --diff --limit localhost noop.yml -e ")
    outcome = recorder.run(runner.step_apply, request)
    assert outcome.outcome == "no_change" and "ok" in outcome.output and "Say nothing" in outcome.output
    assert float(outcome.details["duration_seconds"]) > 0
    assert recorder.beats  # both runs sent heartbeats
    assert list(runs_dir.iterdir()) == []


def test_a_built_in_modules_diff_is_the_preview_and_the_apply_makes_the_change(
    runner: PlaybookRunner, recorder: Recorder, runs_dir: Path
) -> None:
    request = PlaybookStepRequest(playbook="write_marker", extravars={"text": "hello-from-check"})
    preview = recorder.run(runner.step_preview, request)
    assert preview.would_change and [c.path for c in preview.changes] == ["Write the marker file"]
    assert preview.changes[0].after == "hello-from-check\n"
    assert "+hello-from-check" in preview.diff and preview.diff.startswith("TASK [Write the marker file]")
    assert preview.summary == "write_marker: would change 1 task: Write the marker file"
    outcome = recorder.run(runner.step_apply, request)
    assert outcome.outcome == "applied" and outcome.details["marker.text"] == "hello-from-check"
    assert outcome.summary == "write_marker: changed 1 task: Write the marker file"
    assert list(runs_dir.iterdir()) == []


def test_cancelling_a_preview_stops_its_run(runner: PlaybookRunner, recorder: Recorder, runs_dir: Path) -> None:
    marker = f"warroom-test-{uuid.uuid4().hex}"
    job = recorder.start(
        runner.step_preview, PlaybookStepRequest(playbook="sleep", extravars={"seconds": 60, "marker": marker})
    )
    recorder.wait_for_task("Long step")
    deadline = time.monotonic() + 10
    while not processes_mentioning(marker):
        assert time.monotonic() < deadline, "the sleep command never started"
        time.sleep(0.05)
    time.sleep(1.5)  # well into the 60 s task: nothing but the cancel ends this run
    assert job.thread.is_alive()
    recorder.env.cancel()
    job.join(30)
    assert isinstance(job.error, CancelledError), job.error
    assert processes_mentioning(marker, str(runs_dir)) == [] and list(runs_dir.iterdir()) == []


def test_a_failing_step_raises_the_familys_typed_error(runner: PlaybookRunner, recorder: Recorder) -> None:
    with pytest.raises(ApplicationError) as caught:
        recorder.run(runner.step_apply, PlaybookStepRequest(playbook="failing"))
    assert caught.value.type == "TaskFailed" and caught.value.non_retryable


def test_an_unreachable_database_fails_the_step(runner: PlaybookRunner, recorder: Recorder, closed_port: int) -> None:
    """Unlike the health check (where it is a finding), a mitigation that cannot connect has failed."""
    request = PlaybookStepRequest(
        playbook=PLAYBOOK, extravars={"pg_port": closed_port, "older_than_minutes": 5, "connect_timeout": 2}
    )
    with pytest.raises(ApplicationError) as caught:
        recorder.run(runner.step_preview, request)
    assert caught.value.type == "TaskFailed" and "Find queries" in str(caught.value)


# --- against the long query -----------------------------------------------------------------------


def test_preview_lists_the_long_query_and_apply_cancels_only_it(
    postgres: Postgres, long_query: Sleeper, runner: PlaybookRunner, recorder: Recorder, runs_dir: Path
) -> None:
    time.sleep(max(0.0, long_query.started + 62 - time.monotonic()))  # past the 1-minute bound
    young = Sleeper.start(postgres, "warroom-test-young")
    try:
        preview = recorder.run(runner.step_preview, step(postgres))
        # --check changed nothing: the long query is still running, the young one too.
        assert long_query.running(postgres) and young.running(postgres)
        assert preview.would_change
        assert re.fullmatch(
            rf"would cancel 1 query running > 1 min: pid {long_query.pid} \(\dm\d\ds\)", preview.summary
        )
        [change] = preview.changes
        assert change.path == CANCEL_TASK
        assert change.before is not None and f"running  pid {long_query.pid} (" in change.before
        assert "orders_app@postgres): SELECT pg_sleep(600)" in change.before
        assert change.after is not None and f"cancel   pid {long_query.pid}" in change.after
        assert f"-running  pid {long_query.pid}" in preview.diff and f"+cancel   pid {long_query.pid}" in preview.diff
        assert str(young.pid) not in preview.diff
        assert preview.request.startswith(
            "ansible-playbook --check --diff --limit localhost pg_cancel_long_queries.yml"
        )
        assert '"older_than_minutes":1' in preview.request and "PGPASSWORD from the worker" in preview.request
        assert PG_PASSWORD not in preview.model_dump_json()
        assert len(preview.diff.encode()) <= PREVIEW_TEXT_MAX

        # The filters restrict which backends: another database has no long query.
        elsewhere = recorder.run(runner.step_preview, step(postgres, database_filter="template1"))
        assert not elsewhere.would_change and elsewhere.changes == []
        assert elsewhere.summary == "no query running > 1 min: nothing to cancel"

        outcome = recorder.run(runner.step_apply, step(postgres, user_filter=APP_ROLE))
        assert outcome.outcome == "applied", outcome
        assert re.fullmatch(rf"cancelled 1 query running > 1 min: pid {long_query.pid} \(\dm\d\ds\)", outcome.summary)
        assert outcome.details["pg_cancel.cancelled"] == f"[{long_query.pid}]"
        assert outcome.details["idempotency_key"] == "INC-1/step-3"
        assert len(outcome.output.encode()) <= OUTPUT_MAX and PG_PASSWORD not in outcome.model_dump_json()
        _, stderr = long_query.proc.communicate(timeout=15)
        assert "canceling statement due to user request" in stderr
        assert long_query.proc.returncode != 0
        assert young.running(postgres)  # younger than the bound: left alone

        # A retry (the worker died after the cancel) finds nothing left to cancel.
        again = recorder.run(runner.step_apply, step(postgres, user_filter=APP_ROLE))
        assert again.outcome == "no_change" and again.summary == "no query running > 1 min: nothing to cancel"
        assert young.running(postgres)
    finally:
        young.stop(postgres)
    assert list(runs_dir.iterdir()) == []
