"""The step catalog's rules as pure functions: parameters, approvals, previews' digests, deadlines.

`parse_params` turns what a person typed (`replicas=6`) into typed values or names the bad one;
nothing untyped leaves it. `approval_policy` is the strictest of the entry's rule and, for a
rollback, the rollback rule's `require_approval_for`. Under `two_person`, two different people
approve, neither of them the proposer, and one of the three is the IC.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from datetime import datetime, timedelta

from warroom.catalog import STRICTNESS, ApprovalPolicy, Param, StepEntry
from warroom.config import RunbookConfig
from warroom.enums import Severity, parse_duration
from warroom.models import DeploymentTarget, IncidentState, Step
from warroom.step_models import ParamValue, StepPreview

MAX_RAW = 256
"""Characters of a raw parameter value; anything longer is refused before it is looked at."""

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
_INT = re.compile(r"^-?[0-9]{1,9}$")


class ParamError(ValueError):
    """A parameter refused: `name` says which, the message says why."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"parameter {name!r}: {reason}")
        self.name = name


def parse_params(
    entry: StepEntry,
    raw: Mapping[str, ParamValue],
    *,
    target: DeploymentTarget | None,
    runbook: RunbookConfig,
    service: str,
    partial: bool = False,
) -> dict[str, ParamValue]:
    """Every parameter of `entry`, typed: given, defaulted, or taken from the incident's Deployment.

    `partial` (the CLI, before it knows the incident): the parameters that come from the incident's
    Deployment are not required and the service's scale bounds are not checked; the incident checks."""
    unknown = sorted(set(raw) - {p.name for p in entry.params})
    if unknown:
        known = ", ".join(p.name for p in entry.params) or "none"
        raise ParamError(unknown[0][:40], f"{entry.name} takes no such parameter (it takes: {known})")
    out: dict[str, ParamValue] = {}
    for param in entry.params:
        implied = _implied(param, target, runbook, service)
        if param.name in raw:
            out[param.name] = _typed(param, raw[param.name])
        elif implied is not None:
            out[param.name] = _typed(param, implied)
        elif param.default is not None:
            out[param.name] = param.default
        elif param.required and not (param.from_target and partial):
            raise ParamError(param.name, f"required by {entry.name} ({param.description or param.type})")
    databases = runbook.database_checks.databases
    for param in entry.params:
        if param.type == "database" and param.name in out and str(out[param.name]) not in databases:
            listed = ", ".join(databases) or "none: list them under database_checks.databases"
            raise ParamError(param.name, f"{out[param.name]!r} is not a database of the runbook ({listed})")
    if entry.kind == "kubernetes" and entry.action == "scale" and "replicas" in out and not partial:
        bounds = runbook.steps.bounds_for(service)
        replicas = out["replicas"]
        assert isinstance(replicas, int)
        if not bounds.min <= replicas <= bounds.max:
            raise ParamError(
                "replicas", f"{replicas} is outside {bounds.min}..{bounds.max}, the runbook's bounds for {service}"
            )
    return out


def _implied(param: Param, target: DeploymentTarget | None, runbook: RunbookConfig, service: str) -> str | None:
    """What the incident says of a parameter that was not given: its Deployment, its service's database."""
    if param.from_target == "database":
        found = runbook.database_checks.for_service(service)
        return found[0] if found else None
    if param.from_target and target is not None:
        value: str = getattr(target, param.from_target)
        return value
    return None


def _typed(param: Param, value: ParamValue) -> ParamValue:
    if isinstance(value, str) and (len(value) > MAX_RAW or "\x00" in value):
        raise ParamError(param.name, f"longer than {MAX_RAW} characters or holds a NUL")
    text = str(value).strip() if not isinstance(value, bool) else ""
    if param.type == "bool":
        if isinstance(value, bool):
            return value
        if text.lower() in ("true", "yes", "1", "false", "no", "0"):
            return text.lower() in ("true", "yes", "1")
        raise ParamError(param.name, "must be true or false")
    if param.type == "int":
        if isinstance(value, bool) or not (isinstance(value, int) or _INT.fullmatch(text)):
            raise ParamError(param.name, "must be a whole number")
        number = int(value) if isinstance(value, int) else int(text)
        if (param.min is not None and number < param.min) or (param.max is not None and number > param.max):
            raise ParamError(param.name, f"{number} is outside {param.min}..{param.max}")
        return number
    if param.type == "duration":
        try:
            parsed = parse_duration(text)
        except ValueError:
            parsed = None
        if not isinstance(parsed, timedelta):
            raise ParamError(param.name, "must be a duration such as 90s, 5m or 1h")
        seconds = int(parsed.total_seconds())
        if (param.min is not None and seconds < param.min) or (param.max is not None and seconds > param.max):
            raise ParamError(param.name, f"{seconds} s is outside {param.min}..{param.max} s")
        return seconds
    if param.type == "enum":
        if text not in param.choices:
            raise ParamError(param.name, f"must be one of {', '.join(param.choices)}")
        return text
    label = param.type in ("dns_label", "database")
    pattern, what = (_DNS_LABEL, "a DNS label (a-z, 0-9, -)") if label else (_NAME, "a name")
    if not pattern.fullmatch(text) or ".." in text:
        raise ParamError(param.name, f"must be {what}, 1-63 characters")
    return text


def legacy_params(action: str, target: str) -> tuple[str, dict[str, ParamValue]]:
    """A proposal in the pre-catalog form (`rollback deployment/order-api`) as an entry and its parameters."""
    if action == "rollback":
        kind, _, name = target.rpartition("/")
        params: dict[str, ParamValue] = {"deployment": name}
        if kind and kind not in ("deployment", "deployments", "deploy", "deployment.apps"):
            params["namespace"] = kind
        return "rollback", params
    if action == "page":
        return "page", {"who": target}
    return action, {}


def approval_policy(
    entry: StepEntry, runbook: RunbookConfig, severity: Severity | None, service: str
) -> ApprovalPolicy:
    """The entry's rule for this incident; a rollback also obeys the rollback rule's explicit approvals."""
    policy = entry.approval.for_incident(severity, service)
    if entry.name == "rollback" and runbook.rollback.needs_explicit_approval(severity, service):
        policy = max(policy, "ic", key=STRICTNESS.__getitem__)
    return policy


def approvals_needed(step: Step) -> int:
    return 2 if step.policy == "two_person" else 1


def approval_refusal(step: Step, by: str, commander: str | None) -> str | None:
    """Why `by` may not approve `step` now (None: they may). The IC decides `ic` steps; under the
    two-person rule neither approver is the proposer, they differ, and the IC is one of the three."""
    if step.policy != "two_person":
        return None if by == commander else "only the Incident Commander approves this step"
    if by == step.proposed_by:
        return f"{by} proposed {step.step_id}: the two-person rule needs two approvers other than the proposer"
    if any(a.by == by for a in step.approvals):
        return f"{by} already approved {step.step_id}: the two-person rule needs a second, different approver"
    people = {step.proposed_by, by, *(a.by for a in step.approvals)}
    last = len(step.approvals) + 1 >= approvals_needed(step)
    if last and commander is not None and commander not in people:
        return f"the Incident Commander ({commander}) must be the proposer or one of the two approvers"
    return None


def preview_digest(preview: StepPreview) -> str:
    """The name an approval gives the preview it saw: 12 hex digits of its content."""
    return hashlib.sha256(preview.model_dump_json().encode()).hexdigest()[:12]


def approve_within(runbook: RunbookConfig, severity: Severity | None) -> timedelta | None:
    """How long a step may wait for its decision before the IC is prompted again (None: no deadline)."""
    return runbook.steps.approve_within.get(severity) if severity is not None else None


def decision_deadlines(previewed_at: datetime, within: timedelta) -> tuple[datetime, datetime]:
    """When an undecided step re-prompts the IC, and when it escalates through the matrix."""
    return previewed_at + within, previewed_at + 2 * within


def describe(entry: StepEntry, params: Mapping[str, ParamValue]) -> str:
    """One line: the entry and its parameters, as `warroom status` and the channel show it."""
    shown = " ".join(f"{k}={v}" for k, v in params.items())
    return f"{entry.name} {shown}".strip()


def notice_preview(entry: StepEntry, params: Mapping[str, ParamValue], audience: str) -> StepPreview:
    """A page or an escalation changes no system: its preview says who will be paged."""
    verb = "page" if entry.kind == "page" else "escalate to"
    return StepPreview(summary=f"{verb} {audience}", request=f"{verb} {audience} now", would_change=True)


def next_escalation(state: IncidentState, runbook: RunbookConfig) -> str:
    """The matrix's next level for this incident: its team lead, then the VP, whoever has not been reached yet."""
    row = runbook.severity_matrix[state.severity or Severity.P3]
    levels = [row.escalate_to, row.vp or runbook.severity_matrix[Severity.P1].vp or row.escalate_to]
    return next((who for who in levels if who not in state.escalated_to), levels[-1])
