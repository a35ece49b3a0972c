"""The Ansible activities, registered under their contracts' names.

Sync activities for the worker's ThreadPoolExecutor, declared with `no_thread_cancel_exception=True`:
the SDK must not throw into the thread that drives pexpect. Cancellation and the timeout are
handled by the run's monitor; a cancelled run raises `temporalio.exceptions.CancelledError` once
its processes are gone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from pydantic import ValidationError
from temporalio import activity

from activities.ansible import steps as step_runs
from activities.ansible.errors import PlaybookInvalid, describe
from activities.ansible.runner import Runner
from warroom.contracts import ansible as contract
from warroom.contracts import steps
from warroom.contracts.ansible import (
    HostDiagnosticsReport,
    HostDiagnosticsRequest,
    PlaybookRequest,
    PlaybookResult,
    PostgresHealthReport,
    PostgresHealthRequest,
    ServiceLogsReport,
    ServiceLogsRequest,
)
from warroom.contracts.errors import boundary
from warroom.contracts.steps import PlaybookStepRequest, StepOutcome, StepPreview


class PlaybookRunner(Runner):
    """Activity holder: the worker builds one with its settings and registers `activities()`."""

    def activities(self) -> list[Callable[..., Any]]:
        """Every activity: `warroom.contracts.ansible.ALL`'s, then `warroom.contracts.steps.ANSIBLE`'s."""
        return [
            self.run_playbook,
            self.host_diagnostics,
            self.postgres_health,
            self.service_logs,
            self.step_preview,
            self.step_apply,
        ]

    @activity.defn(name=contract.RUN_PLAYBOOK.name, no_thread_cancel_exception=True)
    def run_playbook(self, req: PlaybookRequest) -> PlaybookResult:
        with _boundary():
            return self.run(req)

    @activity.defn(name=contract.HOST_DIAGNOSTICS.name, no_thread_cancel_exception=True)
    def host_diagnostics(self, req: HostDiagnosticsRequest) -> HostDiagnosticsReport:
        with _boundary():
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

    @activity.defn(name=contract.POSTGRES_HEALTH.name, no_thread_cancel_exception=True)
    def postgres_health(self, req: PostgresHealthRequest) -> PostgresHealthReport:
        with _boundary():
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
                **{k: facts[k] for k in _REPLICATION if facts.get(k) not in (None, "")},
            )

    @activity.defn(name=contract.SERVICE_LOGS.name, no_thread_cancel_exception=True)
    def service_logs(self, req: ServiceLogsRequest) -> ServiceLogsReport:
        with _boundary():
            extravars = {"service": req.service, "log_file": req.log_file, "lines": req.lines, "samples": req.samples}
            result = self.run(
                PlaybookRequest(
                    playbook="service_logs", extravars=extravars, target=req.target, timeout_seconds=req.timeout_seconds
                )
            )
            found = _fact(result, "service_logs")
            fields = {k: v for k, v in found.items() if k in ServiceLogsReport.model_fields}
            return ServiceLogsReport(**{**fields, "service": req.service, "run": result})

    @activity.defn(name=steps.PLAYBOOK_STEP_PREVIEW.name, no_thread_cancel_exception=True)
    def step_preview(self, req: PlaybookStepRequest) -> StepPreview:
        """A catalog playbook under `--check --diff`: changes nothing, shows what would change."""
        with _boundary():
            return step_runs.preview(self, req)

    @activity.defn(name=steps.PLAYBOOK_STEP_APPLY.name, no_thread_cancel_exception=True)
    def step_apply(self, req: PlaybookStepRequest) -> StepOutcome:
        """A catalog playbook for real; safe to retry (see activities.ansible.steps on idempotency)."""
        with _boundary():
            return step_runs.apply(self, req)


_REPLICATION = ("max_connections", "role", "replicas", "replay_lag_seconds")
"""Published by the playbook's third query; absent (None) when the database was not reached."""


@contextmanager
def _boundary() -> Iterator[None]:
    """`boundary()`, and published facts of the wrong shape are the playbook's fault: PlaybookInvalid."""
    with boundary():
        try:
            yield
        except ValidationError as exc:
            raise PlaybookInvalid(f"playbook output not understood: {describe(exc)}") from None


def _fact(result: PlaybookResult, key: str) -> Any:
    if key not in result.facts:
        raise PlaybookInvalid(f"playbook {result.playbook} published no {key!r}", result)
    return result.facts[key]
