"""The patch bundle (warroom.patches): a new run writes one patch marker however many changes it
follows; a history recorded before the bundle replays with one marker per change, as it was written."""

from __future__ import annotations

import ast
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from tests.helpers import Harness, assert_eventually, incident_input, patch_markers, running_worker, state_of
from warroom.client import DATA_CONVERTER
from warroom.enums import Phase, Severity
from warroom.ids import phase_workflow_id
from warroom.patches import BUNDLE, BUNDLED, taken
from warroom.policy.revisions import REVISIONS
from warroom.worker import workflow_runner
from workflows.registry import WORKFLOWS

ROOT = Path(__file__).resolve().parents[2]
PRE_BUNDLE = Path(__file__).parent / "histories" / "incident-order-api-pre-lean.json"


def change_version_upserts(history: WorkflowHistory) -> int:
    return sum(
        1
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES
        and "TemporalChangeVersion"
        in e.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields
    )


@pytest.fixture
async def harness(skipping_env: WorkflowEnvironment, tmp_path: Path) -> AsyncIterator[Harness]:
    async with running_worker(skipping_env.client, tmp_path) as h:
        yield h


async def test_a_new_incident_and_its_phase_write_one_patch_marker_each(
    skipping_env: WorkflowEnvironment, harness: Harness
) -> None:
    handle = await harness.start(
        incident_input(declared=True, declared_by="alice", severity=Severity.P2, commander="alice")
    )
    command_handle = skipping_env.client.get_workflow_handle(phase_workflow_id(handle.id, Phase.COMMAND))

    async def in_command() -> None:
        assert (await state_of(handle)).phase == Phase.COMMAND
        assert patch_markers(await command_handle.fetch_history())

    await assert_eventually(in_command)
    incident, command = await handle.fetch_history(), await command_handle.fetch_history()
    # Before the bundle: 12 markers and 12 upserts of TemporalChangeVersion in the incident alone.
    assert patch_markers(incident) == [BUNDLE]
    assert patch_markers(command) == [BUNDLE]
    assert change_version_upserts(incident) == change_version_upserts(command) == 1
    # Every revised rule is on, as it was when each had its own marker.
    assert (await state_of(handle)).revisions == list(REVISIONS)
    replayer = Replayer(workflows=WORKFLOWS, data_converter=DATA_CONVERTER, workflow_runner=workflow_runner(True))
    for history in (incident, command):
        await replayer.replay_workflow(history)


@pytest.mark.parametrize("sandboxed", [True, False], ids=["sandboxed", "unsandboxed"])
async def test_a_history_recorded_before_the_bundle_replays_marker_for_marker(sandboxed: bool) -> None:
    history = WorkflowHistory.from_json(PRE_BUNDLE.stem, PRE_BUNDLE.read_text())
    markers = patch_markers(history)
    assert BUNDLE not in markers and len(markers) >= 9, markers  # one per change, the revisions among them
    replayer = Replayer(workflows=WORKFLOWS, data_converter=DATA_CONVERTER, workflow_runner=workflow_runner(sandboxed))
    await replayer.replay_workflow(history)


def test_workflows_ask_for_a_patch_only_through_the_bundle() -> None:
    """A direct `workflow.patched` would write a marker per id again in every new run."""
    direct = []
    for path in sorted((ROOT / "workflows").glob("*.py")):
        if path.name == "_patches.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr == "patched" and isinstance(node.value, ast.Name):
                direct.append(f"{path.name}:{node.lineno}")
    assert direct == []


def test_the_shipped_bundle_never_changes() -> None:
    """Runs recorded with the bundle replay with exactly these ids on: a change to the set would
    switch a change on or off in the middle of their histories. A new change takes its own id."""
    digest = hashlib.sha256("\n".join(sorted(BUNDLED)).encode()).hexdigest()
    assert (len(BUNDLED), digest[:16]) == (39, "18d9f84e0b13daeb")
    assert set(REVISIONS) <= BUNDLED


def test_a_recording_names_every_change_the_bundle_stands_for() -> None:
    assert taken(["ack-is-not-command", BUNDLE, "a-later-change"]) == [
        "ack-is-not-command",
        *sorted(BUNDLED - {"ack-is-not-command"}),
        "a-later-change",
    ]
    assert taken(["channel-sequence", "channel-sequence"]) == ["channel-sequence"]
