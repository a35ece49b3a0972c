"""Pages reach a person: with WARROOM_ONCALL, each page's roles resolve, when it fires, to the person
on call then, under time skipping, on both sides of each acknowledgement boundary.

The worker here has a roster (people with contacts, a team owning order-api); the rest of the
suite runs without one, where pages name roles exactly as before.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from activities.oncall import OncallResolver
from tests.helpers import MINUTE, SECOND, Harness, Scene, incident_input, running_worker, state_of
from warroom.enums import Phase, Update
from warroom.models import Acknowledge, Alert, ImpactSignals
from warroom.oncall.directory import Directory
from warroom.oncall.models import OncallConfig
from warroom.runbook import load_runbook

ROSTER = OncallConfig.model_validate(
    {
        "people": [
            {"name": "bob", "display_name": "Bob Ng", "contacts": {"email": "bob@example.com", "slack_id": "U0BOB"}},
            {"name": "carol", "display_name": "Carol Diaz", "contacts": {"email": "carol@example.com"}},
            {"name": "dave", "contacts": {"email": "dave@example.com"}},
        ],
        "teams": [
            {
                "name": "orders",
                "services": ["order-api"],
                "roles": {
                    "on-call-engineer": {"person": "bob"},
                    "engineering-team-lead": {"person": "carol"},
                    "engineering-manager": {"person": "dave"},
                },
            }
        ],
    }
)
QUIET = Alert(fingerprint="fp-1", summary="error ratio 0.5%", signals=ImpactSignals(user_error_ratio=0.005))


@pytest.fixture
async def harness(skipping_env: WorkflowEnvironment, tmp_path: Path) -> AsyncIterator[Harness]:
    async with running_worker(skipping_env.client, tmp_path, oncall=OncallResolver(Directory.of(ROSTER))) as running:
        yield running


def pages_open() -> object:
    runbook = load_runbook()
    ack = runbook.acknowledgement.model_copy(update={"page_at_open": True})
    return runbook.model_copy(update={"acknowledgement": ack})


def sent(harness: Harness, template: str) -> list[tuple[list[str], str]]:
    return [(audience, text) for _, name, audience, text in harness.sink.sent if name == template]


async def test_the_on_call_is_paged_by_name_at_open_then_repaged_then_the_lead_is_paged(
    skipping_env: WorkflowEnvironment, harness: Harness
) -> None:
    handle = await harness.start(incident_input(alert=QUIET, runbook=pages_open()))
    scene = Scene(skipping_env, harness.sink, handle)
    await scene.expect_count("oncall_page", 1)
    [(audience, text)] = sent(harness, "oncall_page")
    assert audience == ["bob"]
    assert text.startswith("📟 PAGE Bob Ng (on-call-engineer):")

    await scene.advance(5 * MINUTE - SECOND)
    await scene.expect_count("repage", 0)
    await scene.advance(2 * SECOND)
    await scene.expect_count("repage", 1)
    assert sent(harness, "repage")[0][0] == ["bob"]

    await scene.advance(10 * MINUTE - 2 * SECOND)
    await scene.expect_count("escalation", 0)
    await scene.advance(2 * SECOND)
    await scene.expect_count("escalation", 1)
    [(audience, text)] = sent(harness, "escalation")
    assert audience == ["carol"]
    assert text.startswith("⬆️ ESCALATION to Carol Diaz (engineering-team-lead):")

    state = await state_of(handle)
    paged = {
        e.kind: e.data.get("paged") for e in state.timeline if e.kind in ("ack_page", "ack_repage", "ack_escalate")
    }
    assert paged == {
        "ack_page": "bob (on-call-engineer, team orders)",
        "ack_repage": "bob (on-call-engineer, team orders)",
        "ack_escalate": "carol (engineering-team-lead, team orders)",
    }
    assert state.escalated_to == ["engineering-team-lead"]  # the role, as the matrix names it


async def test_acknowledging_names_who_acknowledged_and_stops_the_pages(
    skipping_env: WorkflowEnvironment, harness: Harness
) -> None:
    handle = await harness.start(incident_input(alert=QUIET, runbook=pages_open()))
    scene = Scene(skipping_env, harness.sink, handle)
    await scene.expect_count("oncall_page", 1)
    await handle.execute_update(Update.ACKNOWLEDGE, Acknowledge(by="bob"))
    await scene.advance(20 * MINUTE)
    await scene.phase_is(Phase.DETECTION)
    assert harness.sink.count("repage") == 0 and harness.sink.count("escalation") == 0
    state = await state_of(handle)
    assert state.acknowledged_by == "bob"
    assert [e.actor for e in state.timeline if e.kind == "acknowledged"] == ["bob"]


async def test_without_page_at_open_the_alert_source_pages_and_warroom_repages_by_name(
    skipping_env: WorkflowEnvironment, harness: Harness
) -> None:
    handle = await harness.start(incident_input(alert=QUIET))
    scene = Scene(skipping_env, harness.sink, handle)
    await scene.advance(5 * MINUTE + SECOND)
    await scene.expect_count("repage", 1)
    assert harness.sink.count("oncall_page") == 0
    assert sent(harness, "repage")[0][0] == ["bob"]
