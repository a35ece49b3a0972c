"""Local servers speaking each vendor's protocol, and a real SMTP server with STARTTLS and AUTH.

The HTTP vendors are small stateful fakes, reached either behind `httpx.MockTransport` (the real
httpx client, headers and JSON; no network) or over real HTTP on loopback (`served(fake)`). They
keep what a real service would (channels, alerts, incidents) and answer errors the way the vendor
does, e.g. Slack's HTTP 200 `{"ok": false, ...}`.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import itertools
import json
import re
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from warroom.devserver import free_port as free_port  # the one definition, re-exported for the tests

SLACK_TOKEN = "xoxb-0000-test-slack-token"
PD_ROUTING_KEY = "R0UT1NGKEY0123456789abcdefabcdef"
SP_API_KEY = "sp-api-key-0123456789"
SP_PAGE = "pg1"
SP_COMPONENT = "cmp1"
WEBHOOK_URL = "https://hooks.test/services/T000/B000/s3cr3t-webhook-path"
SMTP_USER = "warroom"
SMTP_PASSWORD = "smtp-pa55word-secret"
JIRA_EMAIL = "warroom-bot@acme.test"
JIRA_API_TOKEN = "ATATT3x-jira-api-t0ken-secret"
JIRA_BASIC = base64.b64encode(f"{JIRA_EMAIL}:{JIRA_API_TOKEN}".encode()).decode()
JIRA_PROJECT = "OPS"
GITHUB_TOKEN = "github_pat_11AAtest-t0ken-secret"
GITHUB_REPO = "acme/shop"
SECRETS = (
    SLACK_TOKEN,
    PD_ROUTING_KEY,
    SP_API_KEY,
    "s3cr3t-webhook-path",
    SMTP_PASSWORD,
    JIRA_API_TOKEN,
    JIRA_BASIC,  # the Authorization header's value: the token is in it, base64-encoded
    GITHUB_TOKEN,
)

HOSTS = {
    "slack": "slack.test",
    "pagerduty": "events.pagerduty.test",
    "statuspage": "statuspage.test",
    "webhook": "hooks.test",
    "jira": "acme.atlassian.test",
    "github": "api.github.test",
}


def reply(status: int = 200, body: Any = None, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json=body if body is not None else {}, headers=headers)


class Fake:
    """Failure injection shared by the fakes: queued responses are served first, one per request."""

    def __init__(self) -> None:
        self.queued: list[httpx.Response] = []
        self.requests: list[httpx.Request] = []
        self.lose_answers: dict[str, int] = {}
        """"<METHOD> <path>" → how many of its next requests are taken, then answered 502 (the answer lost)."""

    def fail_next(self, *responses: httpx.Response) -> None:
        self.queued.extend(responses)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.queued:
            return self.queued.pop(0)
        route = f"{request.method} {request.url.path}"
        if self.lose_answers.get(route, 0) > 0:
            self.lose_answers[route] -= 1
            self.handle(request)
            return reply(502, {"ok": False, "error": "bad gateway"})
        return self.handle(request)

    def handle(self, request: httpx.Request) -> httpx.Response:
        raise NotImplementedError


class FakeSlack(Fake):
    """conversations.create/list/join, chat.postMessage/update/postEphemeral, pins.add, views.open —
    with Slack's ok:false errors — and `response_url`s (`/responses/<id>`: what an app answered an
    interaction with, kept in `responses`)."""

    NAME = re.compile(r"^[a-z0-9_-]{1,80}$")

    def __init__(self, token: str = SLACK_TOKEN) -> None:
        super().__init__()
        self.token = token
        self.channels: dict[str, dict[str, Any]] = {}
        self.messages: list[dict[str, Any]] = []
        self.ephemeral: list[dict[str, Any]] = []
        self.views: list[dict[str, Any]] = []
        self.responses: list[dict[str, Any]] = []
        self.pins: list[tuple[str, str]] = []
        self.calls: list[str] = []
        self.failing: dict[str, dict[str, Any]] = {}  # method → the ok:false answer it gives
        self._ids = itertools.count(1)
        self._ts = itertools.count(1)
        self.taken_at: dict[str, float] = {}  # ts → when taken: the fake's ts is a counter, not a clock

    def add_channel(self, name: str, *, member: bool = False, archived: bool = False) -> str:
        cid = f"C{next(self._ids):06d}"
        self.channels[cid] = {
            "id": cid,
            "name": name,
            "is_member": member,
            "is_private": False,
            "is_archived": archived,
        }
        return cid

    def by_name(self, name: str) -> dict[str, Any] | None:
        return next((c for c in self.channels.values() if c["name"] == name), None)

    def texts(self, channel_name: str) -> list[str]:
        channel = self.by_name(channel_name)
        assert channel, f"no channel {channel_name}"
        return [m["text"] for m in self.messages if m["channel"] == channel["id"]]

    def add_message(self, channel_id: str, text: str, *, taken_at: float | None = None) -> str:
        """Someone else's message in a channel (taken now, or at `taken_at`); its ts."""
        ts = f"1700000000.{next(self._ts):06d}"
        self.messages.append({"channel": channel_id, "text": text, "ts": ts, "blocks": None})
        self.taken_at[ts] = time.time() if taken_at is None else taken_at
        return ts

    def message(self, channel_id: str, ts: str) -> dict[str, Any]:
        found = next((m for m in self.messages if m["channel"] == channel_id and m["ts"] == ts), None)
        assert found, f"no message {ts} in {channel_id}"
        return found

    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/responses/"):  # a response_url: no token, as at Slack
            self.responses.append({"path": request.url.path, **json.loads(request.content)})
            return reply(200, {"ok": True})
        method = request.url.path.rsplit("/", 1)[-1]
        self.calls.append(method)
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return reply(200, {"ok": False, "error": "invalid_auth"})
        if request.method != "POST":
            body = dict(request.url.params)
        elif request.headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
            body = {k: v for k, v in httpx.QueryParams(request.content.decode()).items()}
            for key in ("blocks", "view"):  # form-encoded clients send these as JSON text
                if isinstance(body.get(key), str):
                    body[key] = json.loads(body[key])
        else:
            body = json.loads(request.content)
        if method in self.failing:
            return reply(200, self.failing[method])
        handler = getattr(self, "_" + method.replace(".", "_"), None)
        if handler is None:
            return reply(200, {"ok": False, "error": "unknown_method"})
        return reply(200, handler(body))

    def _conversations_create(self, body: dict[str, Any]) -> dict[str, Any]:
        name = body.get("name", "")
        if not self.NAME.fullmatch(name):
            return {"ok": False, "error": "invalid_name_specials"}
        if self.by_name(name):
            return {"ok": False, "error": "name_taken"}
        cid = self.add_channel(name, member=True)
        self.channels[cid]["is_private"] = bool(body.get("is_private"))
        return {"ok": True, "channel": self.channels[cid]}

    def _conversations_list(self, params: dict[str, Any]) -> dict[str, Any]:
        everything = [
            c for c in self.channels.values() if not (params.get("exclude_archived") == "true" and c["is_archived"])
        ]
        start = int(params.get("cursor") or 0)
        limit = min(int(params.get("limit", 100)), 2)  # tiny pages, so the adapter must follow cursors
        page = everything[start : start + limit]
        more = start + limit < len(everything)
        return {"ok": True, "channels": page, "response_metadata": {"next_cursor": str(start + limit) if more else ""}}

    def _conversations_join(self, body: dict[str, Any]) -> dict[str, Any]:
        channel = self.channels.get(body.get("channel", ""))
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        if channel["is_archived"]:
            return {"ok": False, "error": "is_archived"}
        already = channel["is_member"]
        channel["is_member"] = True
        return {"ok": True, "channel": channel, **({"warning": "already_in_channel"} if already else {})}

    def _joined(self, channel_id: str) -> tuple[dict[str, Any] | None, dict[str, Any]]:
        """The channel the bot is in, or Slack's answer why not."""
        channel = self.channels.get(channel_id)
        if channel is None:
            return None, {"ok": False, "error": "channel_not_found"}
        if not channel["is_member"]:
            return None, {"ok": False, "error": "not_in_channel"}
        return channel, {"ok": True}

    def _chat_postMessage(self, body: dict[str, Any]) -> dict[str, Any]:
        channel, refused = self._joined(body.get("channel", ""))
        if channel is None:
            return refused
        ts = f"1700000000.{next(self._ts):06d}"
        message = {"channel": channel["id"], "text": body["text"], "ts": ts, "blocks": body.get("blocks")}
        if body.get("metadata"):
            message["metadata"] = body["metadata"]
        self.messages.append(message)
        self.taken_at[ts] = time.time()
        return {"ok": True, "channel": channel["id"], "ts": ts}

    def _conversations_history(self, params: dict[str, Any]) -> dict[str, Any]:
        """Newest first, `limit` a page, then `cursor`; `oldest` (compared with when a message was
        taken); metadata only with `include_all_metadata` (as at Slack)."""
        channel, refused = self._joined(params.get("channel", ""))
        if channel is None:
            return refused
        with_metadata = params.get("include_all_metadata") == "true"
        oldest = float(params.get("oldest", 0))
        found = [
            m
            for m in reversed(self.messages)
            if m["channel"] == channel["id"] and self.taken_at.get(m["ts"], 0.0) > oldest
        ]
        start, limit = int(params.get("cursor") or 0), int(params.get("limit", 100))
        page = found[start : start + limit]
        shown = [{k: v for k, v in m.items() if k != "metadata" or with_metadata} for m in page]
        more = start + limit < len(found)
        return {
            "ok": True,
            "messages": shown,
            "has_more": more,
            "response_metadata": {"next_cursor": str(start + limit) if more else ""},
        }

    def _chat_update(self, body: dict[str, Any]) -> dict[str, Any]:
        found = next(
            (m for m in self.messages if m["channel"] == body.get("channel") and m["ts"] == body.get("ts")), None
        )
        if found is None:
            return {"ok": False, "error": "message_not_found"}
        found["text"] = body.get("text", found["text"])
        found["blocks"] = body.get("blocks")
        found.setdefault("edits", 0)
        found["edits"] += 1
        return {"ok": True, "channel": found["channel"], "ts": found["ts"]}

    def _chat_postEphemeral(self, body: dict[str, Any]) -> dict[str, Any]:
        if not body.get("user") or not body.get("channel"):
            return {"ok": False, "error": "invalid_arguments"}
        self.ephemeral.append(body)
        return {"ok": True, "message_ts": f"1700000001.{next(self._ts):06d}"}

    def _views_open(self, body: dict[str, Any]) -> dict[str, Any]:
        if not body.get("trigger_id"):
            return {"ok": False, "error": "invalid_trigger_id"}
        view = body.get("view")
        if not isinstance(view, dict) or view.get("type") != "modal":
            return {"ok": False, "error": "invalid_arguments"}
        self.views.append(body)
        return {"ok": True, "view": {"id": f"V{next(self._ids):06d}", **view}}

    def _pins_add(self, body: dict[str, Any]) -> dict[str, Any]:
        key = (body.get("channel", ""), body.get("timestamp", ""))
        if not any(m["channel"] == key[0] and m["ts"] == key[1] for m in self.messages):
            return {"ok": False, "error": "message_not_found"}
        if key in self.pins:
            return {"ok": False, "error": "already_pinned"}
        self.pins.append(key)
        return {"ok": True}


class FakePagerDuty(Fake):
    """Events API v2: alerts keyed by dedup_key; a trigger on a resolved key opens a new alert."""

    def __init__(self) -> None:
        super().__init__()
        self.alerts: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []

    def open_alert(self, key: str) -> dict[str, Any] | None:
        return next((a for a in self.alerts if a["dedup_key"] == key and a["status"] != "resolved"), None)

    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.url.path != "/v2/enqueue" or request.method != "POST":
            return reply(404, {"status": "not found"})
        event = json.loads(request.content)
        if event.get("routing_key") != PD_ROUTING_KEY:
            return reply(
                400,
                {"status": "invalid event", "message": "Event object is invalid", "errors": ["Invalid routing key"]},
            )
        action, key = event.get("event_action"), event.get("dedup_key")
        if action == "trigger":
            payload = event.get("payload") or {}
            if (
                not payload.get("summary")
                or not payload.get("source")
                or payload.get("severity") not in ("critical", "error", "warning", "info")
            ):
                return reply(
                    400,
                    {
                        "status": "invalid event",
                        "message": "Event object is invalid",
                        "errors": ["'payload' is invalid or missing"],
                    },
                )
        elif action not in ("acknowledge", "resolve") or not key:
            return reply(400, {"status": "invalid event", "message": "Event object is invalid"})
        self.events.append(event)
        alert = self.open_alert(key) if key else None
        if action == "trigger":
            if alert is None:
                alert = {"dedup_key": key, "status": "triggered", "summary": event["payload"]["summary"], "events": 0}
                self.alerts.append(alert)
            alert["events"] += 1
        elif alert is not None:
            alert["status"] = "acknowledged" if action == "acknowledge" else "resolved"
        return reply(202, {"status": "success", "message": "Event processed", "dedup_key": key})


class FakeStatuspage(Fake):
    """/v1/pages/{page}/incidents (POST create, PATCH update) with OAuth api-key auth."""

    def __init__(self) -> None:
        super().__init__()
        self.incidents: dict[str, dict[str, Any]] = {}
        self.components: dict[str, str] = {SP_COMPONENT: "operational"}
        self._ids = itertools.count(1)

    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.headers.get("Authorization") != f"OAuth {SP_API_KEY}":
            return reply(401, {"error": "The API key is invalid"})
        match = re.fullmatch(rf"/v1/pages/{SP_PAGE}/incidents(?:/(\w+))?", request.url.path)
        if not match:
            return reply(404, {"error": "Not found"})
        data = json.loads(request.content)["incident"]
        if data.get("status") not in ("investigating", "identified", "monitoring", "resolved"):
            return reply(422, {"error": "Status is not included in the list"})
        if request.method == "POST" and match.group(1) is None:
            iid = f"sp{next(self._ids)}"
            incident = {"id": iid, "name": data["name"], "status": data["status"], "incident_updates": []}
            self.incidents[iid] = incident
            status = 201
        elif request.method == "PATCH" and match.group(1):
            incident = self.incidents.get(match.group(1))
            if incident is None:
                return reply(404, {"error": "Could not find incident"})
            incident.update(name=data.get("name", incident["name"]), status=data["status"])
            status = 200
        else:
            return reply(405, {"error": "Method not allowed"})
        incident["incident_updates"].insert(0, {"status": data["status"], "body": data.get("body", "")})
        for cid, state in (data.get("components") or {}).items():
            self.components[cid] = state
        return reply(status, incident)


class FakeWebhook(Fake):
    def __init__(self) -> None:
        super().__init__()
        self.bodies: list[dict[str, Any]] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.url.path != httpx.URL(WEBHOOK_URL).path:
            return reply(404, {"error": "no such hook"})
        self.bodies.append(json.loads(request.content))
        return httpx.Response(200, text="ok")


def _adf_errors(doc: Any) -> str | None:
    """What Jira would refuse in an Atlassian Document (the node types warroom writes, strictly)."""
    if not isinstance(doc, dict) or doc.get("type") != "doc" or doc.get("version") != 1:
        return "Operation value must be an Atlassian Document (see the Atlassian Document Format)"
    allowed = {"paragraph", "bulletList", "listItem", "text", "hardBreak"}

    def walk(node: Any) -> str | None:
        if not isinstance(node, dict) or node.get("type") not in allowed:
            return f"INVALID_INPUT: unsupported node {node.get('type') if isinstance(node, dict) else node!r}"
        if node["type"] == "text":
            if not isinstance(node.get("text"), str) or not node["text"]:
                return "INVALID_INPUT: a text node needs non-empty text"
            for mark in node.get("marks", []):
                if mark.get("type") != "link" or not str(mark.get("attrs", {}).get("href", "")).startswith("http"):
                    return "INVALID_INPUT: bad mark"
        return next((e for e in map(walk, node.get("content", [])) if e), None)

    return next((e for e in map(walk, doc.get("content", [])) if e), None)


def adf_text(node: Any) -> str:
    if isinstance(node, dict):
        own = node.get("text", "") if node.get("type") == "text" else "\n" if node.get("type") == "hardBreak" else ""
        inner = "".join(adf_text(child) for child in node.get("content", []))
        return own + inner + ("\n" if node.get("type") == "paragraph" else "")
    return ""


class FakeJira(Fake):
    """Jira Cloud REST v3: issues (project, issue type, summary, labels, ADF description), their
    comments, and the enhanced JQL search — which, like Jira's, may not see a new issue at once
    (`search_lags`)."""

    TYPES = {"Task", "Bug", "Incident"}
    _JQL = re.compile(r'^project = "(\w+)" AND labels = "([^"]+)"(?: ORDER BY created ASC)?$')

    def __init__(self) -> None:
        super().__init__()
        self.issues: dict[str, dict[str, Any]] = {}
        self.comments: dict[str, list[dict[str, Any]]] = {}
        self.search_lags = False  # issues created while True are not found by search
        self.unindexed: set[str] = set()
        self.lose_next_create = False  # create the issue, then answer 504 as if the answer were lost
        self._ids = itertools.count(10001)
        self._numbers = itertools.count(1)

    def error(self, status: int, *messages: str, **errors: str) -> httpx.Response:
        return reply(status, {"errorMessages": list(messages), "errors": errors})

    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.headers.get("Authorization") != f"Basic {JIRA_BASIC}":
            return self.error(401, "Client must be authenticated to access this resource.")
        path, method = request.url.path, request.method
        body = json.loads(request.content) if request.content else {}
        if path == "/rest/api/3/issue" and method == "POST":
            return self._create(body)
        if path == "/rest/api/3/search/jql" and method == "POST":
            return self._search(body)
        match = re.fullmatch(r"/rest/api/3/issue/([A-Z][A-Z0-9_]*-\d+)/comment", path)
        if match:
            if match.group(1) not in self.issues:
                return self.error(404, "Issue does not exist or you do not have permission to see it.")
            if method == "GET":
                return self._comments(match.group(1), request.url.params)
            if method == "POST":
                return self._comment(match.group(1), body)
        return self.error(404, "null for uri")

    def _create(self, body: dict[str, Any]) -> httpx.Response:
        fields = body.get("fields") or {}
        if (fields.get("project") or {}).get("key") != JIRA_PROJECT:
            return self.error(400, project="valid project is required")
        if (fields.get("issuetype") or {}).get("name") not in self.TYPES:
            return self.error(400, issuetype="Specify a valid issue type")
        summary = fields.get("summary")
        if not isinstance(summary, str) or not summary.strip() or len(summary) > 255 or "\n" in summary:
            return self.error(400, summary="Summary must be one line of at most 255 characters.")
        if (problem := _adf_errors(fields.get("description"))) is not None:
            return self.error(400, description=problem)
        labels = fields.get("labels", [])
        if not all(isinstance(label, str) and label and " " not in label for label in labels):
            return self.error(400, labels="The label must not contain spaces.")
        issue_id = str(next(self._ids))
        key = f"{JIRA_PROJECT}-{next(self._numbers)}"
        self.issues[key] = {"id": issue_id, "key": key, "fields": {**fields, "labels": list(labels)}}
        self.comments[key] = []
        if self.search_lags:
            self.unindexed.add(key)
        if self.lose_next_create:
            self.lose_next_create = False
            return reply(504, {"message": "upstream timed out"})
        return reply(201, {"id": issue_id, "key": key, "self": f"https://{HOSTS['jira']}/rest/api/3/issue/{issue_id}"})

    def _search(self, body: dict[str, Any]) -> httpx.Response:
        match = self._JQL.fullmatch(body.get("jql", ""))
        if not match:
            return self.error(400, "Error in the JQL Query: the query is not one this fake knows.")
        project, label = match.groups()
        found = [
            {"id": i["id"], "key": key, "fields": {"summary": i["fields"]["summary"]}}
            for key, i in self.issues.items()
            if key.startswith(f"{project}-") and label in i["fields"]["labels"] and key not in self.unindexed
        ]
        return reply(200, {"issues": found[: int(body.get("maxResults", 50))], "isLast": True})

    def _comments(self, key: str, params: httpx.QueryParams) -> httpx.Response:
        comments = list(self.comments[key])
        if params.get("orderBy") == "-created":
            comments.reverse()
        limit = int(params.get("maxResults", 5000))
        return reply(200, {"startAt": 0, "maxResults": limit, "total": len(comments), "comments": comments[:limit]})

    def _comment(self, key: str, body: dict[str, Any]) -> httpx.Response:
        if (problem := _adf_errors(body.get("body"))) is not None:
            return self.error(400, problem)
        comment = {"id": str(next(self._ids)), "body": body["body"], "created": dt.datetime.now(dt.UTC).isoformat()}
        self.comments[key].append(comment)
        return reply(201, comment)


class FakeGitHub(Fake):
    """GitHub's REST API for one repository's issues: create, list by label, comment, close.
    Labels that do not exist are created; a token without push access has its labels dropped
    (`push_access`), as GitHub documents."""

    def __init__(self) -> None:
        super().__init__()
        self.issues: list[dict[str, Any]] = []
        self.comments: dict[int, list[dict[str, Any]]] = {}
        self.push_access = True
        self._ids = itertools.count(5000)

    def issue(self, number: int) -> dict[str, Any] | None:
        return next((i for i in self.issues if i["number"] == number), None)

    def add_pull_request(self, labels: list[str]) -> None:
        self._new("a pull request", "", labels, pull_request=True)

    def _new(self, title: str, body: str, labels: list[str], pull_request: bool = False) -> dict[str, Any]:
        number = len(self.issues) + 1
        kind = "pull" if pull_request else "issues"
        issue: dict[str, Any] = {
            "id": next(self._ids),
            "number": number,
            "title": title,
            "body": body,
            "state": "open",
            "state_reason": None,
            "labels": [{"name": name} for name in (labels if self.push_access else [])],
            "html_url": f"https://github.test/{GITHUB_REPO}/{kind}/{number}",
            "url": f"https://{HOSTS['github']}/repos/{GITHUB_REPO}/issues/{number}",
        }
        if pull_request:
            issue["pull_request"] = {"url": f"https://{HOSTS['github']}/repos/{GITHUB_REPO}/pulls/{number}"}
        self.issues.append(issue)
        self.comments[number] = []
        return issue

    def handle(self, request: httpx.Request) -> httpx.Response:
        doc = "https://docs.github.com/rest"
        if request.headers.get("Authorization") != f"Bearer {GITHUB_TOKEN}":
            return reply(401, {"message": "Bad credentials", "documentation_url": doc, "status": "401"})
        match = re.fullmatch(rf"/repos/{GITHUB_REPO}/issues(?:/(\d+)(/comments)?)?", request.url.path)
        if not match:
            return reply(404, {"message": "Not Found", "documentation_url": doc, "status": "404"})
        number = int(match.group(1)) if match.group(1) else None
        body = json.loads(request.content) if request.content else {}
        method, params = request.method, request.url.params
        if number is None and method == "POST":
            if not isinstance(body.get("title"), str) or not body["title"]:
                return reply(
                    422, {"message": "Validation Failed", "errors": [{"field": "title", "code": "missing_field"}]}
                )
            return reply(201, self._new(body["title"], body.get("body") or "", list(body.get("labels") or [])))
        if number is None and method == "GET":
            wanted = [name for name in params.get("labels", "").split(",") if name]
            state = params.get("state", "open")
            found = [
                i
                for i in self.issues
                if all(name in [label["name"] for label in i["labels"]] for name in wanted)
                and (state == "all" or i["state"] == state)
            ]
            if params.get("direction", "desc") == "desc":
                found.reverse()
            return reply(200, found[: int(params.get("per_page", 30))])
        issue = self.issue(number) if number is not None else None
        if issue is None or number is None:
            return reply(404, {"message": "Not Found", "documentation_url": doc, "status": "404"})
        if match.group(2) and method == "POST":
            if not body.get("body"):
                return reply(
                    422, {"message": "Validation Failed", "errors": [{"field": "body", "code": "missing_field"}]}
                )
            comment = {"id": next(self._ids), "body": body["body"], "html_url": f"{issue['html_url']}#issuecomment"}
            self.comments[number].append(comment)
            return reply(201, comment)
        if match.group(2) and method == "GET":
            per_page, page = int(params.get("per_page", 30)), int(params.get("page", 1))
            return reply(200, self.comments[number][(page - 1) * per_page : page * per_page])
        if not match.group(2) and method == "PATCH":
            if body.get("state") not in (None, "open", "closed"):
                return reply(422, {"message": "Validation Failed"})
            issue.update({k: body[k] for k in ("state", "state_reason") if k in body})
            return reply(200, issue)
        return reply(404, {"message": "Not Found", "documentation_url": doc, "status": "404"})


@dataclass
class Vendors:
    slack: FakeSlack = field(default_factory=FakeSlack)
    pagerduty: FakePagerDuty = field(default_factory=FakePagerDuty)
    statuspage: FakeStatuspage = field(default_factory=FakeStatuspage)
    webhook: FakeWebhook = field(default_factory=FakeWebhook)
    jira: FakeJira = field(default_factory=FakeJira)
    github: FakeGitHub = field(default_factory=FakeGitHub)

    @property
    def transport(self) -> httpx.MockTransport:
        by_host = {HOSTS[name]: getattr(self, name) for name in HOSTS}

        def route(request: httpx.Request) -> httpx.Response:
            fake = by_host.get(request.url.host)
            if fake is None:
                raise httpx.ConnectError(f"no route to {request.url.host}", request=request)
            return fake(request)

        return httpx.MockTransport(route)


@contextmanager
def served(fake: Fake) -> Iterator[str]:
    """`fake` behind a real HTTP server on a free loopback port; yields its base URL.

    Each request arrives as the bytes a client sent (method, path, headers, body) and leaves as the
    fake's status, headers and body, so the adapter's own httpx client, connection pool and
    timeouts are what is tested."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_: object) -> None:
            pass

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            request = httpx.Request(
                self.command,
                f"http://{self.headers.get('Host', 'localhost')}{self.path}",
                headers=list(self.headers.items()),
                content=body,
            )
            response = fake(request)
            content = response.read()
            self.send_response(response.status_code)
            for name, value in response.headers.items():
                if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


class Sleeps:
    """Records the backoff delays instead of waiting them."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def vendor_settings(data_dir: Path, **overrides: Any) -> Any:
    """ChannelSettings with every vendor pointed at the fakes (override or drop any field)."""
    from activities.channels.settings import ChannelSettings

    values: dict[str, Any] = dict(
        data_dir=data_dir,
        http_backoff=0.01,
        slack_token=SLACK_TOKEN,
        slack_api_url=f"https://{HOSTS['slack']}/api",
        pagerduty_routing_key=PD_ROUTING_KEY,
        pagerduty_events_url=f"https://{HOSTS['pagerduty']}/v2/enqueue",
        statuspage_api_key=SP_API_KEY,
        statuspage_page_id=SP_PAGE,
        statuspage_component_id=SP_COMPONENT,
        statuspage_api_url=f"https://{HOSTS['statuspage']}/v1",
    )
    values.update(overrides)
    return ChannelSettings(**{k: v for k, v in values.items() if v is not None})


def assert_no_secrets(*texts: object) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in str(text), f"a secret leaked into: {text}"


# --- SMTP: aiosmtpd with STARTTLS and AUTH on loopback -------------------------------------------


@dataclass
class Mailbox:
    host: str
    port: int
    ca_file: Path
    received: list[dict[str, Any]] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)


def _self_signed(folder: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "smtp.crt", folder / "smtp.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file


def smtp_server_at(folder: Path, *, starttls: bool) -> Iterator[Mailbox]:
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    cert_file, key_file = _self_signed(folder)
    box = Mailbox(host="127.0.0.1", port=free_port(), ca_file=cert_file)

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            box.received.append(
                {
                    "mail_from": envelope.mail_from,
                    "rcpt_tos": list(envelope.rcpt_tos),
                    "data": envelope.content.decode("utf-8", "replace"),
                    "tls": session.ssl is not None,
                }
            )
            return "250 OK"

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        login = auth_data.login.decode()
        ok = login == SMTP_USER and auth_data.password.decode() == SMTP_PASSWORD
        if ok:
            box.logins.append(login)
        return AuthResult(success=ok, handled=False)

    # Without TLS the server offers no AUTH at all (the mailer must refuse before it gets that far).
    kwargs: dict[str, Any] = dict(authenticator=authenticator, auth_required=starttls, auth_require_tls=True)
    if starttls:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert_file, key_file)
        kwargs.update(tls_context=context, require_starttls=True)
    controller = Controller(Handler(), hostname=box.host, port=box.port, ready_timeout=10, **kwargs)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


# --- Mattermost: REST API v4, the parts warroom uses -----------------------------------------------

MATTERMOST_TOKEN = "mm-bot-t0ken-0123456789secret"


def mattermost_id(prefix: str, n: int) -> str:
    """Mattermost ids are 26 characters a-z, 0-9."""
    return f"{prefix[:1]}{n:025d}"


class FakeMattermost(Fake):
    """Teams, channels (by name, O/P), posts with props, post patches and opened dialogs — with
    Mattermost's JSON errors (`{"id", "message", "status_code"}`) and 401 without the bot's token."""

    NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{1,63}$")

    def __init__(self, token: str = MATTERMOST_TOKEN, teams: tuple[str, ...] = ("acme",)) -> None:
        super().__init__()
        self.token = token
        self._ids = itertools.count(1)
        self.teams = {mattermost_id("t", next(self._ids)): name for name in teams}
        self.channels: dict[str, dict[str, Any]] = {}
        self.posts: dict[str, dict[str, Any]] = {}
        self.patches: list[dict[str, Any]] = []
        self.dialogs: list[dict[str, Any]] = []
        self.calls: list[str] = []
        self.bot_id = mattermost_id("u", next(self._ids))

    def team(self, name: str) -> str:
        return next(tid for tid, n in self.teams.items() if n == name)

    def by_name(self, name: str) -> dict[str, Any] | None:
        return next((c for c in self.channels.values() if c["name"] == name), None)

    def in_channel(self, name: str) -> list[dict[str, Any]]:
        channel = self.by_name(name)
        assert channel, f"no channel {name}"
        return [p for p in self.posts.values() if p["channel_id"] == channel["id"]]

    def add_channel(self, name: str, team: str = "acme", *, private: bool = False, member: bool = False) -> str:
        """A channel someone else opened (the bot is a member only when `member`)."""
        cid = mattermost_id("c", next(self._ids))
        self.channels[cid] = {
            "id": cid,
            "team_id": self.team(team),
            "name": name,
            "display_name": name,
            "type": "P" if private else "O",
            "members": {self.bot_id} if member else set(),
        }
        return cid

    def add_post(self, channel_id: str, message: str, props: dict[str, Any] | None = None) -> str:
        post_id = mattermost_id("p", next(self._ids))
        now = int(time.time() * 1000)
        self.posts[post_id] = {
            "id": post_id,
            "channel_id": channel_id,
            "message": message,
            "props": props or {},
            "create_at": now,
            "update_at": now,
        }
        return post_id

    @staticmethod
    def error(status: int, message: str) -> httpx.Response:
        return reply(status, {"id": "api.fake.app_error", "message": message, "status_code": status})

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/api/v4")
        self.calls.append(f"{request.method} {path}")
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return self.error(401, "Invalid or expired session, please login again.")
        body = json.loads(request.content) if request.content else {}
        parts = path.strip("/").split("/")
        if request.method == "GET" and parts[:2] == ["teams", "name"] and len(parts) == 3:
            tid = next((t for t, n in self.teams.items() if n == parts[2]), None)
            return reply(200, {"id": tid, "name": parts[2]}) if tid else self.error(404, "Unable to find the team.")
        if request.method == "GET" and len(parts) == 5 and parts[0] == "teams" and parts[2:4] == ["channels", "name"]:
            found = next(
                (c for c in self.channels.values() if c["team_id"] == parts[1] and c["name"] == parts[4]), None
            )
            return reply(200, _public(found)) if found else self.error(404, "Unable to find the existing channel.")
        if request.method == "GET" and parts == ["users", "me"]:
            return reply(200, {"id": self.bot_id, "username": "warroom", "is_bot": True})
        if request.method == "POST" and len(parts) == 3 and parts[0] == "channels" and parts[2] == "members":
            channel = self.channels.get(parts[1])
            if channel is None or channel["type"] == "P" or body.get("user_id") != self.bot_id:
                return self.error(403, "You do not have the appropriate permissions.")
            channel["members"].add(self.bot_id)
            return reply(201, {"channel_id": parts[1], "user_id": self.bot_id})
        if request.method == "POST" and parts == ["channels"]:
            return self._create_channel(body)
        if request.method == "GET" and len(parts) == 3 and parts[0] == "channels" and parts[2] == "posts":
            channel = self.channels.get(parts[1])
            if channel is None or self.bot_id not in channel["members"]:
                return self.error(403, "You do not have the appropriate permissions.")
            newest = [p for p in reversed(self.posts.values()) if p["channel_id"] == parts[1]]
            if "since" in request.url.params:  # every post changed since then, at most 1,000 (no paging)
                since = int(request.url.params["since"])
                page = [p for p in newest if p["update_at"] > since][:1000]
            else:
                page = newest[: int(request.url.params.get("per_page", 60))]
            return reply(200, {"order": [p["id"] for p in page], "posts": {p["id"]: p for p in page}})
        if request.method == "POST" and parts == ["posts"]:
            channel = self.channels.get(body.get("channel_id", ""))
            if channel is None or self.bot_id not in channel["members"]:
                return self.error(403, "You do not have the appropriate permissions.")
            post_id = self.add_post(body["channel_id"], body.get("message", ""), body.get("props"))
            return reply(201, self.posts[post_id])
        if request.method == "PUT" and len(parts) == 3 and parts[0] == "posts" and parts[2] == "patch":
            post = self.posts.get(parts[1])
            if post is None:
                return self.error(404, "Unable to find the existing post or comment to update.")
            self.patches.append({"post_id": parts[1], **body})
            post.update({k: v for k, v in body.items() if k in ("message", "props")})
            post["update_at"] = int(time.time() * 1000)
            return reply(200, post)
        if request.method == "POST" and parts == ["actions", "dialogs", "open"]:
            dialog = body.get("dialog")
            if not body.get("trigger_id") or not body.get("url") or not isinstance(dialog, dict):
                return self.error(400, "Invalid dialog: trigger_id, url and dialog are required.")
            if not dialog.get("elements"):
                return self.error(400, "Invalid dialog: no elements.")
            self.dialogs.append(body)
            return reply(200, {"status": "OK"})
        return self.error(404, "Sorry, we could not find the page.")

    def _create_channel(self, body: dict[str, Any]) -> httpx.Response:
        name, team_id = body.get("name", ""), body.get("team_id", "")
        if team_id not in self.teams or body.get("type") not in ("O", "P") or not self.NAME.fullmatch(name):
            return self.error(400, "Invalid channel: team_id, name or type.")
        if any(c["team_id"] == team_id and c["name"] == name for c in self.channels.values()):
            return self.error(400, "A channel with that name already exists on the same team.")
        cid = mattermost_id("c", next(self._ids))
        self.channels[cid] = {
            "id": cid,
            "team_id": team_id,
            "name": name,
            "display_name": body.get("display_name", name),
            "type": body["type"],
            "members": {self.bot_id},
        }
        return reply(201, _public(self.channels[cid]))


def _public(channel: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in channel.items() if k != "members"}
