"""Every activity a worker registers, configured or not.

Integrations that are not configured (no Prometheus URL, no kubeconfig) still register their
activities, which then fail at once with `NotConfigured`, so a workflow learns "no metrics source"
in milliseconds instead of waiting for a worker that never comes. The names come from the
contracts (`warroom.contracts`), where each is written once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from temporalio import activity

from activities.ansible import AnsibleSettings, PlaybookRunner
from activities.diagnosis_metrics import DiagnosisMetricsActivities
from activities.http_steps import HttpStepActivities
from activities.metrics import MetricsActivities, PrometheusSource
from activities.notify import Notifier, NotifyActivities
from activities.phases import phase_status
from activities.sequence import next_channel_number
from warroom.contracts import kubernetes as kube_contracts
from warroom.contracts import metrics as metrics_contracts
from warroom.contracts import steps as step_contracts
from warroom.contracts.base import AnyContract
from warroom.contracts.errors import NotConfigured, boundary

if TYPE_CHECKING:  # only a worker with WARROOM_ONCALL builds a resolver (and loads iCalendar for it)
    from activities.oncall import OncallResolver

METRICS: tuple[AnyContract, ...] = metrics_contracts.ALL
"""Registered as stand-ins when no Prometheus URL is set."""
KUBE: tuple[AnyContract, ...] = kube_contracts.ALL
"""Registered as stand-ins when no cluster config is found."""


def not_configured(contract: AnyContract, hint: str) -> Callable[..., Any]:
    """An activity that answers at once: this integration is not set up on this worker."""

    @activity.defn(name=contract.name)
    async def unavailable(_: dict[str, Any]) -> None:
        with boundary():
            raise NotConfigured(f"{contract.name}: not configured on this worker ({hint})")

    return unavailable


def build_activities(
    notifier: Notifier,
    templates_dir: str | None = None,
    metrics: PrometheusSource | None = None,
    kube_activities: Sequence[Callable[..., Any]] | None = None,
    ansible: PlaybookRunner | None = None,
    http_steps: HttpStepActivities | None = None,
    extra_activities: Sequence[Callable[..., Any]] = (),
    oncall: OncallResolver | None = None,
) -> list[Callable[..., Any]]:
    """Every activity of every family: the configured implementation, else a `not_configured` stand-in.
    `oncall`: pages resolve roles to people (WARROOM_ONCALL); without it they name roles, as before."""
    notify = NotifyActivities(notifier, templates_dir, oncall)
    acts: list[Callable[..., Any]] = [notify.notify, notify.notify_batch, *extra_activities]
    acts += [next_channel_number, phase_status]  # need only the worker's own Temporal client
    acts += (ansible or PlaybookRunner(AnsibleSettings())).activities()
    acts += (http_steps or HttpStepActivities()).activities()
    if metrics is not None:
        m = MetricsActivities(metrics)
        acts += [m.read_error_ratio, m.check_clean_window, m.promql_check]
        acts.append(DiagnosisMetricsActivities(metrics).read_diagnosis_metrics)
    else:
        acts += [not_configured(c, "set WARROOM_PROMETHEUS_URL") for c in METRICS]
    if kube_activities is not None:
        acts += list(kube_activities)
    else:
        acts += [not_configured(c, "set WARROOM_KUBECONFIG or run in a cluster") for c in KUBE]
    return acts + _step_stand_ins(acts)


_STEP_HINTS = {
    **{c.name: "set WARROOM_KUBECONFIG or run in a cluster" for c in step_contracts.KUBE},
    **{c.name: "set WARROOM_PROMETHEUS_URL" for c in step_contracts.METRICS},
}


def _step_stand_ins(registered: Sequence[Callable[..., Any]]) -> list[Callable[..., Any]]:
    """The step catalog's activities that no family above registered: a step of that kind fails its
    preview at once, saying what is missing, instead of waiting for a worker that never comes."""
    names = {activity._Definition.must_from_callable(fn).name for fn in registered}
    return [
        not_configured(c, _STEP_HINTS.get(c.name, "not available on this worker"))
        for c in step_contracts.ALL
        if c.name not in names
    ]
