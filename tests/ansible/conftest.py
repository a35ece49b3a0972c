"""Real ansible-runner runs through `ActivityEnvironment`, a real PostgreSQL, and a /proc scanner.

Each run's private directory goes under the test's own `runs/` folder, so "nothing left behind"
is checkable twice: no process whose command line mentions that folder (or the test's marker), and
an empty folder afterwards.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from activities.ansible import AnsibleSettings, PlaybookRunner
from tests.ansible.support import EXTRA_PLAYBOOKS, PG_PASSWORD, Postgres, Recorder, as_postgres, free_port, pg_bin_dir


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def runs_dir(tmp_path: Path) -> Path:
    path = tmp_path / "runs"
    path.mkdir()
    return path


@pytest.fixture
def log_root(tmp_path: Path) -> Path:
    path = tmp_path / "logs"
    path.mkdir()
    return path


@pytest.fixture
def closed_port() -> int:
    return free_port()


@pytest.fixture
def settings(runs_dir: Path, log_root: Path, closed_port: int) -> AnsibleSettings:
    inventory = {
        "all": {
            "hosts": {
                "localhost": {"ansible_connection": "local"},
                # An SSH host on a closed loopback port: connection refused at once, i.e. unreachable.
                "db-7.internal": {
                    "ansible_host": "127.0.0.1",
                    "ansible_port": closed_port,
                    "ansible_user": "nobody",
                    "ansible_connection": "ssh",
                },
            }
        }
    }
    return AnsibleSettings(
        extra_playbook_dir=EXTRA_PLAYBOOKS,
        temp_root=runs_dir,
        log_root=log_root,
        inventory=inventory,
        credentials={"orders-db": PG_PASSWORD},
    )


@pytest.fixture
def runner(settings: AnsibleSettings) -> PlaybookRunner:
    return PlaybookRunner(settings)


# --- a real PostgreSQL ------------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    bin_dir = pg_bin_dir()
    if bin_dir is None or shutil.which("psql") is None:
        pytest.fail('PostgreSQL is not installed: mark the test `@pytest.mark.system("postgresql")` (tests/system.py)')
    superuser = "postgres" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
    base = Path(tempfile.mkdtemp(prefix="warroom-pg-"))
    data = base / "data"
    if os.geteuid() == 0:
        entry = pwd.getpwnam("postgres")
        os.chown(base, entry.pw_uid, entry.pw_gid)
    port = free_port()

    def run(cmd: list[str]) -> None:
        subprocess.run(as_postgres(cmd), check=True, capture_output=True, text=True, timeout=120)

    # Trust on the socket (the test's own superuser), a password on TCP (what warroom uses).
    run(
        [
            str(bin_dir / "initdb"),
            "-D",
            str(data),
            "-U",
            superuser,
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "-E",
            "UTF8",
        ]
    )
    run(
        [
            str(bin_dir / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(base / "log"),
            "-w",
            "-t",
            "60",
            "-o",
            f"-p {port} -k {base} -c listen_addresses=127.0.0.1",
            "start",
        ]
    )
    pg = Postgres(
        port=port, superuser=superuser, role="warroom", password=PG_PASSWORD, bin_dir=bin_dir, socket_dir=base
    )
    try:
        pg.psql(f"CREATE ROLE warroom LOGIN PASSWORD '{PG_PASSWORD}' IN ROLE pg_monitor")
        yield pg
    finally:
        subprocess.run(
            as_postgres([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]),
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(base, ignore_errors=True)
