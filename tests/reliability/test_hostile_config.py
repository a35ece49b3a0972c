"""Hostile WARROOM_* values stop `warroom worker` and `warroom intake` at start, before any connection.

A value that is wrong must be one line naming the variable and exit 2, never "Temporal unreachable"
(exit 3, where the real cause hides), never a traceback (which prints the value, secrets included),
and never reach a header, a gRPC call, a shell or a file it was not meant to name.

Every command runs as a real process with only environment variables, against a trap: a loopback
"Temporal" that accepts and drops each connection, counting it. A refused value must leave it at 0;
a good configuration (the controls) must reach it and fail differently: the worker with exit 3, the
intake by listening (it connects lazily).

What an environment can hold: newline, CR, shell metacharacters, `..`, invalid JSON, invalid UTF-8
(raw bytes: Python sees lone surrogates) and long values. Not NUL (execve ends the string there),
and not 1 MB: Linux caps one environment string at 128 KiB (MAX_ARG_STRLEN), so 100 KB it is.
A variable is only swept with the values it must refuse: a path may hold `..` or any byte a file
name can (it is only opened), and a secret or free text any printable character.
"""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PWNED = Path(tempfile.gettempdir()) / f"warroom-pwned-{uuid.uuid4().hex[:8]}"
TIMEOUT = 60.0

VALUES: dict[str, str | bytes] = {
    "newline": "hostile\ninjected: 1",
    "cr": "hostile\rinjected: 1",
    "100kb": "a" * 100_000,
    "dotdot": "../../etc/passwd",  # from the repo root: a real file that is no runbook, kubeconfig or inventory
    "shell": f"x; $(touch {PWNED}) `touch {PWNED}` | rm -rf /",
    "utf8": b"\xff\xfehostile",
    "json": '{"orders-db": "pw", ',
}
ALL = ("newline", "cr", "100kb", "dotdot", "shell", "utf8")
PARSED = (*ALL, "json")  # JSON, or a file loaded at start: nothing that does not parse passes
LINE = ("newline", "cr", "100kb", "utf8")  # secrets and free text: any printable character is legitimate
PATH = ("newline", "cr", "100kb")  # paths only ever opened: `..` and non-UTF-8 names are legitimate
MISSING_FILE = ("newline", "cr", "100kb", "shell", "utf8")  # TLS files: read at start; /etc/passwd is readable

WORKER = ("warroom worker", (sys.executable, "-m", "warroom.cli", "worker"))
INTAKE = ("warroom intake", (sys.executable, "-m", "warroom.cli", "intake"))
WORKER_PY = ("python worker.py", (sys.executable, "worker.py"))
INTAKE_MODULE = ("python -m warroom.intake.server", (sys.executable, "-m", "warroom.intake.server"))

SHARED: dict[str, tuple[str, ...]] = {  # Settings: both commands read them
    "WARROOM_TEMPORAL_ADDRESS": ALL,
    "WARROOM_TEMPORAL_NAMESPACE": ALL,
    "WARROOM_TASK_QUEUE": ALL,
    "WARROOM_TEMPORAL_API_KEY": LINE,
    "WARROOM_CODEC_KEYS": PARSED,
    "WARROOM_POSTGRES_CREDENTIALS": PARSED,
    "WARROOM_PROMETHEUS_URL": ALL,
    "WARROOM_RUNBOOK": PARSED,
    "WARROOM_TEMPORAL_TLS_CA": MISSING_FILE,
    "WARROOM_KUBE_CONTEXT": LINE,
    "WARROOM_DATA_DIR": PATH,
}
WORKER_ONLY: dict[str, tuple[str, ...]] = {  # channels, kubeconfig, inventory: loaded by `prepare`
    "WARROOM_KUBECONFIG": PARSED,
    "WARROOM_ANSIBLE_INVENTORY": PARSED,
    "WARROOM_LOG_ROOT": PATH,
    "WARROOM_ROUTES": PARSED,
    "WARROOM_SMTP_AUDIENCES": PARSED,
    "WARROOM_SMTP_TO": LINE,
    "WARROOM_WEBHOOK_URL": ALL,
    "WARROOM_STATUSPAGE_PAGE_ID": ALL,
    "WARROOM_SLACK_API_URL": ALL,
    "WARROOM_PAGERDUTY_SOURCE": LINE,
    "WARROOM_SLACK_TOKEN": LINE,
    "WARROOM_SMTP_PASSWORD": LINE,
    "WARROOM_SMTP_CA_FILE": PATH,
    "WARROOM_WORKFLOW_SANDBOX": ("newline", "shell"),
    "WARROOM_JIRA_URL": ALL,
    "WARROOM_JIRA_EMAIL": ALL,
    "WARROOM_JIRA_API_TOKEN": LINE,
    "WARROOM_JIRA_PROJECT": ALL,
    "WARROOM_GITHUB_REPO": ALL,
    "WARROOM_GITHUB_TOKEN": LINE,
}
INTAKE_ONLY: dict[str, tuple[str, ...]] = {
    "WARROOM_INTAKE_HOST": ALL,
    "WARROOM_INTAKE_PORT": ALL,
    "WARROOM_INTAKE_ALERTMANAGER_TOKEN": LINE,
    "WARROOM_INTAKE_PAGERDUTY_SIGNING_SECRETS": LINE,
    "WARROOM_INTAKE_GRAFANA_SIGNATURE_HEADER": ALL,
    "WARROOM_INTAKE_DEFAULT_SERVICE": ALL,
    "WARROOM_INTAKE_OPSGENIE_BASIC_USER": LINE,
    "WARROOM_INTAKE_GENERIC_BASIC_PASSWORD": LINE,
}
JIRA = {
    "WARROOM_JIRA_URL": "https://acme.atlassian.net",
    "WARROOM_JIRA_EMAIL": "warroom@acme.test",
    "WARROOM_JIRA_API_TOKEN": "jira-token",
    "WARROOM_JIRA_PROJECT": "OPS",
}
GITHUB = {"WARROOM_GITHUB_REPO": "acme/shop", "WARROOM_GITHUB_TOKEN": "github-token"}
PARTNERS = {
    "WARROOM_INTAKE_OPSGENIE_BASIC_USER": {"WARROOM_INTAKE_OPSGENIE_BASIC_PASSWORD": "pw"},
    "WARROOM_INTAKE_GENERIC_BASIC_PASSWORD": {"WARROOM_INTAKE_GENERIC_BASIC_USER": "grafana"},
    **{name: {k: v for k, v in JIRA.items() if k != name} for name in JIRA},
    **{name: {k: v for k, v in GITHUB.items() if k != name} for name in GITHUB},
}
"""A value that goes in a pair gets a good partner, so the hostile value is the only problem."""
SECRETS = {
    "WARROOM_TEMPORAL_API_KEY",
    "WARROOM_POSTGRES_CREDENTIALS",
    "WARROOM_WEBHOOK_URL",
    "WARROOM_INTAKE_ALERTMANAGER_TOKEN",
    "WARROOM_INTAKE_PAGERDUTY_SIGNING_SECRETS",
    "WARROOM_INTAKE_GENERIC_BASIC_PASSWORD",
    "WARROOM_SLACK_TOKEN",
    "WARROOM_SMTP_PASSWORD",
    "WARROOM_JIRA_API_TOKEN",
    "WARROOM_GITHUB_TOKEN",
}
"""Not WARROOM_CODEC_KEYS: an error there names the key *id* (public: it is in every payload's metadata)."""


@dataclass(frozen=True)
class Case:
    command: str
    argv: tuple[str, ...]
    variable: str
    value: str  # a key of VALUES

    def __str__(self) -> str:
        return f"{self.command}:{self.variable.removeprefix('WARROOM_')}={self.value}"


@dataclass
class Outcome:
    returncode: int | None  # None: still running after TIMEOUT (killed)
    stderr: str
    seconds: float
    connections: int


def _cases() -> list[Case]:
    cases = [Case(*WORKER, var, value) for var, values in SHARED.items() for value in values]
    # The intake reads them through the same Settings: a newline and invalid UTF-8 in each show it does.
    cases += [
        Case(*INTAKE, var, value) for var, values in SHARED.items() for value in values if value in ("newline", "utf8")
    ]
    cases += [Case(*WORKER, var, value) for var, values in WORKER_ONLY.items() for value in values]
    cases += [Case(*INTAKE, var, value) for var, values in INTAKE_ONLY.items() for value in values]
    # The documented alternatives start through the same command (they printed tracebacks, secrets included).
    cases += [
        Case(*WORKER_PY, var, value)
        for var, value in [
            ("WARROOM_TEMPORAL_API_KEY", "newline"),
            ("WARROOM_TASK_QUEUE", "dotdot"),
            ("WARROOM_KUBECONFIG", "dotdot"),
            ("WARROOM_TEMPORAL_TLS_CA", "shell"),
        ]
    ]
    cases += [
        Case(*INTAKE_MODULE, var, value)
        for var, value in [
            ("WARROOM_INTAKE_ALERTMANAGER_TOKEN", "newline"),
            ("WARROOM_INTAKE_GENERIC_BASIC_PASSWORD", "utf8"),
            ("WARROOM_TEMPORAL_NAMESPACE", "shell"),
        ]
    ]
    return cases


CASES = _cases()
CONTROLS = dict([WORKER, WORKER_PY])
GOOD: dict[str, str] = {  # the controls: valid values of the same kinds pass, `..` in a path included
    "WARROOM_TEMPORAL_NAMESPACE": "sre",
    "WARROOM_TASK_QUEUE": "warroom-hostile",
    "WARROOM_POSTGRES_CREDENTIALS": '{"orders-db": "pw; $(not a shell)"}',
    "WARROOM_LOG_ROOT": "../../var/log",
    "WARROOM_KUBE_CONTEXT": "prod; east",
    "WARROOM_INTAKE_ALERTMANAGER_TOKEN": "t0ken/../$(x)",
    **JIRA,
    **GITHUB,
}


class Trap:
    """A loopback "Temporal" that accepts and drops every connection, counting them."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.sock.getsockname()[1]}"

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:  # the timeout: look at the stop flag again
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()


def environment(trap: Trap, data_dir: Path, extra: dict[str, str | bytes]) -> dict[bytes, bytes]:
    """The test's environment without any WARROOM_* or cluster setting, plus `extra`, as bytes (so
    a value can be invalid UTF-8)."""
    env = {
        k: v
        for k, v in os.environb.items()
        if not k.startswith(b"WARROOM_") and k not in (b"KUBECONFIG", b"KUBERNETES_SERVICE_HOST")
    }
    base: dict[str, str | bytes] = {
        "WARROOM_TEMPORAL_ADDRESS": trap.address,
        "WARROOM_DATA_DIR": str(data_dir),
        "WARROOM_INTAKE_PORT": "0",
        **extra,
    }
    env.update({k.encode(): v if isinstance(v, bytes) else v.encode() for k, v in base.items()})
    return env


def launch(argv: tuple[str, ...], extra: dict[str, str | bytes], data_dir: Path) -> Outcome:
    trap = Trap()
    started = time.monotonic()
    try:
        proc = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=environment(trap, data_dir, extra),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        try:
            _, err = proc.communicate(timeout=TIMEOUT)
            code: int | None = proc.returncode
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            _, err = proc.communicate()
            code = None
        return Outcome(code, err.decode(errors="backslashreplace"), time.monotonic() - started, trap.connections)
    finally:
        trap.close()


def run_case(case: Case, data_dir: Path) -> Outcome:
    return launch(case.argv, {**PARTNERS.get(case.variable, {}), case.variable: VALUES[case.value]}, data_dir)


RESULTS: Counter[str] = Counter()


@pytest.fixture(scope="module")
def outcomes(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[Case | str, Outcome]]:
    """Every selected case of this module, run 3 at a time up front (each is a ~1 s interpreter start;
    the worker control waits 30 s for Temporal), then the summary line."""
    selected = [
        item.callspec.params["case"]
        for item in request.session.items
        if item.module is request.module and hasattr(item, "callspec") and "case" in item.callspec.params
    ]
    data_dir = tmp_path_factory.mktemp("hostile-config")
    jobs: dict[Case | str, Future[Outcome]] = {}
    with ThreadPoolExecutor(max_workers=3) as pool:
        for case in sorted(set(selected), key=lambda c: isinstance(c, Case)):  # the 30 s controls first
            jobs[case] = (
                pool.submit(run_case, case, data_dir)
                if isinstance(case, Case)
                else pool.submit(launch, CONTROLS[case], GOOD, data_dir)
            )
    results = {case: job.result() for case, job in jobs.items()}
    yield results
    print(
        f"\n[reliability] hostile config: {RESULTS['values']} hostile values ({len({c.variable for c in CASES})} "
        f"variables, {len({c.command for c in CASES})} commands) → {RESULTS['refused']} refused with exit 2 naming "
        f"the variable, {RESULTS['tracebacks']} tracebacks, {RESULTS['connections']} connections to Temporal; "
        f"good config: worker exit 3 after {RESULTS['control_connections']} connection attempts, intake listening "
        f"({RESULTS['listening']}x)"
    )
    # Every figure printed is also asserted (each test asserts its own case; these are the totals).
    assert RESULTS["refused"] == RESULTS["values"] and RESULTS["tracebacks"] == RESULTS["connections"] == 0


@pytest.mark.parametrize("case", CASES, ids=str)
def test_a_hostile_value_stops_the_start_with_the_variable_named(
    case: Case, outcomes: dict[Case | str, Outcome]
) -> None:
    out = outcomes[case]
    RESULTS["values"] += 1
    RESULTS["tracebacks"] += "Traceback" in out.stderr
    RESULTS["connections"] += out.connections
    tail = out.stderr[-600:]
    assert out.returncode is not None, f"still running after {TIMEOUT:.0f}s: the value was accepted\n{tail}"
    assert "Traceback" not in out.stderr, tail
    assert out.returncode == 2, (out.returncode, tail)
    assert out.connections == 0 and "cannot reach Temporal" not in out.stderr, (out.connections, tail)
    assert case.variable in out.stderr, tail
    assert len(out.stderr) < 4000, f"{len(out.stderr)} characters of stderr: the value is echoed"
    if case.variable in SECRETS:  # the refused secret is not printed, not even in part
        assert "injected" not in out.stderr and "touch" not in out.stderr and "a" * 200 not in out.stderr, tail
    assert not PWNED.exists()
    RESULTS["refused"] += 1


@pytest.mark.parametrize("case", CONTROLS)
def test_a_good_config_fails_at_the_connection_instead(case: str, outcomes: dict[Case | str, Outcome]) -> None:
    """The same harness with valid values: exit 3 and the trap reached, so exit 2 with an untouched trap
    above means "refused before connecting", not "cannot connect"."""
    out = outcomes[case]
    assert out.returncode == 3, (out.returncode, out.stderr[-600:])
    assert "cannot reach Temporal at 127.0.0.1:" in out.stderr and "Traceback" not in out.stderr
    assert out.connections > 0
    RESULTS["control_connections"] += out.connections


@pytest.mark.parametrize("argv", [INTAKE[1], INTAKE_MODULE[1]], ids=[INTAKE[0], INTAKE_MODULE[0]])
def test_a_good_intake_config_listens(argv: tuple[str, ...], tmp_path: Path) -> None:
    """The intake connects on the first alert: with good values it starts listening, which no hostile
    case above did (they all exited with 2)."""
    trap = Trap()
    proc = subprocess.Popen(
        argv,
        cwd=ROOT,
        env=environment(trap, tmp_path, GOOD),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    assert proc.stderr is not None
    seen = b""
    try:
        deadline = time.monotonic() + TIMEOUT
        while b"Uvicorn running on" not in seen:
            assert proc.poll() is None and time.monotonic() < deadline, seen[-600:].decode(errors="replace")
            if select.select([proc.stderr], [], [], 0.5)[0]:
                seen += os.read(proc.stderr.fileno(), 65536)  # unbuffered: select sees what is left
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(15)
        proc.stderr.close()
        trap.close()
    assert b"Traceback" not in seen and trap.connections == 0
    RESULTS["listening"] += 1
