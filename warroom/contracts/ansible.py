"""The Ansible activities' contracts: allow-listed playbooks, by name, on the worker's inventory hosts.

Request fields are plain types on purpose: a value the playbook's own extravars model refuses
fails the activity as a non-retryable `PlaybookInvalid`, instead of failing decoding (retried) or
the workflow task. Failure types (`details[0]` is the partial `PlaybookResult` when there is one):

    PlaybookInvalid   unknown playbook or target, extravars refused, parser error   non-retryable
    TaskFailed        a task failed on a reachable host (not ignored)                non-retryable
    HostUnreachable   the target did not answer                                       retryable
    Timeout           the run exceeded its timeout; its processes are gone            retryable
    AnsibleError      ansible-playbook missing or crashed                             retryable
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from warroom.contracts.base import CHECK_RETRY, ActivityContract, AnyContract

HostCheck = Literal["cpu", "memory", "swap", "oom", "disk", "network"]
ALL_CHECKS: tuple[HostCheck, ...] = ("cpu", "memory", "swap", "oom", "disk", "network")


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
    checks: list[str] = Field(default_factory=lambda: list[str](ALL_CHECKS))
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


class PgReplica(_Model):
    """One row of the primary's pg_stat_replication."""

    name: str = Field("", description="application_name")
    client_addr: str | None = None
    state: str | None = None
    replay_lag_seconds: float = Field(0.0, description="replay_lag; 0 once the replica has caught up")


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
    max_connections: int | None = None
    role: Literal["primary", "standby"] | None = None
    replicas: list[PgReplica] = Field(default_factory=list, description="a primary's; empty: no replicas")
    replay_lag_seconds: float | None = Field(None, description="a standby's: now() - pg_last_xact_replay_timestamp()")

    @property
    def replication_lag_seconds(self) -> float | None:
        """The standby's own lag, or the primary's most lagging replica; None without replicas."""
        if self.role == "standby":
            return self.replay_lag_seconds
        return max((r.replay_lag_seconds for r in self.replicas), default=None)


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


# --- The activities -----------------------------------------------------------------------------
# Every run heartbeats at least once a second (ansible-runner's event and cancel callbacks), and
# its own timeout (the playbook's, or the request's) stops it well inside start-to-close.

_BEAT = timedelta(seconds=15)

RUN_PLAYBOOK = ActivityContract(
    "ansible_run_playbook", PlaybookRequest, PlaybookResult, timedelta(minutes=10), CHECK_RETRY, heartbeat=_BEAT
)
HOST_DIAGNOSTICS = ActivityContract(
    "ansible_host_diagnostics",
    HostDiagnosticsRequest,
    HostDiagnosticsReport,
    timedelta(minutes=3),
    CHECK_RETRY,
    heartbeat=_BEAT,
)
POSTGRES_HEALTH = ActivityContract(
    "ansible_postgres_health",
    PostgresHealthRequest,
    PostgresHealthReport,
    timedelta(minutes=3),
    CHECK_RETRY,
    heartbeat=_BEAT,
)
SERVICE_LOGS = ActivityContract(
    "ansible_service_logs", ServiceLogsRequest, ServiceLogsReport, timedelta(minutes=3), CHECK_RETRY, heartbeat=_BEAT
)

ALL: tuple[AnyContract, ...] = (RUN_PLAYBOOK, HOST_DIAGNOSTICS, POSTGRES_HEALTH, SERVICE_LOGS)
"""Every Ansible activity, in the order the worker registers them."""
