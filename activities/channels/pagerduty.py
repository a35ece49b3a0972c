"""Paging through PagerDuty Events API v2: trigger, acknowledge and resolve, `dedup_key` = incident id.

Every page of one incident lands on the same PagerDuty alert (a re-page or an escalation is a
repeated trigger, which PagerDuty de-duplicates and logs on the alert); acknowledging and resolving
act on that alert. What a notification does is `context["page_action"]` if set, else given by its
template (`PAGE_ACTIONS`), else trigger. After a resolve, a later trigger with the same key opens a
new alert (PagerDuty's rule), which is what an overdue PIR page should do.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import SecretStr

from activities.channels._http import ChannelRejected, ChannelUnavailable, HttpClient
from warroom.models import Notification

SERVICE = "pagerduty"
EventAction = Literal["trigger", "acknowledge", "resolve"]
PAGE_ACTIONS: dict[str, EventAction] = {
    "page_acknowledged": "acknowledge",
    "acknowledged": "acknowledge",
    "page_resolved": "resolve",
    "resolved": "resolve",
}
SEVERITY = {"P1": "critical", "P2": "error", "P3": "warning"}
SUMMARY_MAX = 1024
DEDUP_MAX = 255


def page_action(notification: Notification) -> EventAction:
    explicit = notification.context.get("page_action")
    if explicit in ("trigger", "acknowledge", "resolve"):
        return explicit  # type: ignore[return-value]
    return PAGE_ACTIONS.get(notification.template, "trigger")


def dedup_key(incident_id: str) -> str:
    return incident_id[:DEDUP_MAX]


class PagerDutyPager:
    def __init__(
        self,
        http: HttpClient,
        routing_key: SecretStr,
        *,
        events_url: str = "https://events.pagerduty.com/v2/enqueue",
        source: str = "warroom",
    ) -> None:
        self.http = http
        self._routing_key = routing_key
        self.events_url = events_url
        self.source = source

    async def deliver(self, notification: Notification, text: str) -> str:
        action = page_action(notification)
        if action == "trigger":
            return await self.trigger(notification, text)
        return await self.send(action, notification.incident_id)

    async def trigger(self, notification: Notification, text: str) -> str:
        first = next((line.strip() for line in text.splitlines() if line.strip()), notification.template)
        severity = notification.context.get("severity")
        service = notification.context.get("service")
        payload: dict[str, Any] = {
            "summary": first[:SUMMARY_MAX],
            "source": self.source,
            "severity": SEVERITY.get(severity if isinstance(severity, str) else "", "error"),
            "class": notification.template,
            "custom_details": {
                "message": text,
                "audience": notification.audience,
                "on_call": [r.describe for r in notification.recipients if r.person],
                "incident_id": notification.incident_id,
                "kind": notification.channel,
            },
        }
        if isinstance(service, str) and service:
            payload["component"] = service
        return await self.send("trigger", notification.incident_id, payload)

    async def acknowledge(self, incident_id: str) -> str:
        return await self.send("acknowledge", incident_id)

    async def resolve(self, incident_id: str) -> str:
        return await self.send("resolve", incident_id)

    async def send(self, action: EventAction, incident_id: str, payload: dict[str, Any] | None = None) -> str:
        key = self._routing_key.get_secret_value()
        event: dict[str, Any] = {"routing_key": key, "event_action": action, "dedup_key": dedup_key(incident_id)}
        if payload is not None:
            event["payload"] = payload
            event["client"] = "warroom"
        response = await self.http.request(
            SERVICE, f"events {action}", "POST", self.events_url, json=event, secrets=[key]
        )
        try:
            body = response.json()
        except ValueError:
            raise ChannelUnavailable(SERVICE, f"events {action}: the answer was not JSON") from None
        if not isinstance(body, dict) or body.get("status") != "success":
            message = body.get("message") if isinstance(body, dict) else None
            raise ChannelRejected(SERVICE, f"events {action}: {message or 'not accepted'}")
        return f"pagerduty {action} dedup_key={body.get('dedup_key') or dedup_key(incident_id)}"
