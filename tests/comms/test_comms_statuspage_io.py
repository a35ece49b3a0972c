"""Atlassian Statuspage: create, update, resolve one incident — its id remembered across restarts."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from activities.channels._http import ChannelAuthError, DeliveryRetry, HttpClient
from activities.channels.statuspage_io import AtlassianStatuspage
from tests.comms.fakes import HOSTS, SP_API_KEY, SP_COMPONENT, SP_PAGE, Sleeps, Vendors, assert_no_secrets
from warroom.models import Notification

TITLE = "Elevated Error Rate — Order Api"


def statuspage(vendors: Vendors, sleeps: Sleeps, data_dir: Path, key: str = SP_API_KEY) -> AtlassianStatuspage:
    http = HttpClient(transport=vendors.transport, sleep=sleeps, retry=DeliveryRetry(backoff=0.01))
    return AtlassianStatuspage(
        http,
        SecretStr(key),
        SP_PAGE,
        data_dir=data_dir,
        component_id=SP_COMPONENT,
        api_url=f"https://{HOSTS['statuspage']}/v1",
        component_impact="major_outage",
    )


def post(template: str, incident_id: str = "order-api-1", **context: object) -> Notification:
    return Notification(
        incident_id=incident_id,
        channel="status_page",
        template=template,
        audience=["status-page"],
        context={"title": TITLE, **context},
    )  # type: ignore[arg-type]


async def test_create_update_resolve_with_the_id_remembered_across_a_restart(
    vendors: Vendors, sleeps: Sleeps, tmp_path: Path
) -> None:
    sp = vendors.statuspage
    first = await statuspage(vendors, sleeps, tmp_path).deliver(
        post("status_initial"), f"INVESTIGATING: {TITLE}\nWe are currently investigating elevated error rates."
    )
    assert first == "statuspage incident sp1 created: investigating"
    assert sp.incidents["sp1"]["name"] == TITLE and sp.incidents["sp1"]["status"] == "investigating"
    assert sp.components[SP_COMPONENT] == "major_outage"

    await statuspage(vendors, sleeps, tmp_path).deliver(
        post("status_update", public_status="identified"), f"IDENTIFIED: {TITLE}\nA deployment caused it."
    )
    assert sp.incidents["sp1"]["status"] == "identified"

    # A new adapter instance, as after a worker restart: only the data dir is shared.
    restarted = statuspage(vendors, sleeps, tmp_path)
    await restarted.deliver(post("status_update", public_status="monitoring"), f"MONITORING: {TITLE}\nRolled back.")
    assert sp.components[SP_COMPONENT] == "degraded_performance"
    last = await restarted.deliver(post("status_resolved"), f"RESOLVED: {TITLE} — 14:28 UTC\nOperating normally.")

    assert last == "statuspage incident sp1 updated: resolved"
    assert list(sp.incidents) == ["sp1"], "one Statuspage incident for the whole lifecycle"
    assert [u["status"] for u in reversed(sp.incidents["sp1"]["incident_updates"])] == [
        "investigating",
        "identified",
        "monitoring",
        "resolved",
    ]
    assert sp.components[SP_COMPONENT] == "operational"
    assert [r.method for r in sp.requests] == ["POST", "PATCH", "PATCH", "PATCH"]
    body = sp.requests[-1].content.decode()
    assert '"deliver_notifications":true' in body.replace(" ", "")
    assert (tmp_path / "statuspage" / "incidents.json").exists()


async def test_each_warroom_incident_gets_its_own_statuspage_incident(
    vendors: Vendors, sleeps: Sleeps, tmp_path: Path
) -> None:
    adapter = statuspage(vendors, sleeps, tmp_path)
    await adapter.deliver(post("status_initial", incident_id="a"), "INVESTIGATING: a")
    await adapter.deliver(post("status_initial", incident_id="b"), "INVESTIGATING: b")
    await adapter.deliver(post("still_investigating", incident_id="a"), "INVESTIGATING: still")
    assert list(vendors.statuspage.incidents) == ["sp1", "sp2"]
    assert len(vendors.statuspage.incidents["sp1"]["incident_updates"]) == 2


async def test_an_incident_deleted_on_statuspage_is_created_again(
    vendors: Vendors, sleeps: Sleeps, tmp_path: Path
) -> None:
    adapter = statuspage(vendors, sleeps, tmp_path)
    await adapter.deliver(post("status_initial"), "INVESTIGATING: x")
    vendors.statuspage.incidents.clear()
    where = await adapter.deliver(post("still_investigating"), "INVESTIGATING: still")
    assert where == "statuspage incident sp2 created: investigating"
    assert await adapter.ids.get("order-api-1") == "sp2"


@pytest.mark.parametrize(
    ("template", "context", "text", "status"),
    [
        ("status_initial", {}, "whatever", "investigating"),
        ("still_investigating", {}, "whatever", "investigating"),
        ("status_update", {"public_status": "identified"}, "IDENTIFIED: x", "identified"),
        ("status_resolved", {}, "whatever", "resolved"),
        ("team_custom", {}, "Monitoring: the fix is out", "monitoring"),
    ],
)
async def test_status_follows_the_message(
    template: str, context: dict, text: str, status: str, vendors: Vendors, sleeps: Sleeps, tmp_path: Path
) -> None:
    await statuspage(vendors, sleeps, tmp_path).deliver(post(template, **context), text)
    assert vendors.statuspage.incidents["sp1"]["status"] == status


async def test_a_bad_api_key_is_a_credentials_error_without_the_key(
    vendors: Vendors, sleeps: Sleeps, tmp_path: Path
) -> None:
    with pytest.raises(ChannelAuthError) as caught:
        await statuspage(vendors, sleeps, tmp_path, key="sp-wrong-key-000").deliver(post("status_initial"), "x")
    assert "sp-wrong-key-000" not in str(caught.value)
    assert_no_secrets(caught.value)
