"""The decision tree's Kubernetes and database checks, run beside the others in `run_diagnosis`.

Each check is guarded by its own `workflow.patched` id: incidents that started before it existed
replay without it. A check that fails is evidence ("events unavailable: ..."), never fatal.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from warroom.contracts.kubernetes import EVENTS, EventsReport, EventsRequest
    from warroom.models import DeploymentTarget
    from warroom.policy.diagnosis import EventSignals, Findings
    from workflows._activities import call
    from workflows._runtime import PhaseRuntime

EVENT_SAMPLES = 5


def event_signals(report: EventsReport, samples: int = EVENT_SAMPLES) -> EventSignals:
    """The Warning events as reason → occurrences, the most recent few as "Reason kind/name: message"."""
    reasons: dict[str, int] = {}
    for e in report.events:
        reasons[e.reason] = reasons.get(e.reason, 0) + max(1, e.count)
    shown = [f"{e.reason} {e.object}: {e.message[:200]}" for e in reversed(report.events)][:samples]
    return EventSignals(checked=True, reasons=reasons, samples=shown)


class ClusterFindings:
    """What the Kubernetes and database checks found, folded into the tree's `Findings`."""

    def __init__(self) -> None:
        self.events: EventSignals | None = None
        self.unavailable: list[str] = []

    def apply(self, findings: Findings) -> Findings:
        update: dict[str, object] = {}
        if self.events is not None:
            update["events"] = self.events
        return findings.model_copy(update=update) if update else findings


async def run_cluster_checks(rt: PhaseRuntime, target: DeploymentTarget) -> ClusterFindings:
    """The checks this incident's workflow code knows about, one after another in one task (each
    is a single read; they overlap the main checks, which take longer)."""
    found = ClusterFindings()
    if workflow.patched("diagnosis-kubernetes-events"):
        try:
            report = await call(
                EVENTS,
                EventsRequest(
                    namespace=target.namespace,
                    deployment=target.deployment,
                    limit=rt.runbook.kubernetes_checks.events_tail,
                ),
                summary="Kubernetes Warning events (kubectl get events | tail)",
            )
            found.events = event_signals(report)
        except ActivityError as err:
            found.unavailable.append(f"events unavailable ({err.cause or err})")
    return found
