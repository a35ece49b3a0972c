"""Pages reach a person: with WARROOM_ONCALL, each page's roles resolve, when it fires, to the person
on call then, under time skipping, on both sides of each acknowledgement boundary.

The worker here has a roster (people with contacts, a team owning order-api); the rest of the
suite runs without one, where pages name roles exactly as before.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from activities.oncall import OncallResolver
from tests.helpers import MINUTE, SECOND, Harness, Scene, assert_eventually, incident_input, running_worker, state_of
from warroom.contracts.oncall import AddOverride
from warroom.enums import Phase, Update
from warroom.models import Acknowledge, Alert, ImpactSignals
from warroom.oncall.directory import Directory
from warroom.oncall.models import OncallConfig
from warroom.oncall_roster import add_override, names_of
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


async def test_a_roster_change_mid_incident_sends_the_next_page_to_the_new_person(
    skipping_env: WorkflowEnvironment, harness: Harness
) -> None:
    handle = await harness.start(incident_input(alert=QUIET, runbook=pages_open()))
    scene = Scene(skipping_env, harness.sink, handle)
    await scene.expect_count("oncall_page", 1)
    assert sent(harness, "oncall_page")[0][0] == ["bob"]
    now = await skipping_env.get_current_time()
    swap = AddOverride(
        team="orders", person="dave", start=now, end=now + timedelta(hours=2), reason="bob's phone died", by="carol"
    )
    made = await add_override(harness.client, harness.queue, names_of(ROSTER), swap)
    assert (made.id, made.created_by) == ("ovr-1", "carol")

    await scene.advance(5 * MINUTE + SECOND)
    await scene.expect_count("repage", 1)
    assert sent(harness, "repage")[0][0] == ["dave"]
    state = await state_of(handle)
    [repaged] = [e for e in state.timeline if e.kind == "ack_repage"]
    assert repaged.data["paged"] == "dave (on-call-engineer, team orders, override ovr-1)"


def with_a_gap(now: datetime) -> OncallConfig:
    """The on-call layer is on duty for one hour, twelve hours from `now`: nobody is on call now."""
    window = (now + timedelta(hours=12)).replace(minute=0, second=0, microsecond=0)
    data = ROSTER.model_dump(mode="json")
    data["schedules"] = [
        {
            "name": "orders-primary",
            "layers": [
                {
                    "name": "one-hour",
                    "rotation": "daily",
                    "start": (now - timedelta(days=3)).date().isoformat(),
                    "members": ["bob"],
                    "restrictions": [{"start": f"{window:%H:%M}", "end": f"{window + timedelta(hours=1):%H:%M}"}],
                }
            ],
        }
    ]
    data["teams"][0]["roles"]["on-call-engineer"] = {"schedule": "orders-primary"}
    return OncallConfig.model_validate(data)


async def test_a_gap_in_the_schedule_pages_the_next_level_at_once_and_is_recorded(
    skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    roster = with_a_gap(await skipping_env.get_current_time())
    resolver = OncallResolver(Directory.of(roster))
    async with running_worker(skipping_env.client, tmp_path, oncall=resolver) as harness:
        handle = await harness.start(incident_input(alert=QUIET, runbook=pages_open()))
        scene = Scene(skipping_env, harness.sink, handle)
        await scene.expect_count("oncall_page", 1)
        [(audience, text)] = sent(harness, "oncall_page")
        assert audience == ["carol"]
        assert "Carol Diaz (engineering-team-lead, for on-call-engineer: nobody on call)" in text

        async def gap_recorded() -> None:
            state = await state_of(handle)
            [gap] = [e for e in state.timeline if e.kind == "oncall_gap"]
            assert gap.message == (
                "on-call-engineer of team orders resolved to nobody (schedule orders-primary) for 'oncall_page': "
                "paged carol (engineering-team-lead, team orders) instead"
            )
            assert gap.data == {"role": "on-call-engineer", "team": "orders", "paged_instead": "carol"}

        await assert_eventually(gap_recorded)
