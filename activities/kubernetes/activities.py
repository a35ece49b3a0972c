"""The Kubernetes activities: thin, threaded wrappers of the gateway, registered under their contracts' names.

The official client is synchronous, so these are threaded activities (the worker needs
`activity_executor=ThreadPoolExecutor(...)`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from temporalio import activity

from activities.kubernetes.gateway import KubeGateway
from activities.kubernetes.steps import KubeStepActivities
from warroom.contracts import kubernetes as contract
from warroom.contracts.errors import boundary
from warroom.contracts.kubernetes import (
    EventsReport,
    EventsRequest,
    LogsReport,
    LogsRequest,
    MigrationCheck,
    MigrationCheckRequest,
    PodHealthReport,
    PodHealthRequest,
    RecentDeploy,
    ResourceUsageReport,
    ResourceUsageRequest,
    RollbackRequest,
    RollbackResult,
    RolloutHistory,
    RolloutStatusReport,
    RolloutStatusRequest,
    ScaleRequest,
    ScaleResult,
)
from warroom.models import DeploymentTarget
from warroom.telemetry.metrics import rollback_recorded


class KubeActivities:
    """Activity holder: the worker builds one gateway (its budget is shared) and registers `all()`."""

    def __init__(self, gateway: KubeGateway) -> None:
        self.gateway = gateway

    @activity.defn(name=contract.POD_HEALTH.name)
    def pod_health(self, req: PodHealthRequest) -> PodHealthReport:
        with boundary():
            return self.gateway.pod_health(req)

    @activity.defn(name=contract.EVENTS.name)
    def events(self, req: EventsRequest) -> EventsReport:
        with boundary():
            return self.gateway.events(req)

    @activity.defn(name=contract.LOGS.name)
    def logs(self, req: LogsRequest) -> LogsReport:
        with boundary():
            return self.gateway.logs(req)

    @activity.defn(name=contract.ROLLOUT_STATUS.name)
    def rollout_status(self, req: RolloutStatusRequest) -> RolloutStatusReport:
        # Each poll heartbeats its report: cancellation arrives through heartbeats, and a stuck
        # rollout stays visible in the UI while the activity waits.
        with boundary():
            return self.gateway.rollout_status(
                req, progress=lambda report: activity.heartbeat(report.model_dump(mode="json"))
            )

    @activity.defn(name=contract.ROLLOUT_HISTORY.name)
    def rollout_history(self, req: DeploymentTarget) -> RolloutHistory:
        with boundary():
            return self.gateway.rollout_history(req)

    @activity.defn(name=contract.RECENT_DEPLOY.name)
    def recent_deploy(self, req: DeploymentTarget) -> RecentDeploy:
        with boundary():
            return self.gateway.recent_deploy(req)

    @activity.defn(name=contract.MIGRATION_CHECK.name)
    def migration_check(self, req: MigrationCheckRequest) -> MigrationCheck:
        with boundary():
            return self.gateway.migration_check(req)

    @activity.defn(name=contract.ROLLBACK.name)
    def rollback(self, req: RollbackRequest) -> RollbackResult:
        # The chosen ReplicaSet is heartbeated before the write; Temporal hands the last heartbeat
        # to the next attempt, which therefore restores the same template instead of choosing anew.
        details = activity.info().heartbeat_details
        pinned = details[0].get("target_replica_set") if details and isinstance(details[0], dict) else None
        with rollback_recorded(), boundary():
            return self.gateway.rollback(
                req, pinned_target=pinned, on_target=lambda name: activity.heartbeat({"target_replica_set": name})
            )

    @activity.defn(name=contract.SCALE.name)
    def scale(self, req: ScaleRequest) -> ScaleResult:
        with boundary():
            return self.gateway.scale(req)

    @activity.defn(name=contract.RESOURCE_USAGE.name)
    def resource_usage(self, req: ResourceUsageRequest) -> ResourceUsageReport:
        with boundary():
            return self.gateway.resource_usage(req)

    def all(self) -> list[Callable[..., Any]]:
        """Every activity, in the order of `warroom.contracts.kubernetes.ALL`, then the step catalog's
        (`kube_step_preview`, `kube_step_apply`) over the same gateway."""
        return [
            self.pod_health,
            self.events,
            self.logs,
            self.rollout_status,
            self.rollout_history,
            self.recent_deploy,
            self.migration_check,
            self.rollback,
            self.scale,
            self.resource_usage,
            *KubeStepActivities(self.gateway).all(),
        ]
