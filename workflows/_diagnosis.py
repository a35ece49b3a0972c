"""Diagnosis in Command: the seed's decision tree over checks that run in parallel.

Pod health, the service's logs (the seed's `kubectl logs -l app=X --since=5m | grep -i
"error|exception|fatal"`, previous containers included), the deploy history and the error rate
are gathered at once; `diagnose` walks the tree; the branch path, evidence, hypothesis and
recommended action land in the timeline and the incident channel. A check that cannot run is
evidence too ("logs unavailable: ..."), never a reason to stay silent.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import TypeVar

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from warroom.contracts.ansible import HOST_DIAGNOSTICS, HostDiagnosticsReport, HostDiagnosticsRequest
    from warroom.contracts.base import ActivityContract, Req, Res
    from warroom.contracts.kubernetes import LOGS, POD_HEALTH, RECENT_DEPLOY, LogsRequest, PodHealthRequest
    from warroom.contracts.metrics import READ_ERROR_RATIO, ErrorRatioRequest
    from warroom.models import DeploymentTarget, PhaseEvent
    from warroom.policy.diagnosis import Findings, InfraSignals, PodSignals, classify_log_lines, diagnose
    from workflows._activities import call
    from workflows._cluster_checks import run_cluster_checks
    from workflows._diagnosis_prometheus import prometheus_check, with_prometheus
    from workflows._runtime import PhaseRuntime

T = TypeVar("T")


CHECK_TIMEOUT = timedelta(seconds=30)
"""A diagnosis read whose worker died mid-call is retried after this, not after the contract's
3 minutes: the rollback's veto window would otherwise overtake the diagnosis (and a report cut short
by the mitigation is never posted)."""


async def _check(contract: ActivityContract[Req, Res], request: Req, summary: str) -> Res | ActivityError:
    """The check's report, or its ActivityError as a value: a failed check is evidence, and a task that
    ends in an exception is logged with its traceback as "never retrieved" when the run closes before
    gather's callbacks run (a terminated incident)."""
    try:
        # A heartbeating check (a playbook) is noticed dead by its heartbeat; a plain read by this cap.
        cap = None if contract.heartbeat else min(contract.start_to_close, CHECK_TIMEOUT)
        return await call(contract, request, summary=summary, start_to_close=cap)
    except ActivityError as err:
        return err


def _ok(result: T | BaseException) -> T | None:
    return None if isinstance(result, BaseException) else result


def _infra(report: HostDiagnosticsReport) -> InfraSignals:
    """The host playbook's verdicts as the decision tree's infrastructure signals."""

    def value(check: str) -> float | None:
        verdict = report.checks.get(check)
        return verdict.value if verdict is not None and verdict.value is not None else None

    oom = value("oom")
    network = report.checks.get("network")
    return InfraSignals(
        checked=True,
        cpu_percent=value("cpu"),
        memory_available_percent=value("memory"),
        swap_used_percent=value("swap"),
        oom_events=int(oom or 0),
        disk_await_ms=value("disk"),
        network_errors=1 if network is not None and network.status in ("warning", "critical") else 0,
    )


async def run_diagnosis(rt: PhaseRuntime, target: DeploymentTarget) -> None:
    prometheus = prometheus_check(rt)
    results = await asyncio.gather(
        _check(POD_HEALTH, PodHealthRequest(namespace=target.namespace, deployment=target.deployment), "pod health"),
        _check(
            LOGS,
            LogsRequest(namespace=target.namespace, deployment=target.deployment, since_seconds=300),
            "service logs (error|exception|fatal)",
        ),
        _check(RECENT_DEPLOY, target, "deploy history"),
        _check(READ_ERROR_RATIO, ErrorRatioRequest(service=rt.state.service), "error rate"),
        _check(HOST_DIAGNOSTICS, HostDiagnosticsRequest(), "host diagnostics (Ansible)"),
        run_cluster_checks(rt, target),  # Kubernetes events, kubectl top, the service's database
        return_exceptions=True,
    )
    pods, logs, recent, reading, host = (
        _ok(results[0]),
        _ok(results[1]),
        _ok(results[2]),
        _ok(results[3]),
        _ok(results[4]),
    )
    unavailable = [
        f"{name} unavailable ({(r.cause if isinstance(r, ActivityError) else r)})"
        for name, r in zip(("pods", "logs", "deploy history", "metrics", "host checks"), results)
        if isinstance(r, BaseException)
    ]
    for r in results:
        if isinstance(r, BaseException) and not isinstance(r, ActivityError):
            raise r  # a bug, not an unavailable check

    now = workflow.now()
    findings = Findings(
        error_class="5xx" if reading is not None and (reading.error_ratio or 0) > 0 else "unknown",
        deploy_age=(now - recent.deployed_at) if recent is not None and recent.deployed_at else None,
        logs=classify_log_lines([line for s in logs.streams for line in s.matches]) if logs else classify_log_lines([]),
        pods=PodSignals(
            crashloop=pods.findings.get("CrashLoopBackOff", 0),
            oom_killed=pods.findings.get("OOMKilled", 0),
            image_pull=pods.findings.get("ImagePullBackOff", 0) + pods.findings.get("ErrImagePull", 0),
            not_ready=pods.findings.get("NotReady", 0),
            restarts=sum(p.restarts for p in pods.pods),
        )
        if pods
        else PodSignals(),
        infra=_infra(host) if host else InfraSignals(),
    )
    cluster = _ok(results[5])
    if cluster is not None:
        findings = cluster.apply(findings)
        unavailable += cluster.unavailable
    if prometheus is not None:
        findings = with_prometheus(findings, await prometheus, unavailable)
    # The window is the incident's runbook value (30 min in runbooks from before it was one). Its
    # strict "<" (a deploy exactly 30:00.000000 old) changes only message text, never a command.
    diagnosis = diagnose(findings, rt.runbook.rollback.immediate_deploy_window, rt.runbook.metrics.diagnosis)
    evidence = diagnosis.evidence + unavailable
    await rt.report(
        PhaseEvent(
            kind="diagnosis",
            message=f"{diagnosis.hypothesis} → {diagnosis.recommended_action}",
            data={
                "path": " → ".join(diagnosis.path),
                "evidence": "; ".join(evidence) or "none",
                "conclusive": "yes" if diagnosis.conclusive else "no",
                "log_samples": " | ".join(findings.logs.samples[:3]),
            },
        )
    )
    await rt.notify(
        "incident",
        "diagnosis",
        path=" → ".join(diagnosis.path),
        evidence=evidence,
        hypothesis=diagnosis.hypothesis,
        action=diagnosis.recommended_action,
        samples=findings.logs.samples[:3],
    )
