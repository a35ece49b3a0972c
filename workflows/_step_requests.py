"""What each kind of catalog step asks of its activity, built from the step's typed parameters.

Plain functions: the incident's step runner (`workflows._steps`) calls them for the preview and
again for the apply, so both describe the same change.
"""

from __future__ import annotations

from typing import Any

from warroom.catalog import StepEntry
from warroom.config import DatabaseTarget, RunbookConfig
from warroom.contracts.steps import KubeStepRequest, PlaybookStepRequest
from warroom.models import IncidentState, Step
from warroom.policy import http_request
from warroom.policy import steps as policy
from warroom.policy.http_request import HttpStepRequest, HttpTemplate
from warroom.step_models import StepPreview

DATABASE_SCOPED = {"pg_cancel_long_queries"}
"""Playbooks that act on every database of the server unless told which one (`database_filter`)."""


def kube(step: Step, entry: StepEntry) -> KubeStepRequest:
    """restartedAt is the approval's time (the proposal's, for the preview): a retry writes the same."""
    p = step.params
    replicas = p.get("replicas")
    return KubeStepRequest(
        action=entry.action or "restart",
        namespace=str(p.get("namespace", "")),
        deployment=str(p.get("deployment", "")),
        replicas=replicas if isinstance(replicas, int) and not isinstance(replicas, bool) else None,
        to_revision=int(p.get("to_revision", 0) or 0),
        restarted_at=(step.decided_at or step.proposed_at).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )


def playbook(step: Step, entry: StepEntry, runbook: RunbookConfig) -> PlaybookStepRequest:
    """The entry's fixed extravars, its parameters, and for a `database` parameter the database's
    connection (never its password: `credential` names one the worker holds)."""
    extravars: dict[str, Any] = {**entry.extravars}
    for param in entry.params:
        value = step.params.get(param.name)
        if param.type == "database" and isinstance(value, str):
            db = runbook.database_checks.databases[value]
            extravars.update(connection(db))
            if entry.playbook in DATABASE_SCOPED:  # pg_stat_activity spans the server: keep to this database
                extravars["database_filter"] = db.database
        elif value is not None:
            extravars[param.name] = value
    return PlaybookStepRequest(
        playbook=entry.playbook or "", extravars=extravars, timeout_seconds=entry.timeout.total_seconds()
    )


def connection(db: DatabaseTarget) -> dict[str, Any]:
    """A database's connection as the PostgreSQL playbooks' extravars."""
    found: dict[str, Any] = {
        "pg_host": db.host,
        "pg_port": db.port,
        "pg_database": db.database,
        "pg_user": db.user,
        "pg_sslmode": db.sslmode,
        "connect_timeout": db.connect_timeout,
    }
    if db.credential:
        found["credential"] = db.credential
    return found


def http(step: Step, entry: StepEntry) -> HttpStepRequest:
    """The rendered request; ValueError naming the parameter that could move it elsewhere."""
    template = HttpTemplate.load(entry.http or {}, [p.name for p in entry.params])
    return http_request.render(template, step.params)


def http_preview(step: Step, entry: StepEntry) -> StepPreview:
    """The rendered request, shown: no I/O, the same rendering the apply sends."""
    return StepPreview(**http_request.preview(http(step, entry)))


def audience(step: Step, entry: StepEntry, state: IncidentState, runbook: RunbookConfig) -> str:
    """Who a page or an escalation reaches: the person or role named, or the matrix's next level."""
    if entry.kind == "page":
        return str(step.params.get("who", ""))
    return policy.next_escalation(state, runbook)
