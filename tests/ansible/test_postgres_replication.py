"""The PostgreSQL playbook's replication lag (the seed's "Database: ... replication lag?") against a
real primary and a real streaming standby: pg_stat_replication's replay_lag per replica on the
primary, now() - pg_last_xact_replay_timestamp() on the standby, "no replicas" when there are none."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from activities.ansible import PlaybookRunner
from tests.ansible.support import Postgres, Recorder, as_postgres, free_port
from warroom.contracts.ansible import PostgresHealthRequest
from warroom.policy.diagnosis import DependencySignals, Findings, diagnose
from workflows._cluster_checks import database_signals

pytestmark = pytest.mark.system("postgresql")


@pytest.fixture(scope="module")
def standby(postgres: Postgres) -> Iterator[Postgres]:
    """A streaming replica of the session's server (pg_basebackup -R), on a port of its own."""
    base = Path(tempfile.mkdtemp(prefix="warroom-pg-standby-"))
    if os.geteuid() == 0:
        entry = pwd.getpwnam("postgres")
        os.chown(base, entry.pw_uid, entry.pw_gid)
    data, port = base / "data", free_port()

    def run(*cmd: str) -> None:
        subprocess.run(as_postgres(list(cmd)), check=True, capture_output=True, text=True, timeout=120)

    bin_dir = postgres.bin_dir
    run(
        str(bin_dir / "pg_basebackup"),
        *("-h", str(postgres.socket_dir), "-p", str(postgres.port), "-U", postgres.superuser),
        *("-D", str(data), "-R", "-X", "stream", "--checkpoint=fast", "-c", "fast"),
    )
    (data / "standby.signal").touch()
    run(
        str(bin_dir / "pg_ctl"),
        *("-D", str(data), "-l", str(base / "log"), "-w", "-t", "60"),
        *("-o", f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c application_name=standby-1"),
        "start",
    )
    replica = replace(postgres, port=port, socket_dir=base)
    try:
        deadline = time.monotonic() + 30
        while postgres.psql("SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'").strip() != "1":
            assert time.monotonic() < deadline, "the standby never started streaming"
            time.sleep(0.2)
        yield replica
    finally:
        subprocess.run(
            as_postgres([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]),
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(base, ignore_errors=True)


def health(runner: PlaybookRunner, recorder: Recorder, pg: Postgres) -> object:
    return recorder.run(
        runner.postgres_health, PostgresHealthRequest(port=pg.port, user=pg.role, credential="orders-db")
    )


def test_a_primary_without_replicas_says_so(runner: PlaybookRunner, recorder: Recorder, postgres: Postgres) -> None:
    if postgres.psql("SELECT count(*) FROM pg_stat_replication").strip() != "0":
        pytest.skip("a standby of this server is running (module order)")  # pragma: no cover
    report = health(runner, recorder, postgres)
    assert report.reachable and report.role == "primary" and report.replicas == []  # type: ignore[attr-defined]
    assert report.replication_lag_seconds is None  # type: ignore[attr-defined]
    assert report.max_connections == int(postgres.psql("SHOW max_connections"))  # type: ignore[attr-defined]
    signals = DependencySignals(**database_signals("orders-db", report, 30.0))  # type: ignore[arg-type]
    assert (signals.db_reachable, signals.db_replicas, signals.db_max_connections) == (True, 0, report.max_connections)  # type: ignore[attr-defined]
    d = diagnose(Findings(error_class="5xx", dependencies=signals))
    assert any(e.startswith("database orders-db: ") and e.endswith(", no replicas") for e in d.evidence), d.evidence


def test_replay_lag_on_the_primary_and_the_standby(
    runner: PlaybookRunner, recorder: Recorder, postgres: Postgres, standby: Postgres
) -> None:
    primary = health(runner, recorder, postgres)
    assert primary.role == "primary"  # type: ignore[attr-defined]
    [replica] = primary.replicas  # type: ignore[attr-defined]
    assert (replica.state, replica.client_addr) == ("streaming", None)  # over the Unix socket: no address
    assert 0 <= replica.replay_lag_seconds < 5

    caught_up = health(runner, recorder, standby)
    assert caught_up.reachable and caught_up.role == "standby" and caught_up.replicas == []  # type: ignore[attr-defined]
    assert caught_up.replay_lag_seconds == 0  # type: ignore[attr-defined]  # replayed all it received

    # One transaction replayed (a standby's usual state), then replay paused while the primary writes:
    # the standby falls behind by the time since that transaction.
    postgres.psql("CREATE TABLE IF NOT EXISTS warroom_lag (at timestamptz)")
    postgres.psql("INSERT INTO warroom_lag VALUES (now())")
    deadline = time.monotonic() + 15
    while standby.psql("SELECT pg_last_xact_replay_timestamp() IS NOT NULL").strip() != "t":
        assert time.monotonic() < deadline, "the standby never replayed a transaction"
        time.sleep(0.1)
    standby.psql("SELECT pg_wal_replay_pause()")
    try:
        time.sleep(1.5)
        postgres.psql("INSERT INTO warroom_lag VALUES (now())")
        deadline = time.monotonic() + 15
        while standby.psql("SELECT pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn()").strip() != "f":
            assert time.monotonic() < deadline, "the standby never received the new WAL"
            time.sleep(0.1)
        behind = health(runner, recorder, standby)
    finally:
        standby.psql("SELECT pg_wal_replay_resume()")
    assert behind.replay_lag_seconds is not None and behind.replay_lag_seconds >= 1.0  # type: ignore[attr-defined]
    assert behind.replication_lag_seconds == behind.replay_lag_seconds  # type: ignore[attr-defined]
    # The tree, with a 1 s limit: the standby is lagging; with the runbook's 30 s, it is not.
    for limit, lagging in ((1.0, True), (30.0, False)):
        signals = DependencySignals(**database_signals("orders-replica", behind, limit))  # type: ignore[arg-type]
        d = diagnose(Findings(error_class="5xx", dependencies=signals))
        assert d.hypothesis.startswith("database replication is lagging") is lagging, d.evidence
