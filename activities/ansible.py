"""Ansible activities: allow-listed playbooks through ansible-runner, durable and leaving nothing behind.

Each run gets a fresh private directory (a `TemporaryDirectory`, removed afterwards, also after a
cancel) with `suppress_env_files=True`, so nothing of one run leaks into the next and no variable
is written to `env/`. Ansible's own temp dirs (`ANSIBLE_LOCAL_TEMP`, `ANSIBLE_REMOTE_TEMP` for
local hosts, `TMPDIR`) point inside it.

Inputs are never trusted: a playbook is chosen by name from `playbooks/` (or from an extra
directory the *worker* is configured with, never from activity input), and its extravars go through
the playbook's pydantic model (allow-lists and length limits) before anything runs. Request models
use plain types on purpose: a value that fails validation then fails the activity as a
non-retryable `PlaybookInvalid`, instead of failing decoding (retried) or the workflow task.
Secrets (a PostgreSQL password, named by the request, held by the worker's settings) reach the
child only through its environment; ansible-runner's `command` artifact, which records that
environment, is deleted as soon as the child starts.

These are sync activities for the worker's ThreadPoolExecutor, declared with
`no_thread_cancel_exception=True`: the SDK must not throw into the thread that drives pexpect.
Progress goes out as heartbeats `{counter, event, task, host, failed}` (never module results, which
may hold secrets), from ansible-runner's `event_handler` and, during silent tasks, from its
`cancel_callback`, polled every second. Cancellation and the timeout are handled there as well:
since ansible-core 2.19 each worker process calls `setsid()`, so ansible-runner's own kill (SIGKILL
to the child's process group) would orphan the workers and their commands. Instead the
ansible-playbook child gets SIGTERM (its handler kills the worker process groups), up to
`cancel_grace_seconds` to exit, then SIGKILL for anything of its process tree still alive.

Errors leave as `ApplicationError(type=...)`; callers branch on `.type`; `details[0]` is the
partial `PlaybookResult` when there is one:

    PlaybookInvalid   unknown playbook or target, extravars refused, parser error   non-retryable
    TaskFailed        a task failed on a reachable host (not ignored)                non-retryable
    HostUnreachable   the target did not answer                                       retryable
    Timeout           the run exceeded its timeout; its processes are gone            retryable
    AnsibleError      ansible-playbook missing or crashed                             retryable

A cancelled run raises `temporalio.exceptions.CancelledError` once its processes are gone.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import re
import signal
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import ansible_runner
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    RootModel,
    SecretStr,
    StringConstraints,
    ValidationError,
    field_validator,
)
from temporalio import activity
from temporalio.exceptions import ApplicationError, CancelledError

__all__ = [
    "ALL_CHECKS",
    "AnsibleError",
    "AnsibleSettings",
    "CheckVerdict",
    "ExtraVars",
    "HostDiagnosticsReport",
    "HostDiagnosticsRequest",
    "HostDiagnosticsVars",
    "HostTotals",
    "HostUnreachable",
    "NoopVars",
    "PgQuery",
    "PlaybookError",
    "PlaybookInvalid",
    "PlaybookRequest",
    "PlaybookResult",
    "PlaybookRunner",
    "PlaybookTimeout",
    "PostgresHealthReport",
    "PostgresHealthRequest",
    "PostgresHealthVars",
    "ServiceLogsReport",
    "ServiceLogsRequest",
    "ServiceLogsVars",
    "TaskFailed",
    "TaskOutcome",
    "default_playbook_dir",
]

log = logging.getLogger("warroom.ansible")

ALL_CHECKS = ("cpu", "memory", "swap", "oom", "disk", "network")
_EXCERPT = 300

# =============================================================================================
# Models on the wire: one in and one out per activity, plain types so workflows can build them.
# =============================================================================================


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PlaybookRequest(_Model):
    """Any allow-listed playbook by name; `extravars` are checked by that playbook's model."""

    playbook: str = Field(..., description="a name from playbooks/ without .yml, e.g. 'noop'")
    extravars: dict[str, Any] = Field(default_factory=dict)
    target: str = Field("localhost", description="an inventory host of the worker")
    timeout_seconds: float | None = Field(None, description="default: the playbook's own")


class HostDiagnosticsRequest(_Model):
    """The seed's infrastructure branch on `target`. `thresholds` override HostDiagnosticsVars' defaults
    by name (cpu_threshold_percent, memory_available_min_percent, memory_psi_max, swap_used_max_percent,
    oom_lookback_minutes, disk_await_max_ms, network_loss_max_percent, network_utilization_max_percent)."""

    target: str = "localhost"
    checks: list[str] = Field(default_factory=lambda: list(ALL_CHECKS))
    sample_seconds: float = Field(3.0, description="one window shared by cpu, swap, disk and network")
    thresholds: dict[str, float] = Field(default_factory=dict)
    timeout_seconds: float | None = None


class PostgresHealthRequest(_Model):
    """psql from the worker's host to a database. `credential` names a password in the worker's
    settings; the password itself is never an input."""

    host: str = "127.0.0.1"
    port: int = 5432
    database: str = "postgres"
    user: str = "postgres"
    sslmode: str = "prefer"
    credential: str | None = None
    connect_timeout: int = 5
    top_queries: int = 10
    timeout_seconds: float | None = None


class ServiceLogsRequest(_Model):
    """Grep `<log_root>/<service>/<log_file or service.log>` on `target`; log_root is worker config."""

    service: str
    log_file: str | None = None
    lines: int = 1000
    samples: int = 5
    target: str = "localhost"
    timeout_seconds: float | None = None


class TaskOutcome(_Model):
    """One task on one host, as the recap counts it."""

    task: str
    host: str
    action: str = ""
    status: Literal["ok", "changed", "failed", "unreachable", "skipped"]
    ignored: bool = Field(False, description="failed, but the playbook said ignore_errors")
    message: str = Field("", description="the module's msg for a failure or unreachable host (truncated)")
    stdout: str = Field("", description="what ansible printed for it (truncated)")


class HostTotals(_Model):
    ok: int = 0
    changed: int = 0
    failed: int = 0
    unreachable: int = 0
    skipped: int = 0
    rescued: int = 0
    ignored: int = 0


class PlaybookResult(_Model):
    playbook: str
    target: str
    status: Literal["successful", "failed", "timeout", "canceled"]
    rc: int | None = None
    duration_seconds: float
    tasks: list[TaskOutcome] = Field(default_factory=list)
    hosts: dict[str, HostTotals] = Field(default_factory=dict)
    facts: dict[str, Any] = Field(default_factory=dict, description="what the playbook published with set_stats")
    messages: list[str] = Field(default_factory=list, description="warnings and errors printed outside tasks (last 20)")

    @property
    def successful(self) -> bool:
        return self.status == "successful"


class CheckVerdict(_Model):
    check: str
    status: Literal["ok", "warning", "critical", "unknown"]
    value: float | None = None
    threshold: float | None = None
    unit: str = ""
    summary: str = ""
    details: dict[str, Any] = Field(default_factory=dict)


class HostDiagnosticsReport(_Model):
    target: str
    checks: dict[str, CheckVerdict] = Field(default_factory=dict)
    run: PlaybookResult

    @property
    def problems(self) -> list[CheckVerdict]:
        return [v for v in self.checks.values() if v.status in ("warning", "critical")]


class PgQuery(_Model):
    pid: int
    duration_seconds: float | None = None
    state: str | None = None
    user: str | None = None
    database: str | None = None
    wait_event_type: str | None = None
    query: str = ""


class PostgresHealthReport(_Model):
    host: str
    port: int
    database: str
    reachable: bool
    error: str = ""
    connections_by_state: dict[str, int] = Field(default_factory=dict)
    total_connections: int = 0
    longest_queries: list[PgQuery] = Field(default_factory=list)
    run: PlaybookResult


class ServiceLogsReport(_Model):
    service: str
    file: str
    exists: bool
    readable: bool
    lines_scanned: int = 0
    matched_lines: int = 0
    counts: dict[str, int] = Field(default_factory=dict, description="error, exception, fatal")
    hints: dict[str, int] = Field(default_factory=dict, description="oom, db_connection, timeout")
    samples: list[str] = Field(default_factory=list)
    error: str | None = None
    run: PlaybookResult


# =============================================================================================
# Extravars: one strict model per playbook. Every string is allow-listed and length-limited.
# =============================================================================================

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_HOSTNAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")
_PG_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_$-]{0,62}$")
_FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_VAR_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_SAFE_TEXT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@+=,-]{0,255}$")
_PLAYBOOK_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


def _matching(pattern: re.Pattern[str], what: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        if not pattern.fullmatch(value) or ".." in value:
            raise ValueError(f"not a valid {what}")
        return value

    return check


def _host(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        pass
    if not _HOSTNAME.fullmatch(value):
        raise ValueError("not a host name or IP address")
    return value


Host = Annotated[str, StringConstraints(max_length=253), AfterValidator(_host)]
DnsLabel = Annotated[str, StringConstraints(max_length=63), AfterValidator(_matching(_DNS_LABEL, "DNS label"))]
PgName = Annotated[str, StringConstraints(max_length=63), AfterValidator(_matching(_PG_NAME, "PostgreSQL name"))]
FileName = Annotated[str, StringConstraints(max_length=128), AfterValidator(_matching(_FILE_NAME, "file name"))]
SafeText = Annotated[str, StringConstraints(max_length=256), AfterValidator(_matching(_SAFE_TEXT, "plain value"))]
VarName = Annotated[str, StringConstraints(max_length=40), AfterValidator(_matching(_VAR_NAME, "variable name"))]


class _Vars(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class NoopVars(_Vars):
    pass


class HostDiagnosticsVars(_Vars):
    checks: list[Literal["cpu", "memory", "swap", "oom", "disk", "network"]] = Field(
        default_factory=lambda: list(ALL_CHECKS), min_length=1, max_length=6
    )
    sample_seconds: float = Field(3.0, ge=0.5, le=60)
    cpu_threshold_percent: float = Field(90.0, gt=0, le=100)
    memory_available_min_percent: float = Field(10.0, ge=0, le=100)
    memory_psi_max: float = Field(10.0, ge=0, le=100)
    swap_used_max_percent: float = Field(50.0, ge=0, le=100)
    oom_lookback_minutes: int = Field(60, ge=1, le=7 * 24 * 60)
    disk_await_max_ms: float = Field(100.0, gt=0, le=60_000)
    network_loss_max_percent: float = Field(1.0, ge=0, le=100)
    network_utilization_max_percent: float = Field(90.0, gt=0, le=100)

    @field_validator("checks")
    @classmethod
    def _unique(cls, checks: list[str]) -> list[str]:
        if len(set(checks)) != len(checks):
            raise ValueError("a check is listed twice")
        return checks


class PostgresHealthVars(_Vars):
    pg_host: Host = "127.0.0.1"
    pg_port: int = Field(5432, ge=1, le=65535)
    pg_database: PgName = "postgres"
    pg_user: PgName = "postgres"
    pg_sslmode: Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"] = "prefer"
    connect_timeout: int = Field(5, ge=1, le=60)
    top_queries: int = Field(10, ge=1, le=50)
    query_max_chars: int = Field(200, ge=20, le=2000)
    credential: DnsLabel | None = Field(None, description="resolved by the worker; never an extravar")


class ServiceLogsVars(_Vars):
    service: DnsLabel
    log_file: FileName | None = Field(None, description="default <service>.log")
    lines: int = Field(1000, ge=1, le=100_000)
    samples: int = Field(5, ge=0, le=20)


class ExtraVars(RootModel[dict[VarName, bool | int | float | SafeText]]):
    """For playbooks from the worker's extra directory: a few plain scalars, no reserved names."""

    model_config = ConfigDict(allow_inf_nan=False)

    @field_validator("root")
    @classmethod
    def _limits(cls, value: dict[str, Any]) -> dict[str, Any]:
        if len(value) > 16:
            raise ValueError("at most 16 variables")
        reserved = [k for k in value if k.startswith(("ansible_", "warroom_"))]
        if reserved:
            raise ValueError(f"reserved variable names: {', '.join(sorted(reserved))}")
        return value


@dataclass(frozen=True)
class _Spec:
    vars_model: type[BaseModel]
    timeout: Callable[[Any], float]
    local_only: bool = False


_SPECS: dict[str, _Spec] = {
    "noop": _Spec(NoopVars, lambda v: 60),
    "host_diagnostics": _Spec(HostDiagnosticsVars, lambda v: 120 + v.sample_seconds),
    # psql runs where ansible-playbook runs: PGPASSWORD reaches it through that process's environment.
    "postgres_health": _Spec(PostgresHealthVars, lambda v: 60 + 2 * v.connect_timeout, local_only=True),
    "service_logs": _Spec(ServiceLogsVars, lambda v: 120),
}
_EXTRA_SPEC = _Spec(ExtraVars, lambda v: 300)

# =============================================================================================
# Worker configuration (never activity input)
# =============================================================================================


def default_playbook_dir() -> Path:
    """The checkout's playbooks/ (editable install, tests), else ./playbooks (the image's /app)."""
    beside = Path(__file__).resolve().parent.parent / "playbooks"
    return beside if beside.is_dir() else Path.cwd() / "playbooks"


class AnsibleSettings(_Model):
    """How the worker runs playbooks. Paths and secrets live here, never in activity input."""

    playbook_dir: Path = Field(default_factory=default_playbook_dir)
    extra_playbook_dir: Path | None = Field(None, description="more playbooks by name (tests, site-specific)")
    inventory: dict[str, Any] = Field(
        default_factory=lambda: {"all": {"hosts": {"localhost": {"ansible_connection": "local"}}}},
        description="ansible-runner's dict form; targets must be hosts in it",
    )
    log_root: Path = Path("/var/log")
    temp_root: Path | None = Field(None, description="parent of each run's private directory (default: TMPDIR)")
    credentials: dict[str, SecretStr] = Field(default_factory=dict, description="PostgreSQL passwords by name")
    max_timeout_seconds: float = 3600.0
    cancel_grace_seconds: float = 3.0
    poll_seconds: float = 1.0
    ansible_bin_dir: Path = Field(default_factory=lambda: Path(sys.executable).parent)


# =============================================================================================
# Errors: retry meaning in the type, mapped once at the activity boundary
# =============================================================================================


class PlaybookError(Exception):
    error_type = "AnsibleError"
    retryable = True

    def __init__(self, message: str, result: PlaybookResult | None = None) -> None:
        super().__init__(message)
        self.result = result

    def to_application_error(self) -> ApplicationError:
        details = [self.result.model_dump(mode="json")] if self.result else []
        return ApplicationError(str(self), *details, type=self.error_type, non_retryable=not self.retryable)


class PlaybookInvalid(PlaybookError):
    """The request or the playbook is wrong; running it again changes nothing."""

    error_type, retryable = "PlaybookInvalid", False


class TaskFailed(PlaybookError):
    """A task failed on a host that answered."""

    error_type, retryable = "TaskFailed", False


class HostUnreachable(PlaybookError):
    """The target did not answer; it may later."""

    error_type, retryable = "HostUnreachable", True


class PlaybookTimeout(PlaybookError):
    """The run took longer than its timeout and was stopped."""

    error_type, retryable = "Timeout", True


class AnsibleError(PlaybookError):
    """ansible-playbook is missing or crashed."""


# =============================================================================================
# The runner
# =============================================================================================


class PlaybookRunner:
    """Activity holder: the worker builds one with its settings and registers `activities()`."""

    def __init__(self, settings: AnsibleSettings | None = None) -> None:
        self.settings = settings or AnsibleSettings()
        self._inventory, self._hosts = _prepare_inventory(self.settings.inventory)

    def activities(self) -> list[Callable[..., Any]]:
        return [self.run_playbook, self.host_diagnostics, self.postgres_health, self.service_logs]

    def playbooks(self) -> list[str]:
        """Names a request may ask for: the public playbooks, then the worker's extra ones."""
        return sorted(_SPECS) + sorted(n for n in self._extra_playbooks() if n not in _SPECS)

    # --- activities --------------------------------------------------------------------------

    @activity.defn(name="ansible_run_playbook", no_thread_cancel_exception=True)
    def run_playbook(self, req: PlaybookRequest) -> PlaybookResult:
        return _boundary(lambda: self.run(req))

    @activity.defn(name="ansible_host_diagnostics", no_thread_cancel_exception=True)
    def host_diagnostics(self, req: HostDiagnosticsRequest) -> HostDiagnosticsReport:
        def go() -> HostDiagnosticsReport:
            extravars = {"checks": req.checks, "sample_seconds": req.sample_seconds, **req.thresholds}
            result = self.run(
                PlaybookRequest(
                    playbook="host_diagnostics",
                    extravars=extravars,
                    target=req.target,
                    timeout_seconds=req.timeout_seconds,
                )
            )
            checks = _fact(result, "host_checks")
            return HostDiagnosticsReport(target=req.target, checks=checks, run=result)

        return _boundary(go)

    @activity.defn(name="ansible_postgres_health", no_thread_cancel_exception=True)
    def postgres_health(self, req: PostgresHealthRequest) -> PostgresHealthReport:
        def go() -> PostgresHealthReport:
            extravars = {
                "pg_host": req.host,
                "pg_port": req.port,
                "pg_database": req.database,
                "pg_user": req.user,
                "pg_sslmode": req.sslmode,
                "connect_timeout": req.connect_timeout,
                "top_queries": req.top_queries,
                "credential": req.credential,
            }
            result = self.run(
                PlaybookRequest(playbook="postgres_health", extravars=extravars, timeout_seconds=req.timeout_seconds)
            )
            facts = _fact(result, "postgres")
            return PostgresHealthReport(
                host=req.host,
                port=req.port,
                database=req.database,
                run=result,
                **{
                    k: facts[k]
                    for k in ("reachable", "error", "connections_by_state", "total_connections", "longest_queries")
                },
            )

        return _boundary(go)

    @activity.defn(name="ansible_service_logs", no_thread_cancel_exception=True)
    def service_logs(self, req: ServiceLogsRequest) -> ServiceLogsReport:
        def go() -> ServiceLogsReport:
            extravars = {"service": req.service, "log_file": req.log_file, "lines": req.lines, "samples": req.samples}
            result = self.run(
                PlaybookRequest(
                    playbook="service_logs", extravars=extravars, target=req.target, timeout_seconds=req.timeout_seconds
                )
            )
            found = _fact(result, "service_logs")
            fields = {k: v for k, v in found.items() if k in ServiceLogsReport.model_fields}
            return ServiceLogsReport(**{**fields, "service": req.service, "run": result})

        return _boundary(go)

    # --- the run itself ----------------------------------------------------------------------

    def run(self, req: PlaybookRequest) -> PlaybookResult:
        """Validate, run and judge one playbook. Raises a `PlaybookError` or `CancelledError`.

        Usable outside an activity too (no heartbeats, no cancellation then), e.g. by the benchmark.
        """
        if activity.in_activity() and activity.is_cancelled():
            raise CancelledError("cancelled before the playbook started")
        project_dir, spec = self._resolve(req.playbook)
        target = self._check_target(req.target, spec)
        try:
            checked = spec.vars_model.model_validate(req.extravars)
        except ValidationError as exc:
            raise PlaybookInvalid(f"extravars for {req.playbook!r} refused: {_describe(exc)}") from None
        timeout = req.timeout_seconds if req.timeout_seconds is not None else spec.timeout(checked)
        if not 0 < timeout <= self.settings.max_timeout_seconds:
            raise PlaybookInvalid(f"timeout_seconds must be in (0, {self.settings.max_timeout_seconds:g}]")
        extravars, secrets = self._extravars(checked)
        extravars["warroom_target"] = target
        return self._execute(req.playbook, project_dir, target, extravars, secrets, timeout)

    def _extra_playbooks(self) -> dict[str, Path]:
        root = self.settings.extra_playbook_dir
        if root is None or not root.is_dir():
            return {}
        return {p.stem: root for p in root.glob("*.yml") if _PLAYBOOK_NAME.fullmatch(p.stem)}

    def _resolve(self, name: str) -> tuple[Path, _Spec]:
        if not isinstance(name, str) or not _PLAYBOOK_NAME.fullmatch(name):
            raise PlaybookInvalid("a playbook is named by lower-case letters, digits and '_' (no path, no .yml)")
        if name in _SPECS:
            project_dir, spec = self.settings.playbook_dir, _SPECS[name]
        elif name in (extra := self._extra_playbooks()):
            project_dir, spec = extra[name], _EXTRA_SPEC
        else:
            raise PlaybookInvalid(f"unknown playbook {name!r}; known: {', '.join(self.playbooks())}")
        if not (project_dir / f"{name}.yml").is_file():
            raise PlaybookInvalid(f"playbook {name!r} is not installed in {project_dir}")
        return project_dir, spec

    def _check_target(self, target: str, spec: _Spec) -> str:
        if not isinstance(target, str) or target not in self._hosts:
            raise PlaybookInvalid(f"target must be a host of the worker's inventory ({', '.join(sorted(self._hosts))})")
        if spec.local_only and not _is_local(target, self._hosts[target]):
            raise PlaybookInvalid("this playbook runs on the worker's own host only (target 'localhost')")
        return target

    def _extravars(self, checked: BaseModel) -> tuple[dict[str, Any], dict[str, str]]:
        extravars = checked.model_dump(mode="json")
        secrets: dict[str, str] = {}
        if isinstance(checked, ServiceLogsVars):
            extravars["log_file"] = checked.log_file or f"{checked.service}.log"
            extravars["warroom_log_root"] = str(self.settings.log_root)
        elif isinstance(checked, PostgresHealthVars):
            credential = extravars.pop("credential")
            if credential is not None:
                if credential not in self.settings.credentials:
                    raise PlaybookInvalid(f"no credential {credential!r} in the worker's settings")
                secrets["PGPASSWORD"] = self.settings.credentials[credential].get_secret_value()
        return extravars, secrets

    def _execute(
        self,
        name: str,
        project_dir: Path,
        target: str,
        extravars: dict[str, Any],
        secrets: dict[str, str],
        timeout: float,
    ) -> PlaybookResult:
        started = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="warroom-ansible-", dir=self.settings.temp_root) as tmp:
            run_dir = Path(tmp)
            for sub in ("tmp", "local", "remote", "async", "env"):
                (run_dir / sub).mkdir()
            # With suppress_env_files=True, ansible-runner 2.4 drops the `settings` argument unless
            # env/settings exists (RunnerConfig.prepare_env), so write the (secret-free) file ourselves.
            (run_dir / "env" / "settings").write_text(
                json.dumps({"pexpect_timeout": self.settings.poll_seconds, "suppress_ansible_output": True})
            )
            envvars = {
                "PATH": f"{self.settings.ansible_bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
                "TMPDIR": str(run_dir / "tmp"),
                "ANSIBLE_LOCAL_TEMP": str(run_dir / "local"),
                "ANSIBLE_REMOTE_TEMP": str(run_dir / "remote"),
                "ANSIBLE_ASYNC_DIR": str(run_dir / "async"),
                "ANSIBLE_NOCOLOR": "1",
                # No ControlPersist master outliving the run; no prompt that would hang it.
                "ANSIBLE_SSH_ARGS": "-o ControlMaster=no -o BatchMode=yes",
                "ANSIBLE_TIMEOUT": "10",
                "PYTHONDONTWRITEBYTECODE": "1",
                **secrets,
            }
            monitor = _RunMonitor(run_dir, timeout, self.settings.cancel_grace_seconds)
            try:
                runner = ansible_runner.run(
                    private_data_dir=tmp,
                    project_dir=str(project_dir),
                    playbook=f"{name}.yml",
                    inventory=self._inventory,
                    extravars=extravars,
                    envvars=envvars,
                    ident="run",
                    suppress_env_files=True,
                    quiet=True,
                    event_handler=monitor.on_event,
                    cancel_callback=monitor.poll,
                    status_handler=_drop_command_file,
                )
            except BaseException:
                _terminate(run_dir, self.settings.cancel_grace_seconds)  # never leave a run behind us
                raise
            if monitor.stop_reason is not None and not monitor.terminated:
                _terminate(run_dir, self.settings.cancel_grace_seconds)
        result = monitor.result(name, target, runner.rc, time.monotonic() - started)
        return _judge(result, monitor.stop_reason, runner.rc, timeout)


def _drop_command_file(status: dict[str, Any], runner_config: Any) -> None:
    """ansible-runner writes `artifacts/<ident>/command` with the child's full environment (the
    worker's own variables, PGPASSWORD) just before it reports `running`: remove it at once."""
    if status.get("status") == "running":
        try:
            os.unlink(os.path.join(runner_config.artifact_dir, "command"))
        except OSError:
            pass


def _judge(result: PlaybookResult, stop_reason: str | None, rc: int | None, timeout: float) -> PlaybookResult:
    if stop_reason == "cancelled":
        raise CancelledError(f"playbook {result.playbook} cancelled; its processes are gone")
    if stop_reason == "timeout":
        raise PlaybookTimeout(f"playbook {result.playbook} exceeded {timeout:g}s and was stopped", result)
    if stop_reason is not None:
        raise AnsibleError(f"playbook {result.playbook} stopped: {stop_reason}", result)
    unreachable = [t for t in result.tasks if t.status == "unreachable"]
    if unreachable:
        first = unreachable[0]
        raise HostUnreachable(f"{first.host} unreachable at task {first.task!r}: {first.message}", result)
    failed = [t for t in result.tasks if t.status == "failed" and not t.ignored]
    if failed:
        first = failed[0]
        raise TaskFailed(f"task {first.task!r} failed on {first.host}: {first.message}", result)
    if rc == 0:
        return result
    errors = [m for m in result.messages if m.startswith(("[ERROR]", "ERROR!"))]
    tail = " | ".join(
        errors[-1:] + [m for m in result.messages[-3:] if m.startswith("Origin:")] or result.messages[-5:]
    )[:_EXCERPT]
    if rc in (4, 5):  # ansible-playbook: parser error, bad or incomplete options
        raise PlaybookInvalid(f"playbook {result.playbook} refused by ansible (rc {rc}): {tail}", result)
    raise AnsibleError(f"ansible-playbook ended with rc {rc}: {tail}", result)


def _boundary(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except PlaybookError as exc:
        raise exc.to_application_error() from None
    except ValidationError as exc:  # a playbook published facts of the wrong shape
        raise ApplicationError(
            f"playbook output not understood: {_describe(exc)}", type="PlaybookInvalid", non_retryable=True
        ) from None


def _fact(result: PlaybookResult, key: str) -> Any:
    if key not in result.facts:
        raise PlaybookInvalid(f"playbook {result.playbook} published no {key!r}", result)
    return result.facts[key]


def _describe(exc: ValidationError) -> str:
    """Field and reason only: the refused value itself (maybe 10 KB, maybe hostile) is not repeated.
    A refused dict key *is* the field, so it is shown cut to 40 characters, control characters masked."""
    return "; ".join(
        f"{'.'.join(_loc_part(p) for p in e['loc']) or 'value'}: {e['msg']}"
        for e in exc.errors(include_input=False, include_url=False)
    )[:1000]


def _loc_part(part: object) -> str:
    text = re.sub(r"[\x00-\x1f\x7f]", "?", str(part))
    return text if len(text) <= 40 else text[:37] + "..."


def _prepare_inventory(inventory: dict[str, Any]) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """A copy with the local interpreter set on local hosts, and every host's effective vars."""
    inventory = json.loads(json.dumps(inventory))
    hosts: dict[str, dict[str, Any]] = {}

    def walk(group: dict[str, Any], inherited: dict[str, Any]) -> None:
        group_vars = {**inherited, **(group.get("vars") or {})}
        for name, host_vars in (group.get("hosts") or {}).items():
            if host_vars is None:
                host_vars = group["hosts"][name] = {}
            merged = {**group_vars, **host_vars}
            if _is_local(name, merged):
                # Interpreter discovery on localhost can pick a pyenv shim that does not exist.
                host_vars.setdefault("ansible_python_interpreter", "{{ ansible_playbook_python }}")
            else:
                # ANSIBLE_REMOTE_TEMP points into the local run directory; remote hosts keep their own.
                host_vars.setdefault("ansible_remote_tmp", "~/.ansible/tmp")
            hosts[name] = {**hosts.get(name, {}), **merged}
        for child in (group.get("children") or {}).values():
            walk(child or {}, group_vars)

    for group in inventory.values():
        walk(group or {}, {})
    return inventory, hosts


def _is_local(name: str, host_vars: dict[str, Any]) -> bool:
    connection = host_vars.get("ansible_connection")
    return connection == "local" or (connection is None and name in ("localhost", "127.0.0.1", "::1"))


# =============================================================================================
# Events, heartbeats, cancellation and the timeout
# =============================================================================================

_OUTCOMES = {
    "runner_on_ok": "ok",
    "runner_on_failed": "failed",
    "runner_on_unreachable": "unreachable",
    "runner_on_skipped": "skipped",
}
_QUIET_EVENTS = {"verbose", "debug", "deprecated", "warning", "system_warning", "error"}


class _RunMonitor:
    """ansible-runner's callbacks for one run: collects outcomes, heartbeats, decides when to stop."""

    def __init__(self, run_dir: Path, timeout: float, grace: float) -> None:
        self.run_dir = run_dir
        self.grace = grace
        self.deadline = time.monotonic() + timeout
        self.stop_reason: str | None = None
        self.terminated = False
        self.progress: dict[str, Any] = {"counter": 0, "event": "starting", "task": "", "host": "", "failed": False}
        self.outcomes: list[TaskOutcome] = []
        self.totals: dict[str, HostTotals] = {}
        self.facts: dict[str, Any] = {}
        self.messages: deque[str] = deque(maxlen=20)
        self.in_activity = activity.in_activity()

    def on_event(self, event: dict[str, Any]) -> bool:
        try:
            self._collect(event)
        except Exception:  # an exception here would escape ansible-runner with the child still running
            log.exception("could not read an ansible event")
        return False  # nothing to job_events/: results stay in memory, the run dir is deleted anyway

    def _collect(self, event: dict[str, Any]) -> None:
        name = event.get("event", "")
        data = event.get("event_data") or {}
        stdout = (event.get("stdout") or "").replace("\r", "").strip()
        if name in _QUIET_EVENTS:
            if stdout:
                self.messages.extend(line[:_EXCERPT] for line in stdout.splitlines() if line.strip())
            return
        status = _OUTCOMES.get(name)
        if status is not None and len(self.outcomes) < 500:
            res = data.get("res") if isinstance(data.get("res"), dict) else {}
            if status == "ok" and res.get("changed"):
                status = "changed"
            message = res.get("msg", "") if status in ("failed", "unreachable") else ""
            self.outcomes.append(
                TaskOutcome(
                    task=str(data.get("task", "")),
                    host=str(data.get("host", "")),
                    action=str(data.get("task_action", "")),
                    status=status,
                    ignored=bool(data.get("ignore_errors")) and status == "failed",
                    message=str(message)[:_EXCERPT],
                    stdout=stdout[:_EXCERPT],
                )
            )
        if name == "playbook_on_stats":
            self._stats(data)
        self.progress = {
            "counter": int(event.get("counter", 0)),
            "event": name,
            "task": str(data.get("task", "")),
            "host": str(data.get("host", "")),
            "failed": name in ("runner_on_failed", "runner_on_unreachable"),
        }
        self._beat()

    def _stats(self, data: dict[str, Any]) -> None:
        fields = {
            "ok": "ok",
            "changed": "changed",
            "failures": "failed",
            "dark": "unreachable",
            "skipped": "skipped",
            "rescued": "rescued",
            "ignored": "ignored",
        }
        hosts: set[str] = set()
        for key in fields:
            hosts.update((data.get(key) or {}).keys())
        self.totals = {
            h: HostTotals(**{f: int((data.get(k) or {}).get(h, 0)) for k, f in fields.items()}) for h in sorted(hosts)
        }
        facts = data.get("artifact_data") or {}
        size = len(json.dumps(facts, default=str))
        if size > 256 * 1024:
            self.messages.append(f"published facts dropped: {size} bytes is over the 256 KiB limit")
            facts = {}
        self.facts = facts

    def _beat(self) -> None:
        if self.in_activity:
            activity.heartbeat(dict(self.progress))

    def poll(self) -> bool:
        """ansible-runner's cancel_callback, every `pexpect_timeout` s: heartbeat, then stop or not."""
        try:
            self._beat()  # a long silent task sends no event; this keeps the heartbeat timeout satisfied
            if self.stop_reason is None:
                if self.in_activity and activity.is_cancelled():
                    self.stop_reason = "cancelled"
                elif time.monotonic() > self.deadline:
                    self.stop_reason = "timeout"
        except Exception as exc:  # raising here would leave the child running
            log.exception("cancel check failed; stopping the run")
            self.stop_reason = self.stop_reason or f"cancel check failed: {exc}"
        if self.stop_reason is None:
            return False
        if not self.terminated:
            _terminate(self.run_dir, self.grace)
            self.terminated = True
        return True

    def result(self, name: str, target: str, rc: int | None, duration: float) -> PlaybookResult:
        if self.stop_reason == "timeout":
            status = "timeout"
        elif self.stop_reason is not None:
            status = "canceled"
        else:
            status = "successful" if rc == 0 else "failed"
        return PlaybookResult(
            playbook=name,
            target=target,
            status=status,
            rc=rc,
            duration_seconds=round(duration, 3),
            tasks=self.outcomes,
            hosts=self.totals,
            facts=self.facts,
            messages=list(self.messages),
        )


# --- process tree, from /proc (no psutil) ------------------------------------------------------


def _stat(pid: int) -> tuple[int, int, str] | None:
    """(ppid, start time, state) of a process, or None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            raw = handle.read().decode(errors="replace")
    except OSError:
        return None
    fields = raw[raw.rfind(")") + 2 :].split()  # the command name may contain spaces and parentheses
    return int(fields[1]), int(fields[19]), fields[0]


def _pids() -> list[int]:
    return [int(n) for n in os.listdir("/proc") if n.isdigit()]


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _tree(roots: dict[int, int]) -> dict[int, int]:
    """`roots` (pid → start time) and all their living descendants; workers that called setsid() included."""
    children: dict[int, list[tuple[int, int]]] = {}
    for pid in _pids():
        info = _stat(pid)
        if info is not None:
            children.setdefault(info[0], []).append((pid, info[1]))
    found = dict(roots)
    queue = list(roots)
    while queue:
        for pid, start in children.get(queue.pop(), []):
            if pid not in found:
                found[pid] = start
                queue.append(pid)
    return found


def _alive(pid: int, start: int) -> bool:
    info = _stat(pid)
    return info is not None and info[1] == start and info[2] != "Z"


def _terminate(run_dir: Path, grace: float) -> None:
    """SIGTERM our ansible-playbook child (its handler stops the detached workers), wait up to
    `grace` seconds, then SIGKILL whatever of its process tree is still alive."""
    marker, me = str(run_dir), os.getpid()
    roots: dict[int, int] = {}
    for pid in _pids():
        info = _stat(pid)
        if info is not None and info[0] == me and info[2] != "Z" and marker in _cmdline(pid):
            roots[pid] = info[1]
    if not roots:
        return
    tree = _tree(roots)
    for pid in roots:
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        time.sleep(0.1)
        tree.update(_tree({p: s for p, s in tree.items() if _alive(p, s)}))
        if not any(_alive(p, s) for p, s in tree.items()):
            return
    for pid, start in tree.items():
        if _alive(pid, start):
            log.warning("process %s of playbook run %s survived SIGTERM; killing it", pid, run_dir.name)
            _signal(pid, signal.SIGKILL)


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass
