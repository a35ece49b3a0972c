"""Extravars: one strict model per playbook. Every string is allow-listed and length-limited.

A request's `extravars` (or the fields an activity maps to them) go through the playbook's model
before anything runs; a refusal is a non-retryable `PlaybookInvalid`.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, RootModel, StringConstraints, field_validator

from warroom.contracts.ansible import ALL_CHECKS, HostCheck

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_HOSTNAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")
_PG_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_$-]{0,62}$")
_FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_VAR_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_SAFE_TEXT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@+=,-]{0,255}$")
PLAYBOOK_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


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
    checks: list[HostCheck] = Field(default_factory=lambda: list(ALL_CHECKS), min_length=1, max_length=6)
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


class PgConnectionVars(_Vars):
    """Where psql connects; `credential` names a password the worker puts in PGPASSWORD."""

    pg_host: Host = "127.0.0.1"
    pg_port: int = Field(5432, ge=1, le=65535)
    pg_database: PgName = "postgres"
    pg_user: PgName = "postgres"
    pg_sslmode: Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"] = "prefer"
    connect_timeout: int = Field(5, ge=1, le=60)
    credential: DnsLabel | None = Field(None, description="resolved by the worker; never an extravar")


class PostgresHealthVars(PgConnectionVars):
    top_queries: int = Field(10, ge=1, le=50)
    query_max_chars: int = Field(200, ge=20, le=2000)


class PgCancelVars(PgConnectionVars):
    """pg_cancel_long_queries: cancel (never terminate) client queries running longer than the bound."""

    older_than_minutes: int = Field(..., ge=1, le=1440)
    max_queries: int = Field(10, ge=1, le=100)
    query_max_chars: int = Field(200, ge=20, le=500, description="100 queries' text stays far below 256 KiB of facts")
    database_filter: PgName | None = Field(None, description="only backends connected to this database")
    user_filter: PgName | None = Field(None, description="only backends of this role")


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
class Spec:
    """A playbook's extravars model, its default timeout, and whether it runs on the worker only."""

    vars_model: type[BaseModel]
    timeout: Callable[[Any], float]
    local_only: bool = False


SPECS: dict[str, Spec] = {
    "noop": Spec(NoopVars, lambda v: 60),
    "host_diagnostics": Spec(HostDiagnosticsVars, lambda v: 120 + v.sample_seconds),
    # psql runs where ansible-playbook runs: PGPASSWORD reaches it through that process's environment.
    "postgres_health": Spec(PostgresHealthVars, lambda v: 60 + 2 * v.connect_timeout, local_only=True),
    "service_logs": Spec(ServiceLogsVars, lambda v: 120),
    "pg_cancel_long_queries": Spec(PgCancelVars, lambda v: 60 + 2 * v.connect_timeout, local_only=True),
}
EXTRA_SPEC = Spec(ExtraVars, lambda v: 300)
