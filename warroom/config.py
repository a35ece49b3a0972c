"""The runbook config: every threshold of the runbook as validated data.

The default file (`runbook.default.yaml`, shipped in the package) is the seed runbook's matrix.
A team points `--runbook` or `WARROOM_RUNBOOK` at its own file to change a threshold without
touching code. The config travels inside each incident's workflow input, so a running incident
keeps the thresholds it started with even when the file changes.
"""

from __future__ import annotations

import json
import re
from datetime import date, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ModelWrapValidatorHandler, model_validator

from warroom.catalog import StepCatalog
from warroom.enums import Duration, Severity


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DeclareCriteria(_Strict):
    user_error_ratio_above: float = Field(0.01, ge=0, le=1)
    burn_rate_above: float = Field(5.0, gt=0)
    burn_sustained_for: Duration = timedelta(minutes=5)
    complete_unavailability: bool = True
    data_loss: bool = True


class SeverityDefinition(_Strict):
    description: str
    error_ratio_above: float | None = Field(None, ge=0, le=1)
    burn_rate_above: float | None = Field(None, gt=0)
    users_affected_above: float | None = Field(None, ge=0, le=1)


class Acknowledgement(_Strict):
    repage_after: Duration = timedelta(minutes=5)
    escalate_after: Duration = timedelta(minutes=15)
    escalate_to: str = "engineering-team-lead"
    page_at_open: bool = Field(
        False, description="warroom pages the on-call when an incident opens (WARROOM_ONCALL names them)"
    )

    @model_validator(mode="after")
    def _order(self) -> Acknowledgement:
        if self.escalate_after <= self.repage_after:
            raise ValueError("escalate_after must be later than repage_after")
        return self


CustomerComms = Literal["required", "status_page", "optional"]
_WITH_STATUS_PAGE = ("required", "status_page")
_WITH_EMAIL = ("required",)


class MatrixRow(_Strict):
    initial_responder: str = "on-call-engineer"
    escalate_after: Duration
    escalate_unless: Literal["mitigated", "resolved"] = "mitigated"
    escalate_to: str
    notify_at_start: list[str] = []
    notify_vp_after: Duration | None = None
    vp: str = "vp-engineering"
    customer_comms: CustomerComms | None = Field(
        None,
        description="the seed's customer_comms: required (status page + e-mail), status_page, or optional "
        "(neither unless someone posts); a file that does not list comms.status_page_for or "
        "comms.customer_email_for gets them from here. None: not stated (the comms lists decide)",
    )


class DataLossCase(_Strict):
    notify_immediately: list[str] = ["engineering-manager", "legal-privacy"]
    escalate_to: str = "executive-team"


class SecurityCase(_Strict):
    hand_off_to: str = "security-team"
    public_details: bool = False


class VendorCase(_Strict):
    require_vendor_ticket: bool = True


class SpecialCases(_Strict):
    data_loss: DataLossCase = DataLossCase()
    security_incident: SecurityCase = SecurityCase()
    third_party_vendor: VendorCase = VendorCase()


class Roles(_Strict):
    communications_lead_required_for: list[Severity] = [Severity.P1]
    incident_commander_page: str = Field(
        "incident-commander",
        description="paged as IC at declaration when nobody is named (a rotation, until schedules)",
    )
    prompt_after: Duration = Field(
        timedelta(minutes=2), description="a declared incident still missing a required role prompts the IC"
    )


class WarRoom(_Strict):
    """The IC's own checklist: what the war room must have by when."""

    setup_within: Duration = Field(
        timedelta(minutes=5), description="WAR ROOM SETUP (first 5 minutes): then what is missing is posted"
    )
    missed_updates_escalate: int = Field(
        2, ge=1, le=10, description="this many missed internal updates in a row notify the team lead"
    )
    no_progress_after: Duration = Field(
        timedelta(minutes=30), description="no update reports progress this long: the IC script's stuck line"
    )

    @model_validator(mode="after")
    def _positive(self) -> WarRoom:
        if self.no_progress_after <= timedelta(0):
            raise ValueError("no_progress_after must be longer than 0s")
        return self


class Comms(_Strict):
    internal_update_every: Duration = timedelta(minutes=15)
    external_update_every: Duration = timedelta(minutes=30)
    external_prompt_lead: Duration = timedelta(minutes=5)
    silence_max: Duration = timedelta(minutes=30)
    status_page_for: list[Severity] = [Severity.P1, Severity.P2]
    initial_status_page_within: Duration = timedelta(minutes=5)
    resolved_notice_within: Duration = timedelta(hours=1)
    customer_email_for: list[Severity] = [Severity.P1]
    customer_email_within: Duration = timedelta(hours=24)
    team_name: str = Field("Our", max_length=80, description="signs customer e-mails: '<team_name> Engineering'")

    @model_validator(mode="after")
    def _positive(self) -> Comms:
        for name in ("internal_update_every", "external_update_every", "silence_max"):
            if getattr(self, name) <= timedelta(0):
                raise ValueError(f"{name} must be longer than 0s")
        if self.external_prompt_lead >= self.external_update_every:
            raise ValueError("external_prompt_lead must be shorter than external_update_every")
        return self


class ExplicitApproval(_Strict):
    """Where the veto window is not enough: these rollbacks wait for the IC's approval."""

    severities: list[Severity] = []
    services: list[str] = []


class RollbackRule(_Strict):
    deploy_within: Duration = timedelta(hours=2)
    require_errors_above_baseline: bool = True
    contraindications: list[str] = ["db_migration_applied"]
    veto_window: Duration = Field(
        timedelta(minutes=2), description="the IC may deny a proposed rollback this long; then it runs"
    )
    require_approval_for: ExplicitApproval = ExplicitApproval()
    rollout_timeout: Duration = timedelta(minutes=10)
    immediate_deploy_window: Duration = Field(
        timedelta(minutes=30),
        description='the decision tree\'s "roll back immediately (< 30 min deploy window)": a deploy younger than this',
    )

    def needs_explicit_approval(self, severity: Severity | None, service: str) -> bool:
        return (
            severity is not None and severity in self.require_approval_for.severities
        ) or service in self.require_approval_for.services


class ResolvePolicy(_Strict):
    clean_window: Duration = timedelta(minutes=5)
    monitoring_period: Duration = timedelta(minutes=10)
    watch_every: Duration = Field(
        timedelta(minutes=1), description="after mitigation, how often the error ratio is read for a relapse"
    )
    watch_every_after_monitoring: Duration = Field(
        timedelta(minutes=5), description="the same once the monitoring period has run, until resolution"
    )
    baseline_tolerance: float = Field(
        0.001, ge=0, le=1, description="'errors at baseline': at most this far above the pre-deploy error ratio"
    )
    handoff_brief_every: Duration = Field(
        timedelta(hours=4), description="an incident open this long (and each such span again) briefs the next on-call"
    )
    synthetic_monitor_labels: dict[str, str] = Field(
        {"source": "synthetic"}, min_length=1, description="an alert with all these labels is a synthetic monitor's"
    )

    @model_validator(mode="after")
    def _watch(self) -> ResolvePolicy:
        for name in (
            "clean_window",
            "monitoring_period",
            "watch_every",
            "watch_every_after_monitoring",
            "handoff_brief_every",
        ):
            if getattr(self, name) <= timedelta(0):
                raise ValueError(f"{name} must be longer than 0s")
        return self


ErrorClass = Literal["5xx", "4xx", "timeout"]
"""The decision tree's "What error codes?" classes."""

_REQUESTS = 'sum(rate(http_requests_total{service="$service"}[$window]))'


def _class_share(codes: str) -> str:
    """The share of the service's requests answered with `codes` (PromQL label matchers).

    `or vector(0)`: a service with traffic but no series for a code has served none of it (client
    libraries create a code's series on its first request); with no traffic at all the ratio is
    absent, and the class unknown."""
    return f'(sum(rate(http_requests_total{{service="$service",{codes}}}[$window])) or vector(0)) / {_REQUESTS}'


DEFAULT_ERROR_CLASSES: dict[ErrorClass, str] = {
    "5xx": _class_share('code=~"5..",code!="504"'),
    "4xx": _class_share('code=~"4..",code!="408"'),
    "timeout": _class_share('code=~"408|504"'),
}


class DiagnosisQueries(_Strict):
    """PromQL for the decision tree's checks, and the thresholds their readings are judged by.

    The error classes are disjoint status-code classes of `http_requests_total` (the convention
    `error_ratio` uses): timeouts are 408 (request timeout) and 504 (gateway timeout), so 5xx and
    4xx leave those two out. The tree's class is the one with the largest share
    (`warroom.policy.error_classes`). The dependency and cache queries are optional: a check the
    runbook names no query for is not configured, and says so."""

    error_classes: dict[ErrorClass, str] = Field(default_factory=lambda: dict(DEFAULT_ERROR_CLASSES))
    downstream_error_ratio: str | None = Field(None, description="error ratio of the service's calls to dependencies")
    downstream_error_above: float = Field(0.01, ge=0, le=1, description="the tree blames a downstream API above this")
    latency_p99: str | None = Field(None, description="P99 of the service's dependency calls, in seconds")
    latency_p99_above: Duration = Field(timedelta(seconds=1), description="a dependency is slow above this P99")
    cache_hit_ratio: str | None = Field(None, description="the service's cache hits / lookups")
    cache_hit_ratio_below: float = Field(0.8, ge=0, le=1, description="a cold or thrashing cache below this")
    cache_errors: str | None = Field(None, description="cache connection errors per second")
    cache_errors_above: float = Field(0.0, ge=0, description="the cache is failing above this rate")
    cache_memory_used: str | None = Field(None, description="cache memory used / its limit")
    cache_memory_used_above: float = Field(0.9, ge=0, le=1, description="the cache is full (evicting) above this")

    @model_validator(mode="after")
    def _placeholders(self) -> DiagnosisQueries:
        named: dict[str, str | None] = {f"error_classes.{k}": v for k, v in self.error_classes.items()}
        named |= {"downstream_error_ratio": self.downstream_error_ratio, "latency_p99": self.latency_p99}
        named |= {"cache_hit_ratio": self.cache_hit_ratio, "cache_errors": self.cache_errors}
        named |= {"cache_memory_used": self.cache_memory_used}
        for name, query in named.items():
            if query is not None and "$service" not in query:
                raise ValueError(f"{name} must use $service so each incident reads its own service")
        return self


class MetricsQueries(_Strict):
    """PromQL templates. `$service` and `$window` are the only placeholders; warroom fills them
    with a validated service name (DNS label) and a duration, never with raw alert text."""

    error_ratio: str = (
        'sum(rate(http_requests_total{service="$service",code=~"5.."}[$window]))'
        ' / sum(rate(http_requests_total{service="$service"}[$window]))'
    )
    users_affected: str | None = None
    window: Duration = timedelta(minutes=1)
    slo_target: float = Field(0.999, gt=0, lt=1, description="availability SLO; burn rate = error ratio / (1 - SLO)")
    step: Duration = timedelta(seconds=15)
    baseline_offset: Duration = Field(
        timedelta(minutes=1), description="the baseline is read this long before the deploy"
    )
    diagnosis: DiagnosisQueries = DiagnosisQueries()

    @model_validator(mode="after")
    def _placeholders(self) -> MetricsQueries:
        if "$service" not in self.error_ratio:
            raise ValueError("error_ratio must use $service so each incident reads its own service")
        return self


class MttrTargets(_Strict):
    detection: Duration = timedelta(minutes=5)
    triage: Duration = timedelta(minutes=10)
    mitigation: dict[Severity, Duration] = {Severity.P1: timedelta(minutes=30)}
    resolution: dict[Severity, Duration] = {Severity.P1: timedelta(hours=4)}


class Retrospective(_Strict):
    due_business_days: int = Field(5, ge=1, le=60)
    required_for: list[Severity] = [Severity.P1, Severity.P2, Severity.P3]
    holidays_country: str | None = None
    holidays_subdivision: str | None = None
    extra_holidays: list[date] = []
    remind_before: Duration = timedelta(days=1)
    escalate_to: str = "engineering-manager"


class KubernetesChecks(_Strict):
    """The decision tree's Kubernetes checks: the seed's `kubectl get events ... | tail -20`,
    `kubectl top pods` against the pods' limits, and `kubectl describe nodes`' allocation."""

    events_tail: int = Field(20, ge=1, le=500, description="the most recent N Warning events of the service")
    pod_cpu_saturated_above: float = Field(
        90.0, gt=0, description="a container using more than this % of its CPU limit is saturated (seed: > 90%)"
    )
    pod_memory_saturated_above: float = Field(
        90.0, gt=0, description="a container using more than this % of its memory limit is close to its OOM kill"
    )
    node_allocated_above: float = Field(
        90.0, gt=0, description="a node whose pods request more than this % of its allocatable CPU or memory is full"
    )


class DatabaseTarget(_Strict):
    """Where a database is, for the PostgreSQL health playbook. The password is never here: `credential`
    names one in the worker's settings (WARROOM_ANSIBLE_CREDENTIALS)."""

    host: str = Field("127.0.0.1", min_length=1, max_length=253)
    port: int = Field(5432, ge=1, le=65535)
    database: str = Field("postgres", min_length=1, max_length=63)
    user: str = Field("postgres", min_length=1, max_length=63)
    sslmode: Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"] = "prefer"
    credential: str | None = Field(None, min_length=1, max_length=63)
    connect_timeout: int = Field(5, ge=1, le=60, description="seconds psql waits for the server")


class DatabaseChecks(_Strict):
    """The decision tree's "Database: query latency? connection count? replication lag?": the
    databases the diagnosis may check (an allow-list, by name) and which service uses which."""

    databases: dict[str, DatabaseTarget] = Field(default_factory=dict)
    services: dict[str, str] = Field(default_factory=dict, description="service → a name in `databases`")
    replication_lag_above: Duration = Field(
        timedelta(seconds=30), description="a replica (or this standby) further behind than this is lagging"
    )

    @model_validator(mode="after")
    def _named(self) -> DatabaseChecks:
        for name in self.databases:
            if not _DB_NAME.fullmatch(name):
                raise ValueError(f"database name {name!r} must be a DNS label (a-z, 0-9, -)")
        unknown = sorted({db for db in self.services.values() if db not in self.databases})
        if unknown:
            raise ValueError(f"services name databases that are not listed under databases: {', '.join(unknown)}")
        if self.replication_lag_above < timedelta(0):
            raise ValueError("replication_lag_above must not be negative (0s: any lag is lagging)")
        return self

    def for_service(self, service: str) -> tuple[str, DatabaseTarget] | None:
        name = self.services.get(service)
        return (name, self.databases[name]) if name is not None else None


_DB_NAME = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")


_SHARED_RUNBOOKS: dict[str, RunbookConfig] = {}
"""Decoded runbooks by their JSON (RunbookConfig._one_per_content); a worker sees a handful of distinct ones."""
_SHARED_RUNBOOKS_MAX = 64


class RunbookConfig(_Strict):
    """The whole runbook. Every section defaults to the seed runbook's values."""

    version: Literal[1] = 1
    declare: DeclareCriteria = DeclareCriteria()
    severity: dict[Severity, SeverityDefinition]
    acknowledgement: Acknowledgement = Acknowledgement()
    severity_matrix: dict[Severity, MatrixRow]
    special_cases: SpecialCases = SpecialCases()
    roles: Roles = Roles()
    war_room: WarRoom = WarRoom()
    comms: Comms = Comms()
    rollback: RollbackRule = RollbackRule()
    resolve: ResolvePolicy = ResolvePolicy()
    metrics: MetricsQueries = MetricsQueries()
    mttr_targets: MttrTargets = MttrTargets()
    retrospective: Retrospective = Retrospective()
    templates_dir: str | None = Field(None, description="a folder of *.j2 files that replace the built-in messages")
    kubernetes_checks: KubernetesChecks = KubernetesChecks()
    database_checks: DatabaseChecks = DatabaseChecks()
    steps: StepCatalog = StepCatalog()

    @model_validator(mode="wrap")
    @classmethod
    def _one_per_content(cls, data: Any, handler: ModelWrapValidatorHandler[RunbookConfig]) -> RunbookConfig:
        """Every incident's input carries its runbook, and so does each of its phases': decoded from
        identical JSON, they are one object per process (frozen, so safe to share) instead of one per
        workflow run, about 30 KiB each (#18, memory). Anything but plain JSON validates as before."""
        if not isinstance(data, dict):
            return handler(data)
        try:
            key = json.dumps(data, sort_keys=True, separators=(",", ":"))
        except (TypeError, ValueError):  # a model or a timedelta inside: not the decoder's JSON
            return handler(data)
        shared = _SHARED_RUNBOOKS.get(key)
        if shared is None:
            shared = handler(data)
            if len(_SHARED_RUNBOOKS) >= _SHARED_RUNBOOKS_MAX:
                _SHARED_RUNBOOKS.pop(next(iter(_SHARED_RUNBOOKS)))
            _SHARED_RUNBOOKS[key] = shared
        return shared

    @model_validator(mode="before")
    @classmethod
    def _customer_comms(cls, data: Any) -> Any:
        """The matrix's customer_comms, where a row states it, decides comms.status_page_for and
        comms.customer_email_for when the file does not list them (a row stating nothing keeps
        the Comms default for its severity). Files that list them are checked by the loader."""
        if not isinstance(data, dict) or not isinstance(data.get("severity_matrix"), dict):
            return data
        comms = data.get("comms", {})
        if not isinstance(comms, dict):
            return data
        stated: dict[Severity, Any] = {}
        for key, row in data["severity_matrix"].items():
            value = row.get("customer_comms") if isinstance(row, dict) else getattr(row, "customer_comms", None)
            if key in {s.value for s in Severity}:  # another key fails validation with its name
                stated[Severity(key)] = value
        derived: dict[str, list[Severity]] = {}
        for field, wanted in (("status_page_for", _WITH_STATUS_PAGE), ("customer_email_for", _WITH_EMAIL)):
            if field not in comms:
                default: list[Severity] = Comms.model_fields[field].default
                derived[field] = [
                    s for s in Severity if (stated[s] in wanted if stated.get(s) is not None else s in default)
                ]
        return {**data, "comms": {**comms, **derived}} if derived else data

    def customer_comms_conflicts(self) -> list[str]:
        """Where a row's stated customer_comms and the comms lists disagree, one line each."""
        found: list[str] = []
        for severity, row in self.severity_matrix.items():
            if row.customer_comms is None:
                continue
            for field, wanted in (("status_page_for", _WITH_STATUS_PAGE), ("customer_email_for", _WITH_EMAIL)):
                listed: list[Severity] = getattr(self.comms, field)
                if (row.customer_comms in wanted) != (severity in listed):
                    verb = "leaves out" if row.customer_comms in wanted else "lists"
                    found.append(
                        f"severity_matrix.{severity}.customer_comms: {row.customer_comms}, "
                        f"but comms.{field} {verb} {severity}"
                    )
        return found

    @model_validator(mode="after")
    def _every_severity(self) -> RunbookConfig:
        for section in ("severity", "severity_matrix"):
            missing = [s.value for s in Severity if s not in getattr(self, section)]
            if missing:
                raise ValueError(f"{section} has no entry for {', '.join(missing)}")
        return self

    def matrix(self, severity: Severity) -> MatrixRow:
        return self.severity_matrix[severity]
