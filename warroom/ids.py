"""Workflow ids: the one place that knows how an incident id becomes Temporal's workflow ids.

They are wire names: the Web UI's links, `temporal workflow ...` commands and running incidents
depend on them (pinned by `tests/test_wire_names.py`).
"""

from __future__ import annotations

from datetime import date

from warroom.enums import Phase

WORKFLOW_PREFIX = "incident-"


def incident_workflow_id(incident_id: str) -> str:
    """`incident-<id>`: the workflow that owns the incident."""
    return WORKFLOW_PREFIX + incident_id


def workflow_id_for(reference: str) -> str:
    """What a person typed (`order-api-20261128-142301` or `incident-order-api-...`) as the workflow id."""
    return reference if reference.startswith(WORKFLOW_PREFIX) else incident_workflow_id(reference)


def incident_id_of(workflow_id: str) -> str:
    """The incident id inside `incident-<id>`."""
    return workflow_id.removeprefix(WORKFLOW_PREFIX)


def phase_workflow_id(incident_workflow_id: str, phase: Phase) -> str:
    """`incident-<id>--<phase>`: each phase runs as a child workflow under this id."""
    return f"{incident_workflow_id}--{phase.value}"


CHANNEL_SEQUENCE_PREFIX = "channel-sequence-"


def channel_sequence_workflow_id(day: date, task_queue: str) -> str:
    """`channel-sequence-<YYYY-MM-DD>-<task queue>`: the one workflow that numbers a day's incident
    channels for the workers of one task queue (a workflow runs on the queue it started on)."""
    return f"{CHANNEL_SEQUENCE_PREFIX}{day:%Y-%m-%d}-{task_queue}"
