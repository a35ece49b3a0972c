"""Every activity a worker registers, configured or not.

Integrations that are not configured (no Prometheus URL, no kubeconfig) still register their
activities, which then fail at once with `NotConfigured`, so a workflow learns "no metrics source"
in milliseconds instead of waiting for a worker that never comes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.ansible import AnsibleSettings, PlaybookRunner
from activities.metrics import MetricsActivities, PrometheusSource
from activities.notify import Notifier, NotifyActivities

METRICS_ACTIVITIES = ("read_error_ratio", "check_clean_window")
KUBE_ACTIVITIES = (
    "kube_pod_health",
    "kube_events",
    "kube_logs",
    "kube_rollout_status",
    "kube_rollout_history",
    "kube_recent_deploy",
    "kube_migration_check",
    "kube_rollback",
    "kube_scale",
)


def not_configured(name: str, hint: str) -> Callable[..., Any]:
    """An activity that answers at once: this integration is not set up on this worker."""

    @activity.defn(name=name)
    async def unavailable(_: dict[str, Any]) -> None:
        raise ApplicationError(
            f"{name}: not configured on this worker ({hint})", type="NotConfigured", non_retryable=True
        )

    return unavailable


def build_activities(
    notifier: Notifier,
    templates_dir: str | None = None,
    metrics: PrometheusSource | None = None,
    kube_activities: Sequence[Callable[..., Any]] | None = None,
    ansible: PlaybookRunner | None = None,
    extra_activities: Sequence[Callable[..., Any]] = (),
) -> list[Callable[..., Any]]:
    """Every activity of every family: the configured implementation, else a `not_configured` stand-in."""
    acts: list[Callable[..., Any]] = [NotifyActivities(notifier, templates_dir).notify, *extra_activities]
    acts += (ansible or PlaybookRunner(AnsibleSettings())).activities()
    if metrics is not None:
        m = MetricsActivities(metrics)
        acts += [m.read_error_ratio, m.check_clean_window]
    else:
        acts += [not_configured(n, "set WARROOM_PROMETHEUS_URL") for n in METRICS_ACTIVITIES]
    if kube_activities is not None:
        acts += list(kube_activities)
    else:
        acts += [not_configured(n, "set WARROOM_KUBECONFIG or run in a cluster") for n in KUBE_ACTIVITIES]
    return acts
