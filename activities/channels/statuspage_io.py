"""The public status page on Atlassian Statuspage (REST API v1).

The first status_page message of an incident creates a Statuspage incident; later ones update it
(status investigating / identified / monitoring / resolved, the message as the update body, and
the configured component's impact). The Statuspage incident id is kept per warroom incident in
`<data_dir>/statuspage/incidents.json` (atomic writes under a file lock), so a restarted worker —
or another worker on the same host — updates the same incident instead of opening a second one.
If Statuspage no longer knows that id (deleted by hand), a new incident is created.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import SecretStr

from activities.channels._http import ChannelRejected, ChannelUnavailable, HttpClient
from warroom.enums import PublicStatus
from warroom.models import Notification
from warroom.statuspage.store import public_status, public_title, update_json

SERVICE = "statuspage"
ComponentStatus = Literal["operational", "degraded_performance", "partial_outage", "major_outage"]


class IncidentIds:
    """warroom incident id → Statuspage incident id, in a small JSON file that survives restarts."""

    def __init__(self, path: Path) -> None:
        self.path = path

    async def get(self, incident_id: str) -> str | None:
        return await asyncio.to_thread(self._get, incident_id)

    async def put(self, incident_id: str, statuspage_id: str, status: str) -> None:
        await asyncio.to_thread(self._put, incident_id, statuspage_id, status)

    def _get(self, incident_id: str) -> str | None:
        try:  # written by atomic replace: a reader never sees half a file
            entry = json.loads(self.path.read_text(encoding="utf-8")).get(incident_id)
        except FileNotFoundError:
            return None
        return entry.get("id") if isinstance(entry, dict) else None

    def _put(self, incident_id: str, statuspage_id: str, status: str) -> None:
        stamp = datetime.now(UTC).isoformat()

        def change(current: dict[str, Any]) -> dict[str, Any]:
            current[incident_id] = {"id": statuspage_id, "status": status, "updated_at": stamp}
            return current

        update_json(self.path, change)


class AtlassianStatuspage:
    def __init__(
        self,
        http: HttpClient,
        api_key: SecretStr,
        page_id: str,
        *,
        data_dir: Path,
        component_id: str | None = None,
        api_url: str = "https://api.statuspage.io/v1",
        component_impact: ComponentStatus = "partial_outage",
        deliver_notifications: bool = True,
    ) -> None:
        self.http = http
        self._api_key = api_key
        self.page_id = page_id
        self.component_id = component_id
        self.api_url = api_url.rstrip("/")
        self.component_impact = component_impact
        self.deliver_notifications = deliver_notifications
        self.ids = IncidentIds(Path(data_dir) / "statuspage" / "incidents.json")

    def component_status(self, status: PublicStatus) -> ComponentStatus:
        """Impact while investigating/identified; degraded while monitoring; operational once resolved."""
        if status == "resolved":
            return "operational"
        if status == "monitoring":
            return "degraded_performance"
        return self.component_impact

    async def deliver(self, notification: Notification, text: str) -> str:
        status = public_status(notification, text)
        incident: dict[str, Any] = {
            "name": public_title(notification, text),
            "status": status,
            "body": text,
            "deliver_notifications": self.deliver_notifications,
        }
        if self.component_id:
            incident["component_ids"] = [self.component_id]
            incident["components"] = {self.component_id: self.component_status(status)}
        known = await self.ids.get(notification.incident_id)
        if known:
            try:
                await self._request(
                    "update", "PATCH", f"/pages/{self.page_id}/incidents/{known}", {"incident": incident}
                )
                await self.ids.put(notification.incident_id, known, status)
                return f"statuspage incident {known} updated: {status}"
            except ChannelRejected as err:
                if err.status != 404:
                    raise
        created = await self._request("create", "POST", f"/pages/{self.page_id}/incidents", {"incident": incident})
        new_id = created.get("id")
        if not isinstance(new_id, str) or not new_id:
            raise ChannelUnavailable(SERVICE, "create: the answer has no incident id")
        await self.ids.put(notification.incident_id, new_id, status)
        return f"statuspage incident {new_id} created: {status}"

    async def _request(self, label: str, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        key = self._api_key.get_secret_value()
        response = await self.http.request(
            SERVICE,
            label,
            method,
            f"{self.api_url}{path}",
            json=body,
            headers={"Authorization": f"OAuth {key}"},
            secrets=[key],
        )
        try:
            data = response.json()
        except ValueError:
            raise ChannelUnavailable(SERVICE, f"{label}: the answer was not JSON") from None
        return data if isinstance(data, dict) else {}
