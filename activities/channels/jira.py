"""The incident ticket in Jira Cloud (REST API v3): opened at declaration, the timeline added at resolution.

    POST /rest/api/3/search/jql             find the incident's issue by its label (the dedup key)
    POST /rest/api/3/issue                  open it: summary, issue type, labels, an ADF description
    GET  /rest/api/3/issue/{key}/comment    is the timeline already there?
    POST /rest/api/3/issue/{key}/comment    add the timeline (ADF)

Basic auth with the account's e-mail and an API token. Reads retry inside the activity; the two
creating POSTs are sent once per attempt, because the next attempt looks before it creates (the
local record first, then Jira's search, which may need a few seconds to see a new issue).
"""

from __future__ import annotations

import base64
import re
from typing import Any

from pydantic import SecretStr

from activities.channels._http import ChannelUnavailable, HttpClient
from activities.tickets import (
    TicketRecord,
    TicketRecords,
    action,
    dedup_label,
    fallback_title,
    timeline_marker,
    title_and_body,
)
from warroom.models import Notification

SERVICE = "jira"
ISSUE_KEY = re.compile(r"^[A-Z][A-Z0-9_]*-[0-9]{1,12}$")
_URL = re.compile(r"https?://[^\s<>\"']+")
_BULLET = ("- ", "• ")
COMMENTS_SEARCHED = 100  # the newest comments looked through for the timeline marker


def _inline(line: str) -> list[dict[str, Any]]:
    """Text nodes for one line, URLs as links (ADF text nodes may not be empty)."""
    nodes: list[dict[str, Any]] = []
    at = 0
    for match in _URL.finditer(line):
        if match.start() > at:
            nodes.append({"type": "text", "text": line[at : match.start()]})
        url = match.group(0)
        nodes.append({"type": "text", "text": url, "marks": [{"type": "link", "attrs": {"href": url}}]})
        at = match.end()
    if at < len(line):
        nodes.append({"type": "text", "text": line[at:]})
    return nodes


def adf(text: str) -> dict[str, Any]:
    """Plain text as an Atlassian Document: blank-line separated paragraphs (line breaks kept),
    and blocks whose every line starts with "- " or "• " as bullet lists."""
    content: list[dict[str, Any]] = []
    for block in re.split(r"\n\s*\n", text.strip()):
        lines = [line.rstrip() for line in block.splitlines() if line.strip()]
        if not lines:
            continue
        if all(line.lstrip().startswith(_BULLET) for line in lines):
            items = [
                {"type": "listItem", "content": [{"type": "paragraph", "content": _inline(line.lstrip()[2:])}]}
                for line in lines
            ]
            content.append({"type": "bulletList", "content": items})
            continue
        paragraph: list[dict[str, Any]] = []
        for i, line in enumerate(lines):
            if i:
                paragraph.append({"type": "hardBreak"})
            paragraph += _inline(line)
        content.append({"type": "paragraph", "content": paragraph})
    return {"type": "doc", "version": 1, "content": content}


def adf_text(node: Any) -> str:
    """Every text of an ADF document, joined (to look for the timeline marker)."""
    if isinstance(node, dict):
        text = node.get("text")
        own = text if isinstance(text, str) else ""
        return own + " ".join(adf_text(child) for child in node.get("content") or [])
    if isinstance(node, list):
        return " ".join(adf_text(child) for child in node)
    return ""


class JiraTickets:
    """A `Notifier` for the ticket channel backed by one Jira Cloud project."""

    def __init__(
        self,
        http: HttpClient,
        once: HttpClient,
        url: str,
        email: str,
        api_token: SecretStr,
        project: str,
        *,
        records: TicketRecords,
        issue_type: str = "Task",
        labels: tuple[str, ...] | list[str] = (),
    ) -> None:
        self.http = http
        self.once = once
        self.url = url.rstrip("/")
        self._email = email
        self._token = api_token
        self.project = project
        self.records = records
        self.issue_type = issue_type
        self.labels = list(labels)

    async def deliver(self, notification: Notification, text: str) -> str:
        incident = notification.incident_id
        record = self.records.load(incident, "jira")
        if record is None:
            record = await self.find(incident) or await self.create(notification, text)
            self.records.save(incident, record)
        if action(notification) == "timeline" and not record.timeline_added:
            if not await self.has_timeline(record.key, incident):
                await self.comment(record.key, f"{timeline_marker(incident)}\n\n{text}")
            record = record.model_copy(update={"timeline_added": True})
            self.records.save(incident, record)
        return record.ref().destination()

    def browse(self, key: str) -> str:
        return f"{self.url}/browse/{key}"

    async def find(self, incident_id: str) -> TicketRecord | None:
        """The incident's issue in the project, by its label; the oldest if a race opened two."""
        jql = f'project = "{self.project}" AND labels = "{dedup_label(incident_id)}" ORDER BY created ASC'
        body = await self._call(
            self.http, "search", "POST", "/rest/api/3/search/jql", {"jql": jql, "fields": ["summary"], "maxResults": 1}
        )
        issues = body.get("issues") if isinstance(body, dict) else None
        if not issues:
            return None
        return self._record(issues[0], "search")

    async def create(self, notification: Notification, text: str) -> TicketRecord:
        if action(notification) == "timeline":  # no ticket was opened at declaration: open it now
            title, description = fallback_title(notification), "Opened by warroom at resolution."
        else:
            title, description = title_and_body(text, fallback_title(notification))
        fields = {
            "project": {"key": self.project},
            "issuetype": {"name": self.issue_type},
            "summary": title,
            "description": adf(description or title),
            "labels": [dedup_label(notification.incident_id), *self.labels],
        }
        body = await self._call(self.once, "create issue", "POST", "/rest/api/3/issue", {"fields": fields})
        return self._record(body, "create issue")

    async def has_timeline(self, key: str, incident_id: str) -> bool:
        marker = timeline_marker(incident_id)
        body = await self._call(
            self.http,
            "comments",
            "GET",
            f"/rest/api/3/issue/{key}/comment",
            params={"orderBy": "-created", "maxResults": COMMENTS_SEARCHED},
        )
        comments = body.get("comments") if isinstance(body, dict) else None
        return any(marker in adf_text(c.get("body")) for c in comments or [] if isinstance(c, dict))

    async def comment(self, key: str, text: str) -> None:
        await self._call(self.once, "add comment", "POST", f"/rest/api/3/issue/{key}/comment", {"body": adf(text)})

    def _record(self, issue: Any, label: str) -> TicketRecord:
        key = issue.get("key") if isinstance(issue, dict) else None
        if not isinstance(key, str) or not ISSUE_KEY.fullmatch(key):
            raise ChannelUnavailable(SERVICE, f"{label}: the answer carried no issue key")
        return TicketRecord(system="jira", key=key, url=self.browse(key))

    async def _call(
        self,
        http: HttpClient,
        label: str,
        method: str,
        path: str,
        payload: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
    ) -> Any:
        token = self._token.get_secret_value()
        basic = base64.b64encode(f"{self._email}:{token}".encode()).decode()
        headers = {"Authorization": f"Basic {basic}", "Accept": "application/json"}
        response = await http.request(
            SERVICE,
            label,
            method,
            f"{self.url}{path}",
            json=payload,
            params=params,
            headers=headers,
            secrets=[token, basic],
        )
        try:
            return response.json()
        except ValueError:
            raise ChannelUnavailable(
                SERVICE, f"{label}: the answer was not JSON (HTTP {response.status_code})"
            ) from None
