"""The incident ticket as a GitHub issue (REST API): opened at declaration, the timeline added at resolution.

    GET   /repos/{owner}/{repo}/issues?labels=incident-<id>&state=all   find it (the dedup key)
    POST  /repos/{owner}/{repo}/issues                                   open it
    GET   /repos/{owner}/{repo}/issues/{number}/comments                 is the timeline there?
    POST  /repos/{owner}/{repo}/issues/{number}/comments                 add the timeline
    PATCH /repos/{owner}/{repo}/issues/{number}                          close it (optional)

A bearer token (fine-grained: "Issues: write" on the repository). Listing issues by label reads
the database, not the search index, so a retry finds an issue opened a moment before. GitHub
drops the labels of a token without push access; the local record still finds the ticket then,
but only on the same data dir. A 403 that says "rate limit" is a rate limit (retried), and a 404
on the repository means it does not exist or the token cannot see it (configuration).
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import SecretStr

from activities.channels._http import (
    ChannelAuthError,
    ChannelError,
    ChannelRateLimited,
    ChannelUnavailable,
    HttpClient,
)
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

SERVICE = "github"
API_VERSION = "2022-11-28"
PAGE = 100
COMMENT_PAGES = 10  # at most 1,000 comments looked through for the timeline marker
_HTML_URL = re.compile(r"^https?://\S+$")


def marker_comment(incident_id: str) -> str:
    """Hidden in the issue body and the timeline comment, so either can be recognised again."""
    return f"<!-- warroom incident={incident_id} -->"


class GitHubTickets:
    """A `Notifier` for the ticket channel backed by one repository's issues."""

    def __init__(
        self,
        http: HttpClient,
        once: HttpClient,
        repo: str,
        token: SecretStr,
        *,
        records: TicketRecords,
        api_url: str = "https://api.github.com",
        labels: tuple[str, ...] | list[str] = (),
        close_on_resolve: bool = True,
    ) -> None:
        self.http = http
        self.once = once
        self.repo = repo
        self._token = token
        self.records = records
        self.api_url = api_url.rstrip("/")
        self.labels = list(labels)
        self.close_on_resolve = close_on_resolve

    async def deliver(self, notification: Notification, text: str) -> str:
        incident = notification.incident_id
        record = self.records.load(incident, "github")
        if record is None:
            record = await self.find(incident) or await self.create(notification, text)
            self.records.save(incident, record)
        if action(notification) == "timeline" and not record.timeline_added:
            number = record.key.rsplit("#", 1)[1]
            if not await self.has_timeline(number, incident):
                body = f"{marker_comment(incident)}\n**{timeline_marker(incident)}**\n\n{text}"
                await self._call(self.once, "add comment", "POST", f"/issues/{number}/comments", {"body": body})
            if self.close_on_resolve:
                await self._call(
                    self.http,
                    "close issue",
                    "PATCH",
                    f"/issues/{number}",
                    {"state": "closed", "state_reason": "completed"},
                )
            record = record.model_copy(update={"timeline_added": True})
            self.records.save(incident, record)
        return record.ref().destination()

    async def find(self, incident_id: str) -> TicketRecord | None:
        """The incident's issue, by its label; the oldest if a race opened two (pull requests are not it)."""
        params = {"labels": dedup_label(incident_id), "state": "all", "sort": "created", "direction": "asc"}
        issues = await self._call(self.http, "list issues", "GET", "/issues", params={**params, "per_page": 10})
        for issue in issues if isinstance(issues, list) else []:
            if isinstance(issue, dict) and "pull_request" not in issue:
                return self._record(issue, "list issues")
        return None

    async def create(self, notification: Notification, text: str) -> TicketRecord:
        incident = notification.incident_id
        if action(notification) == "timeline":  # no ticket was opened at declaration: open it now
            title, body = fallback_title(notification), "Opened by warroom at resolution."
        else:
            title, body = title_and_body(text, fallback_title(notification))
        payload = {
            "title": title,
            "body": f"{body}\n\n{marker_comment(incident)}".strip(),
            "labels": [dedup_label(incident), *self.labels],
        }
        issue = await self._call(self.once, "create issue", "POST", "/issues", payload)
        return self._record(issue, "create issue")

    async def has_timeline(self, number: str, incident_id: str) -> bool:
        marker = marker_comment(incident_id)
        for page in range(1, COMMENT_PAGES + 1):
            comments = await self._call(
                self.http, "comments", "GET", f"/issues/{number}/comments", params={"per_page": PAGE, "page": page}
            )
            if not isinstance(comments, list):
                return False
            if any(isinstance(c, dict) and marker in str(c.get("body") or "") for c in comments):
                return True
            if len(comments) < PAGE:
                return False
        return False

    def _record(self, issue: Any, label: str) -> TicketRecord:
        number, url = issue.get("number"), issue.get("html_url")
        if not isinstance(number, int) or not isinstance(url, str) or not _HTML_URL.fullmatch(url):
            raise ChannelUnavailable(SERVICE, f"{label}: the answer carried no issue number")
        return TicketRecord(system="github", key=f"{self.repo}#{number}", url=url)

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
        headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": API_VERSION,
        }
        url = f"{self.api_url}/repos/{self.repo}{path}"
        try:
            response = await http.request(
                SERVICE, label, method, url, json=payload, params=params, headers=headers, secrets=[token]
            )
        except ChannelAuthError as err:
            if err.status == 403 and "rate limit" in str(err).lower():  # GitHub's primary and secondary limits
                raise ChannelRateLimited(SERVICE, f"{label}: HTTP 403 rate limited", status=403) from None
            raise
        except ChannelError as err:
            if err.status == 404:  # GitHub answers 404, not 403, for a repository the token cannot see
                raise ChannelAuthError(
                    SERVICE,
                    f"{label}: HTTP 404 — {self.repo} (or that issue) does not exist, or the token cannot see it",
                    status=404,
                ) from None
            raise
        try:
            return response.json()
        except ValueError:
            raise ChannelUnavailable(
                SERVICE, f"{label}: the answer was not JSON (HTTP {response.status_code})"
            ) from None
