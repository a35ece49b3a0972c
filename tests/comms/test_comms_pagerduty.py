"""PagerDuty Events API v2: one alert per incident through trigger → acknowledge → resolve (dedup_key)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import SecretStr

from activities.channels._http import ChannelRejected, DeliveryRetry, HttpClient
from activities.channels.pagerduty import PagerDutyPager
from activities.channels.router import build_router
from tests.comms.fakes import HOSTS, PD_ROUTING_KEY, Sleeps, Vendors, assert_no_secrets, vendor_settings
from warroom.models import Notification

INCIDENT = "order-api-20261128-142301"


def pager(vendors: Vendors, sleeps: Sleeps, key: str = PD_ROUTING_KEY) -> PagerDutyPager:
    http = HttpClient(transport=vendors.transport, sleep=sleeps, retry=DeliveryRetry(backoff=0.01))
    return PagerDutyPager(http, SecretStr(key), events_url=f"https://{HOSTS['pagerduty']}/v2/enqueue")


def page(template: str, **context: object) -> Notification:
    ctx = {"severity": "P1", "service": "order-api", **context}
    return Notification(incident_id=INCIDENT, channel="page", template=template, audience=["alice"], context=ctx)  # type: ignore[arg-type]


async def test_dedup_key_lifecycle(vendors: Vendors, sleeps: Sleeps) -> None:
    pd = pager(vendors, sleeps)
    first = await pd.deliver(page("ic_page"), "🚨 PAGE alice: you are paged as Incident Commander for P1 incident")
    await pd.deliver(page("repage"), "🔁 RE-PAGE alice: not acknowledged after 5m")
    await pd.deliver(page("escalation"), "⬆️ ESCALATION to engineering-team-lead")

    assert first == f"pagerduty trigger dedup_key={INCIDENT}"
    assert len(vendors.pagerduty.alerts) == 1, "re-pages and escalations land on the same alert"
    alert = vendors.pagerduty.alerts[0]
    assert alert["dedup_key"] == INCIDENT and alert["events"] == 3 and alert["status"] == "triggered"

    trigger = vendors.pagerduty.events[0]
    assert trigger["payload"]["severity"] == "critical" and trigger["payload"]["component"] == "order-api"
    assert trigger["payload"]["summary"].startswith("🚨 PAGE alice")
    assert trigger["payload"]["custom_details"]["audience"] == ["alice"]

    await pd.deliver(page("page_acknowledged"), "alice acknowledged")
    assert alert["status"] == "acknowledged"
    assert "payload" not in vendors.pagerduty.events[-1], "acknowledge carries only the dedup_key"

    await pd.deliver(page("anything", page_action="resolve"), "resolved")
    assert alert["status"] == "resolved"

    # After a resolve, a new trigger with the same key is a new alert (e.g. the PIR is overdue).
    await pd.deliver(page("pir_overdue"), "⬆️ the post-incident review is overdue")
    assert [a["status"] for a in vendors.pagerduty.alerts] == ["resolved", "triggered"]


@pytest.mark.parametrize(
    ("severity", "expected"), [("P1", "critical"), ("P2", "error"), ("P3", "warning"), (None, "error")]
)
async def test_severity_maps_to_pagerduty_severity(
    severity: str | None, expected: str, vendors: Vendors, sleeps: Sleeps
) -> None:
    await pager(vendors, sleeps).deliver(page("ic_page", severity=severity), "page")
    assert vendors.pagerduty.events[0]["payload"]["severity"] == expected


async def test_the_router_resolves_the_page_when_the_incident_channel_announces_resolution(
    vendors: Vendors, sleeps: Sleeps, tmp_path: Path
) -> None:
    router = build_router(vendor_settings(tmp_path), transport=vendors.transport, sleep=sleeps)
    await router.deliver(page("ic_page"), "🚨 PAGE alice")
    assert vendors.pagerduty.alerts[0]["status"] == "triggered"
    resolved = Notification(
        incident_id=INCIDENT,
        channel="incident",
        template="resolved",
        context={"channel": "#incident-2026-11-28-order-api-1407"},
    )
    where = await router.deliver(resolved, "RESOLVED: 14:28 UTC. Service restored.")
    assert vendors.pagerduty.alerts[0]["status"] == "resolved"
    assert f"pagerduty resolve dedup_key={INCIDENT}" in where and "slack #incident" in where
    await router.aclose()


async def test_an_invalid_routing_key_is_rejected_without_retry_or_leak(vendors: Vendors, sleeps: Sleeps) -> None:
    wrong = "WRONGKEY0123456789abcdefabcdef00"
    with pytest.raises(ChannelRejected, match="HTTP 400") as caught:
        await pager(vendors, sleeps, key=wrong).deliver(page("ic_page"), "page")
    assert len(vendors.pagerduty.requests) == 1 and sleeps.delays == []
    assert wrong not in str(caught.value)
    assert_no_secrets(caught.value)
    sent = json.loads(vendors.pagerduty.requests[0].content)
    assert sent["routing_key"] == wrong, "the key travels in the body, as the Events API wants"
