"""The step catalog: what warroom can do during an incident, as data (`steps:` in the runbook YAML).

Each entry names a step (`restart`, `scale`, a playbook, an HTTP kill switch), its kind, its typed
parameters, who must approve it and how it is verified. The built-in entries (kubectl parity for
rollback, restart, scale, pause and resume; paging; escalating) are on unless the runbook lists
them under `disabled`; an entry of the runbook with a built-in's name replaces it. Parameters are
typed (DNS labels, bounded integers, enums, durations, names): no free-form string reaches a
command, a playbook or an API path. Parsing a proposal's values is `warroom.policy.steps`.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from warroom.enums import Duration, Severity

ApprovalPolicy = Literal["auto", "ic", "two_person"]
"""`auto`: runs once previewed; `ic`: the IC approves; `two_person`: two approvers, neither the proposer."""
STRICTNESS: dict[str, int] = {"auto": 0, "ic": 1, "two_person": 2}

StepKind = Literal["kubernetes", "playbook", "http", "page", "escalate"]
KubeAction = Literal["rollback", "restart", "scale", "pause-rollout", "resume-rollout"]
ParamType = Literal["dns_label", "int", "enum", "duration", "name", "bool", "database"]
"""`database`: a name under the runbook's `database_checks.databases` (a playbook gets its connection)."""

ENTRY_NAME = re.compile(r"^[a-z][a-z0-9-]{0,39}$")
PARAM_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Param(_Strict):
    """One typed parameter. `from_target` fills it from the incident's Deployment when not given."""

    name: str
    type: ParamType
    description: str = Field("", max_length=200)
    required: bool = True
    default: int | bool | str | None = None
    min: int | None = None
    max: int | None = None
    choices: list[str] = []
    from_target: Literal["namespace", "deployment", "database"] | None = Field(
        None, description="default: the incident's Deployment namespace or name, or its service's database"
    )

    @model_validator(mode="after")
    def _coherent(self) -> Param:
        if not PARAM_NAME.fullmatch(self.name):
            raise ValueError(f"parameter name {self.name!r}: 1-40 of a-z, 0-9 and _, starting with a letter")
        if self.type == "enum" and not self.choices:
            raise ValueError(f"parameter {self.name}: an enum needs choices")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"parameter {self.name}: min {self.min} > max {self.max}")
        return self


class ApprovalRule(_Strict):
    """Who approves, by default and per severity or service; the strictest that applies wins."""

    default: ApprovalPolicy = "ic"
    severities: dict[Severity, ApprovalPolicy] = {}
    services: dict[str, ApprovalPolicy] = {}

    def for_incident(self, severity: Severity | None, service: str) -> ApprovalPolicy:
        found: list[ApprovalPolicy] = [self.default]
        if severity is not None and severity in self.severities:
            found.append(self.severities[severity])
        if service in self.services:
            found.append(self.services[service])
        return max(found, key=STRICTNESS.__getitem__)


class Verification(_Strict):
    """After the step: the rollout completes (Kubernetes), or a PromQL instant query reads inside a bound."""

    rollout_status: bool = False
    promql: str | None = Field(None, max_length=2000)
    below: float | None = None
    above: float | None = None
    wait: Duration = Field(timedelta(0), description="before the PromQL check: let the change take effect")

    @model_validator(mode="after")
    def _bounded(self) -> Verification:
        if self.promql and self.below is None and self.above is None:
            raise ValueError("a PromQL verification needs `below` or `above`")
        return self


class StepEntry(_Strict):
    name: str
    kind: StepKind
    description: str = Field(..., min_length=1, max_length=200)
    action: KubeAction | None = Field(None, description="kubernetes: what kubectl would do")
    playbook: str | None = Field(
        None, pattern=r"^[a-z][a-z0-9_]{0,63}$", description="playbook: its name in playbooks/"
    )
    extravars: dict[str, int | float | bool | str] = Field(
        default_factory=dict, max_length=16, description="playbook: fixed values from the runbook (a database host)"
    )
    http: dict[str, Any] | None = Field(None, description="http: method, url template, body template, credential")
    params: list[Param] = []
    approval: ApprovalRule = ApprovalRule()
    timeout: Duration = timedelta(minutes=5)
    verify: Verification | None = None
    mitigates: bool = Field(False, description="done and verified, the step is the mitigation (rollback)")

    @model_validator(mode="after")
    def _complete(self) -> StepEntry:
        if not ENTRY_NAME.fullmatch(self.name):
            raise ValueError(f"step name {self.name!r}: 1-40 of a-z, 0-9 and -, starting with a letter")
        needs = {"kubernetes": "action", "playbook": "playbook", "http": "http"}.get(self.kind)
        if needs and getattr(self, needs) is None:
            raise ValueError(f"step {self.name}: a {self.kind} step needs `{needs}`")
        names = [p.name for p in self.params]
        if len(set(names)) != len(names):
            raise ValueError(f"step {self.name}: a parameter is listed twice")
        return self

    def param(self, name: str) -> Param | None:
        return next((p for p in self.params if p.name == name), None)


class ScaleBounds(_Strict):
    min: int = Field(1, ge=0, le=1000)
    max: int = Field(50, ge=0, le=1000)

    @model_validator(mode="after")
    def _ordered(self) -> ScaleBounds:
        if self.min > self.max:
            raise ValueError(f"scale bounds: min {self.min} > max {self.max}")
        return self


def _deployment_params(*extra: Param) -> list[Param]:
    return [
        Param(name="namespace", type="dns_label", from_target="namespace", description="default: the incident's"),
        Param(name="deployment", type="dns_label", from_target="deployment", description="default: the incident's"),
        *extra,
    ]


_ROLLOUT = Verification(rollout_status=True)

BUILTIN: tuple[StepEntry, ...] = (
    StepEntry(
        name="rollback",
        kind="kubernetes",
        action="rollback",
        description="kubectl rollout undo: back to the previous revision (or to_revision)",
        params=_deployment_params(
            Param(name="to_revision", type="int", required=False, default=0, min=0, max=1_000_000),
        ),
        verify=_ROLLOUT,
        mitigates=True,
    ),
    StepEntry(
        name="restart",
        kind="kubernetes",
        action="restart",
        description="kubectl rollout restart: new pods, same revision of the spec",
        params=_deployment_params(),
        verify=_ROLLOUT,
    ),
    StepEntry(
        name="scale",
        kind="kubernetes",
        action="scale",
        description="kubectl scale --replicas: within the runbook's bounds for the service",
        params=_deployment_params(Param(name="replicas", type="int", min=0, max=1000)),
        verify=_ROLLOUT,
    ),
    StepEntry(
        name="pause-rollout",
        kind="kubernetes",
        action="pause-rollout",
        description="kubectl rollout pause: stop a rollout in progress where it is",
        params=_deployment_params(),
    ),
    StepEntry(
        name="resume-rollout",
        kind="kubernetes",
        action="resume-rollout",
        description="kubectl rollout resume: let a paused rollout go on",
        params=_deployment_params(),
        verify=_ROLLOUT,
    ),
    StepEntry(
        name="page",
        kind="page",
        description="page a person or a role now",
        params=[Param(name="who", type="name", description="a person or a role, e.g. database-oncall")],
    ),
    StepEntry(
        name="escalate",
        kind="escalate",
        description="escalate to the matrix's next level now, whatever the timers say",
    ),
)


class StepCatalog(_Strict):
    """`steps:` in the runbook."""

    approve_within: dict[Severity, Duration] = Field(
        default_factory=lambda: {Severity.P1: timedelta(minutes=10), Severity.P2: timedelta(minutes=20)},
        description="a step not decided this long re-prompts the IC; as long again, it escalates (no entry: no deadline)",
    )
    scale_bounds: ScaleBounds = ScaleBounds()
    scale_bounds_by_service: dict[str, ScaleBounds] = {}
    disabled: list[str] = Field([], description="built-in entries turned off")
    entries: list[StepEntry] = Field([], max_length=100)

    @model_validator(mode="after")
    def _unique(self) -> StepCatalog:
        names = [e.name for e in self.entries]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"steps listed twice: {', '.join(twice)}")
        unknown = sorted(set(self.disabled) - {e.name for e in BUILTIN})
        if unknown:
            raise ValueError(f"disabled names no built-in step: {', '.join(unknown)}")
        return self

    def all(self) -> list[StepEntry]:
        """The catalog as it runs: built-ins not disabled nor replaced, then the runbook's own."""
        own = {e.name for e in self.entries}
        builtin = [e for e in BUILTIN if e.name not in self.disabled and e.name not in own]
        return builtin + list(self.entries)

    def entry(self, name: str) -> StepEntry | None:
        return next((e for e in self.all() if e.name == name), None)

    def bounds_for(self, service: str) -> ScaleBounds:
        return self.scale_bounds_by_service.get(service, self.scale_bounds)
