"""Wire names are a public API: running incidents, the Web UI's users and their scripts depend on them.

The names below are what Temporal sees: workflow types, their signals, queries and updates, the
activity types, the search attributes and the workflow ids. A method renamed in Python must not
rename any of them; this test fails first. Change a line here only together with a migration
note in the README and a `workflow.patched` guard where running incidents are concerned.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Iterator
from types import ModuleType

from temporalio import activity, workflow

import activities
import workflows

PHASE_SIGNALS = {"signals": ["incident_changed", "parent_continues", "runbook_adopted"], "queries": [], "updates": []}

WORKFLOWS = {
    "Incident": {
        "signals": ["alert", "phase_event", "phase_events", "phase_finished"],
        "queries": ["state"],
        "updates": [
            "acknowledge",
            "adopt_runbook",
            "approve",
            "assign_role",
            "cancel_step",
            "complete_action_item",
            "complete_pir",
            "declare",
            "deny",
            "ingest_alert",
            "ingest_alerts",
            "mark_mitigated",
            "post_update",
            "propose_step",
            "resolve",
            "set_flags",
            "set_severity",
        ],
    },
    "DetectionPhase": PHASE_SIGNALS,
    "DeclarePhase": PHASE_SIGNALS,
    "CommandPhase": PHASE_SIGNALS,
    "ResolvePhase": PHASE_SIGNALS,
    "RetrospectivePhase": PHASE_SIGNALS,
    "ChannelSequence": {"signals": [], "queries": [], "updates": ["next_number"]},
    "Roster": {"signals": [], "queries": ["overrides"], "updates": ["add_override", "remove_override", "sync_roster"]},
}

ACTIVITIES = [
    "ansible_host_diagnostics",
    "ansible_postgres_health",
    "ansible_run_playbook",
    "ansible_service_logs",
    "ansible_step_apply",
    "ansible_step_preview",
    "check_clean_window",
    "http_step_apply",
    "kube_events",
    "kube_logs",
    "kube_migration_check",
    "kube_pod_health",
    "kube_recent_deploy",
    "kube_resource_usage",
    "kube_rollback",
    "kube_rollout_history",
    "kube_rollout_status",
    "kube_scale",
    "kube_step_apply",
    "kube_step_preview",
    "metrics_promql_check",
    "next_channel_number",
    "notify",
    "notify_batch",
    "phase_status",
    "read_diagnosis_metrics",
    "read_error_ratio",
]

SEARCH_ATTRIBUTES = ["IncidentCommander", "IncidentPhase", "IncidentService", "IncidentSeverity"]


def _modules(package: ModuleType) -> Iterator[ModuleType]:
    yield package
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        yield importlib.import_module(info.name)


def _workflow_definitions() -> dict[str, workflow._Definition]:
    found: dict[str, workflow._Definition] = {}
    for module in _modules(workflows):
        for obj in vars(module).values():
            if inspect.isclass(obj) and obj.__module__ == module.__name__:
                definition = workflow._Definition.from_class(obj)
                if definition is not None and definition.name is not None:
                    found[definition.name] = definition
    return found


def _activity_names() -> set[str]:
    names: set[str] = set()
    for module in _modules(activities):
        for obj in vars(module).values():
            candidates = list(vars(obj).values()) if inspect.isclass(obj) else [obj]
            for candidate in candidates:
                definition = activity._Definition.from_callable(candidate) if callable(candidate) else None
                if definition is not None and definition.name is not None:
                    names.add(definition.name)
    return names


def test_workflow_types_and_their_handlers_keep_their_names() -> None:
    found = {
        name: {
            "signals": sorted(k for k in d.signals if k),
            "queries": sorted(k for k in d.queries if k),
            "updates": sorted(k for k in d.updates if k),
        }
        for name, d in _workflow_definitions().items()
    }
    assert found == WORKFLOWS


def test_activity_types_keep_their_names() -> None:
    assert sorted(_activity_names()) == ACTIVITIES


def test_the_worker_registers_every_workflow_it_defines() -> None:
    from workflows.registry import WORKFLOWS as REGISTERED

    registered = {workflow._Definition.must_from_class(cls).name for cls in REGISTERED}
    assert registered == set(WORKFLOWS)


def test_search_attributes_keep_their_names() -> None:
    from warroom import search

    assert sorted(attr.name for attr in search.ALL) == SEARCH_ATTRIBUTES


def test_incident_and_phase_workflow_ids_keep_their_shape() -> None:
    from warroom.enums import Phase
    from warroom.ids import incident_workflow_id, phase_workflow_id

    assert incident_workflow_id("order-api-20261128-142301") == "incident-order-api-20261128-142301"
    assert phase_workflow_id("incident-order-api-20261128-142301", Phase.COMMAND) == (
        "incident-order-api-20261128-142301--command"
    )


def test_the_channel_sequence_workflow_id_keeps_its_shape() -> None:
    from datetime import date

    from warroom.ids import channel_sequence_workflow_id

    assert channel_sequence_workflow_id(date(2026, 11, 28), "warroom") == "channel-sequence-2026-11-28-warroom"
