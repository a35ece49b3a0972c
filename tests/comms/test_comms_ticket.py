"""The incident ticket behind the router: Jira Cloud, GitHub Issues and the local ticket file.

Each is opened once per incident whatever the retries (a record, then the vendor's own lookup by
the incident's label), gets the timeline once at resolution, and fails with a typed error that
says whether a retry can help — never with a secret in it. The vendors are the stateful fakes of
`tests.comms.fakes`, behind the real httpx client or a real loopback HTTP server.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.channels import ChannelSettings, build_router
from activities.channels._http import ChannelAuthError, ChannelRateLimited, ChannelRejected, ChannelUnavailable
from activities.channels.router import ChannelRouter
from activities.notify import LocalSink, NotifyActivities
from tests.comms.fakes import (
    GITHUB_REPO,
    GITHUB_TOKEN,
    HOSTS,
    JIRA_API_TOKEN,
    JIRA_EMAIL,
    JIRA_PROJECT,
    FakeGitHub,
    FakeJira,
    Sleeps,
    Vendors,
    assert_no_secrets,
    reply,
    served,
)
from tests.helpers import utc
from warroom.contracts.ticket import OPEN, TIMELINE, TicketRef
from warroom.enums import Role, Severity
from warroom.messages import internal_context
from warroom.models import IncidentState, Notification
from warroom.runbook import load_runbook
from workflows._ticket import timeline, timeline_context

RUNBOOK = load_runbook()
NOW = utc(2026, 11, 28, 14, 23)
INCIDENT = "order-api-20261128-140700"
STATE = IncidentState(
    incident_id=INCIDENT,
    service="order-api",
    summary="Order API returning 503s",
    severity=Severity.P1,
    channel="#incident-2026-11-28-001",
    roles={Role.INCIDENT_COMMANDER: "alice", Role.OPERATIONS_LEAD: "bob"},
    opened_at=utc(2026, 11, 28, 14, 7),
    declared_at=utc(2026, 11, 28, 14, 8),
    mitigated_at=utc(2026, 11, 28, 14, 20),
    resolved_at=NOW,
)


def jira(base: str = f"https://{HOSTS['jira']}", **overrides: Any) -> dict[str, Any]:
    return (
        dict(jira_url=base, jira_email=JIRA_EMAIL, jira_api_token=JIRA_API_TOKEN, jira_project=JIRA_PROJECT) | overrides
    )


def github(base: str = f"https://{HOSTS['github']}", **overrides: Any) -> dict[str, Any]:
    return dict(github_repo=GITHUB_REPO, github_token=GITHUB_TOKEN, github_api_url=base) | overrides


def router(data_dir: Path, vendors: Vendors | None, sleeps: Sleeps | None = None, **settings: Any) -> ChannelRouter:
    transport = vendors.transport if vendors else None
    return build_router(
        ChannelSettings(data_dir=data_dir, http_backoff=0.01, **settings), transport=transport, sleep=sleeps
    )


def ticket(template: str = OPEN, state: IncidentState = STATE) -> Notification:
    extra = timeline_context(state, RUNBOOK, NOW) if template == TIMELINE else {"opened_at": "2026-11-28 14:07"}
    return Notification(
        incident_id=state.incident_id,
        channel="ticket",
        template=template,
        context=internal_context(state, RUNBOOK, NOW, **extra),
    )


async def send(r: ChannelRouter, template: str = OPEN, state: IncidentState = STATE) -> TicketRef:
    """Through the notify activity: the real templates, the router, the answer the workflow reads."""
    delivery = await ActivityEnvironment().run(NotifyActivities(r).notify, ticket(template, state))
    ref = TicketRef.parse(delivery.destination)
    assert ref is not None, delivery.destination
    return ref


async def refused(r: ChannelRouter, template: str = OPEN) -> ApplicationError:
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(NotifyActivities(r).notify, ticket(template))
    assert_no_secrets(caught.value, caught.value.message)
    return caught.value


# --- Routing and settings ----------------------------------------------------------------------


def test_tickets_go_to_jira_else_github_else_a_local_file(tmp_path: Path) -> None:
    assert router(tmp_path, None).describe()["ticket"] == "local"
    assert router(tmp_path, None, **github()).describe()["ticket"] == "github"
    assert router(tmp_path, None, **jira(), **github()).describe()["ticket"] == "jira"
    chosen = router(tmp_path, None, **jira(), **github(), routes={"ticket": "github"})
    assert chosen.describe()["ticket"] == "github"


@pytest.mark.parametrize(
    ("settings", "refusal"),
    [
        (jira(jira_project=None), "WARROOM_JIRA_PROJECT not set"),
        (
            {"jira_url": "https://acme.atlassian.net"},
            "WARROOM_JIRA_EMAIL, WARROOM_JIRA_API_TOKEN, WARROOM_JIRA_PROJECT",
        ),
        (jira(jira_project="ops; DROP"), "jira_project"),
        (jira(jira_project='OPS" OR labels != "x'), "jira_project"),
        (jira(jira_email="not an address"), "jira_email"),
        ({"github_repo": GITHUB_REPO}, "go together"),
        (github(github_repo="acme/.."), "owner/name"),
        (github(github_repo="../../etc/passwd"), "owner/name"),
        (github(github_repo="acme/shop/issues"), "owner/name"),
        (github(ticket_labels="incident,needs triage"), "ticket_labels"),
        ({"routes": {"ticket": "slack"}}, "tickets go to jira, github or local"),
        ({**github(), "routes": {"incident": "github"}}, "tickets go to jira, github or local"),
        ({"routes": {"ticket": "jira"}}, "jira is not configured"),
    ],
)
def test_settings_refuse_a_ticket_system_they_could_not_use(settings: dict[str, Any], refusal: str) -> None:
    with pytest.raises(ValidationError, match=refusal) as caught:
        ChannelSettings(**settings)
    assert_no_secrets(caught.value)


def test_ticket_settings_read_the_environment_and_hide_their_secrets(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name, value in {
        "WARROOM_JIRA_URL": "https://acme.atlassian.net",
        "WARROOM_JIRA_EMAIL": JIRA_EMAIL,
        "WARROOM_JIRA_API_TOKEN": JIRA_API_TOKEN,
        "WARROOM_JIRA_PROJECT": JIRA_PROJECT,
        "WARROOM_GITHUB_REPO": GITHUB_REPO,
        "WARROOM_GITHUB_TOKEN": GITHUB_TOKEN,
        "WARROOM_TICKET_LABELS": "incident, sev",
        "WARROOM_DATA_DIR": str(tmp_path),
    }.items():
        monkeypatch.setenv(name, value)
    settings = ChannelSettings()
    assert settings.route_table()["ticket"] == "jira" and settings.configured() >= {"jira", "github"}
    assert settings.ticket_labels == ["incident", "sev"] and settings.jira_project == JIRA_PROJECT
    assert_no_secrets(repr(settings), str(settings), settings.model_dump_json())


# --- The local ticket (the default) -----------------------------------------------------------


async def test_the_local_ticket_is_a_file_opened_once_with_the_timeline_added_once(tmp_path: Path) -> None:
    r = router(tmp_path, None)
    first = await send(r)
    assert await send(r) == first, "a retried opening finds the ticket it opened"
    document = tmp_path / "tickets" / f"{INCIDENT}.md"
    assert first == TicketRef(system="local", key=INCIDENT, url=document.resolve().as_uri())
    assert document.read_text().startswith("# [P1] order-api: Order API returning 503s\n")

    assert await send(r, TIMELINE) == first
    assert await send(r, TIMELINE) == first
    text = document.read_text()
    assert text.count("Timeline recorded by warroom") == 1
    assert "2026-11-28 14:07 UTC incident opened" in text and "2026-11-28 14:23 UTC resolved" in text
    assert "mitigation (incident opened → mitigation verified): 13m (target 30m, met)" in text
    assert not (tmp_path / "channels" / f"{INCIDENT}.log").exists(), "the ticket is not a channel message"


async def test_a_timeline_with_no_ticket_before_it_opens_one(tmp_path: Path) -> None:
    """An incident declared before tickets existed still gets its ticket at resolution."""
    ref = await send(router(tmp_path, None), TIMELINE)
    text = (tmp_path / "tickets" / f"{INCIDENT}.md").read_text()
    assert ref.system == "local" and text.startswith("# [P1] order-api: Order API returning 503s\n")
    assert "Timeline recorded by warroom" in text


async def test_a_security_incident_ticket_carries_times_and_people_not_details(tmp_path: Path) -> None:
    """Security: details stay out of public channels; a ticket (a GitHub issue may be public) is one."""
    from warroom.models import AlertDigest, ImpactSignals, Step

    secret_state = STATE.model_copy(
        update={
            "signals": ImpactSignals(security=True),
            "summary": "Credential stuffing against /login",
            "recent_alerts": [
                AlertDigest(at=NOW, source="am", fingerprint="f1", summary="LoginFailuresSpike", firing=True)
            ],
            "steps": [
                Step(
                    step_id="s1",
                    action="custom",
                    target="deployment/auth-api",
                    proposed_by="bob",
                    proposed_at=NOW,
                    status="approved",
                    decided_by="alice",
                    decided_at=NOW,
                )
            ],
            "mitigation_applied_at": NOW,
            "mitigation_action": "blocked the attacking ASN",
        }
    )
    r = router(tmp_path, None)
    await send(r, OPEN, secret_state)
    await send(r, TIMELINE, secret_state)
    text = (tmp_path / "tickets" / f"{INCIDENT}.md").read_text()
    assert text.startswith(f"# [P1] order-api: security incident {INCIDENT}\n")
    assert "step s1 proposed by bob: custom\n" in text and "step s1 approved by alice" in text
    for detail in ("Credential stuffing", "LoginFailuresSpike", "deployment/auth-api", "attacking ASN"):
        assert detail not in text, detail
    # The same incident without the flag tells the whole story.
    open_state = secret_state.model_copy(update={"signals": ImpactSignals()})
    assert "LoginFailuresSpike" in "\n".join(timeline(open_state))
    assert "deployment/auth-api" in "\n".join(timeline(open_state))


# --- Jira Cloud --------------------------------------------------------------------------------


async def test_jira_opens_one_issue_with_an_adf_description_and_a_label_per_incident(
    vendors: Vendors, sleeps: Sleeps, tmp_path: Path
) -> None:
    r = router(tmp_path, vendors, sleeps, **jira(jira_issue_type="Incident"))
    ref = await send(r)
    assert ref == TicketRef(system="jira", key="OPS-1", url=f"https://{HOSTS['jira']}/browse/OPS-1")
    issue = vendors.jira.issues["OPS-1"]["fields"]
    assert issue["summary"] == "[P1] order-api: Order API returning 503s"
    assert issue["issuetype"] == {"name": "Incident"} and issue["project"] == {"key": JIRA_PROJECT}
    assert issue["labels"] == [f"incident-{INCIDENT}", "incident"]
    description = issue["description"]
    assert description["type"] == "doc" and description["version"] == 1
    assert description["content"][0]["type"] == "bulletList", "the facts are a list"
    texts = json.dumps(description)
    assert "Incident Commander: alice" in texts and "#incident-2026-11-28-001" in texts

    assert await send(r) == ref
    assert len(vendors.jira.issues) == 1
    creates = [q for q in vendors.jira.requests if q.url.path == "/rest/api/3/issue"]
    assert len(creates) == 1, "the retry found the local record: no search, no second issue"
    # The local copy of what was said to Jira is a log, not a second (local) ticket.
    assert not (tmp_path / "tickets" / f"{INCIDENT}.md").exists()
    assert "[ticket]" in (tmp_path / "channels" / f"{INCIDENT}.ticket.log").read_text()
    await r.aclose()


async def test_jira_finds_the_issue_another_worker_opened_by_its_label(
    vendors: Vendors, sleeps: Sleeps, tmp_path: Path
) -> None:
    ref = await send(router(tmp_path / "one", vendors, sleeps, **jira()))
    assert await send(router(tmp_path / "two", vendors, sleeps, **jira())) == ref
    assert len(vendors.jira.issues) == 1
    search = json.loads(next(q for q in vendors.jira.requests if q.url.path == "/rest/api/3/search/jql").content)
    assert search["jql"] == f'project = "OPS" AND labels = "incident-{INCIDENT}" ORDER BY created ASC'


async def test_a_jira_answer_lost_on_the_way_back_does_not_open_a_second_issue(
    vendors: Vendors, sleeps: Sleeps, tmp_path: Path
) -> None:
    """Jira opened the issue but the answer never came: the create is sent once (no in-activity
    retry), the attempt fails retryable, and the next attempt finds the issue by its label."""
    r = router(tmp_path, vendors, sleeps, **jira())
    vendors.jira.lose_next_create = True
    failure = await refused(r)
    assert (failure.type, failure.non_retryable) == ("ChannelUnavailable", False)
    assert len([q for q in vendors.jira.requests if q.url.path == "/rest/api/3/issue"]) == 1
    ref = await send(r)
    assert ref.key == "OPS-1" and len(vendors.jira.issues) == 1


async def test_jira_search_that_lags_behind_is_why_the_local_record_comes_first(
    vendors: Vendors, sleeps: Sleeps, tmp_path: Path
) -> None:
    """Jira's search may not see an issue just created; the record written after the create does."""
    vendors.jira.search_lags = True
    r = router(tmp_path, vendors, sleeps, **jira())
    ref = await send(r)
    assert await send(r) == ref and len(vendors.jira.issues) == 1
    # Without the record (another data dir) the lagging search cannot see it: the dedup key needs both.
    await send(router(tmp_path / "elsewhere", vendors, sleeps, **jira()))
    assert len(vendors.jira.issues) == 2


async def test_jira_gets_the_timeline_as_one_comment(vendors: Vendors, sleeps: Sleeps, tmp_path: Path) -> None:
    r = router(tmp_path, vendors, sleeps, **jira())
    ref = await send(r)
    assert await send(r, TIMELINE) == ref
    assert await send(r, TIMELINE) == ref
    # A worker without the record looks through the comments and finds the timeline there.
    assert await send(router(tmp_path / "elsewhere", vendors, sleeps, **jira()), TIMELINE) == ref
    [comment] = vendors.jira.comments["OPS-1"]
    text = json.dumps(comment["body"])
    assert f"Timeline recorded by warroom for incident {INCIDENT}" in text
    assert "2026-11-28 14:07 UTC incident opened" in text and "2026-11-28 14:23 UTC resolved" in text
    assert comment["body"]["content"][1]["type"] == "paragraph"


@pytest.mark.parametrize(
    ("settings", "kind", "message"),
    [
        (jira(jira_api_token="wrong-t0ken-value"), "ChannelAuthError", "HTTP 401"),
        (jira(jira_email="someone-else@acme.test"), "ChannelAuthError", "HTTP 401"),
        (jira(jira_issue_type="Epic Saga"), "ChannelRejected", "Specify a valid issue type"),
        (jira(jira_project="NOPE"), "ChannelRejected", "valid project is required"),
    ],
)
async def test_jira_refusals_are_typed_not_retried_and_name_no_secret(
    settings: dict[str, Any], kind: str, message: str, vendors: Vendors, sleeps: Sleeps, tmp_path: Path
) -> None:
    failure = await refused(router(tmp_path, vendors, sleeps, **settings))
    assert (failure.type, failure.non_retryable) == (kind, True)
    assert message in failure.message and failure.message.startswith("jira: ")
    assert sleeps.delays == [] and not vendors.jira.issues
    assert "wrong-t0ken-value" not in failure.message


async def test_jira_unavailable_is_retried_in_the_activity_for_reads_and_left_to_temporal_for_creates(
    vendors: Vendors, sleeps: Sleeps, tmp_path: Path
) -> None:
    r = router(tmp_path, vendors, sleeps, **jira())
    vendors.jira.fail_next(reply(503, {"errorMessages": ["down"]}))  # the search: retried at once
    assert (await send(r)).key == "OPS-1"
    assert len(sleeps.delays) == 1
    vendors.jira.fail_next(reply(429, {}, headers={"Retry-After": "7"}))  # the comment list
    vendors.jira.fail_next(reply(429, {}, headers={"Retry-After": "7"}))
    vendors.jira.fail_next(reply(429, {}, headers={"Retry-After": "7"}))
    failure = await refused(r, TIMELINE)
    assert (failure.type, failure.non_retryable) == ("ChannelRateLimited", False)
    assert failure.next_retry_delay is not None and failure.next_retry_delay.total_seconds() == 7


async def test_jira_over_real_http(tmp_path: Path) -> None:
    fake = FakeJira()
    with served(fake) as base:
        r = router(tmp_path, None, **jira(base))
        ref = await send(r)
        assert ref == TicketRef(system="jira", key="OPS-1", url=f"{base}/browse/OPS-1")
        await send(r, TIMELINE)
        await r.aclose()
    assert len(fake.comments["OPS-1"]) == 1
    assert all(q.headers["Accept"] == "application/json" for q in fake.requests)


# --- GitHub Issues -----------------------------------------------------------------------------


async def test_github_opens_one_issue_per_incident_and_closes_it_with_the_timeline(
    vendors: Vendors, sleeps: Sleeps, tmp_path: Path
) -> None:
    r = router(tmp_path, vendors, sleeps, **github())
    ref = await send(r)
    assert ref == TicketRef(system="github", key=f"{GITHUB_REPO}#1", url=f"https://github.test/{GITHUB_REPO}/issues/1")
    issue = vendors.github.issues[0]
    assert issue["title"] == "[P1] order-api: Order API returning 503s"
    assert [label["name"] for label in issue["labels"]] == [f"incident-{INCIDENT}", "incident"]
    assert "- Incident Commander: alice" in issue["body"]
    request = vendors.github.requests[-1]
    assert request.headers["Accept"] == "application/vnd.github+json"
    assert request.headers["X-GitHub-Api-Version"] == "2022-11-28"

    assert await send(r) == ref and len(vendors.github.issues) == 1
    assert await send(r, TIMELINE) == ref
    assert await send(r, TIMELINE) == ref
    [comment] = vendors.github.comments[1]
    assert "2026-11-28 14:23 UTC resolved" in comment["body"]
    assert (issue["state"], issue["state_reason"]) == ("closed", "completed")


async def test_github_finds_the_issue_by_label_and_a_pull_request_is_not_it(
    vendors: Vendors, sleeps: Sleeps, tmp_path: Path
) -> None:
    vendors.github.add_pull_request([f"incident-{INCIDENT}"])
    ref = await send(router(tmp_path / "one", vendors, sleeps, **github()))
    assert ref.key == f"{GITHUB_REPO}#2"
    assert await send(router(tmp_path / "two", vendors, sleeps, **github())) == ref
    assert await send(router(tmp_path / "three", vendors, sleeps, **github()), TIMELINE) == ref
    assert await send(router(tmp_path / "four", vendors, sleeps, **github()), TIMELINE) == ref
    assert len(vendors.github.issues) == 2 and len(vendors.github.comments[2]) == 1


async def test_github_can_leave_the_issue_open(vendors: Vendors, sleeps: Sleeps, tmp_path: Path) -> None:
    r = router(tmp_path, vendors, sleeps, **github(github_close_on_resolve=False))
    await send(r, TIMELINE)
    assert vendors.github.issues[0]["state"] == "open" and len(vendors.github.comments[1]) == 1
    assert not any(q.method == "PATCH" for q in vendors.github.requests)


@pytest.mark.parametrize(
    ("settings", "answer", "kind", "message"),
    [
        (github(github_token="ghp_wrong-t0ken-value"), None, "ChannelAuthError", "HTTP 401"),
        (github(github_repo="acme/other"), None, "ChannelAuthError", "does not exist, or the token cannot see it"),
        (
            github(),
            reply(403, {"message": "API rate limit exceeded for installation ID 1."}),
            "ChannelRateLimited",
            "rate limited",
        ),
        (github(), reply(410, {"message": "Issues are disabled for this repo"}), "ChannelRejected", "HTTP 410"),
    ],
)
async def test_github_refusals_are_typed_and_name_no_secret(
    settings: dict[str, Any],
    answer: httpx.Response | None,
    kind: str,
    message: str,
    vendors: Vendors,
    sleeps: Sleeps,
    tmp_path: Path,
) -> None:
    if answer is not None:
        vendors.github.fail_next(answer)
    failure = await refused(router(tmp_path, vendors, sleeps, **settings))
    assert failure.type == kind and message in failure.message
    assert failure.non_retryable is (kind != "ChannelRateLimited")
    assert "ghp_wrong-t0ken-value" not in failure.message and not vendors.github.issues


async def test_github_over_real_http(tmp_path: Path) -> None:
    fake = FakeGitHub()
    with served(fake) as base:
        r = router(tmp_path, None, **github(base))
        ref = await send(r)
        await send(r, TIMELINE)
        await r.aclose()
    assert ref.key == f"{GITHUB_REPO}#1" and fake.issues[0]["state"] == "closed"


# --- The adapters on their own -----------------------------------------------------------------


def test_typed_errors_keep_their_meaning() -> None:
    """What the ticket adapters raise is the channel family's: configuration, rejection, retry."""
    assert issubclass(ChannelAuthError, ChannelRejected) and not ChannelRejected.retryable
    assert ChannelRateLimited.retryable and ChannelUnavailable.retryable


async def test_a_plain_local_sink_opens_the_local_ticket_too(tmp_path: Path) -> None:
    """Workers built on the sink alone (tests, the drill) get the same default ticket."""
    delivery = await ActivityEnvironment().run(NotifyActivities(LocalSink(tmp_path, echo=False)).notify, ticket())
    assert TicketRef.parse(delivery.destination) == TicketRef(
        system="local", key=INCIDENT, url=(tmp_path / "tickets" / f"{INCIDENT}.md").resolve().as_uri()
    )


# --- End to end: the incident opens, links and updates its ticket (time-skipping server) --------


async def _histories_text(client: Any, workflow_id: str) -> str:
    from temporalio.service import RPCError

    from tests.history_scan import history_text
    from warroom.enums import Phase
    from warroom.ids import phase_workflow_id

    texts = []
    for wid in [workflow_id, *(phase_workflow_id(workflow_id, phase) for phase in Phase)]:
        try:
            texts.append(await history_text(await client.get_workflow_handle(wid).fetch_history()))
        except RPCError:
            pass
    return "\n".join(texts)


async def _run_to_resolution(env: Any, harness: Any, severity: Severity = Severity.P2) -> IncidentState:
    from tests.helpers import assert_eventually, incident_input, mitigate, not_yet, resolve_when_ready, state_of
    from warroom.enums import Phase
    from warroom.models import Resolve

    handle = await harness.start(
        incident_input(declared=True, declared_by="alice", severity=severity, commander="alice")
    )
    await assert_eventually(lambda: state_of(handle), timeout=5)

    async def in_phase(phase: Phase) -> None:
        assert (await state_of(handle)).phase == phase or not_yet()

    await assert_eventually(lambda: in_phase(Phase.COMMAND), timeout=30)
    await mitigate(env, handle, action="rolled back to v2.14.2")
    await resolve_when_ready(env, handle, Resolve(by="alice", summary="bad deploy rolled back"))

    async def settled() -> IncidentState:
        state = await state_of(handle)
        done = [e for e in state.timeline if e.kind == "phase_completed" and e.data.get("phase") == Phase.RESOLVE.value]
        assert done or not_yet()
        return state

    return await assert_eventually(settled, timeout=30)


async def test_an_incident_opens_its_jira_ticket_links_it_and_adds_the_timeline(
    skipping_env: Any, tmp_path: Path
) -> None:
    from tests.helpers import RecordingSink, running_worker

    fake = FakeJira()
    fake.lose_next_create = True  # the first attempt's answer is lost: the retry must not open a second issue
    with served(fake) as base:
        sink = RecordingSink(tmp_path)
        r = build_router(ChannelSettings(data_dir=tmp_path, **jira(base)), sink=sink)
        async with running_worker(skipping_env.client, tmp_path, sink=r) as harness:
            state = await _run_to_resolution(skipping_env, harness)
            histories = await _histories_text(skipping_env.client, state.workflow_id)
        await r.aclose()

    assert list(fake.issues) == ["OPS-1"], "one issue, though the first create's answer was lost"
    calls = [(q.method, q.url.path) for q in fake.requests]
    # Declare: search, create (answer lost); Temporal's retry: search (found). Resolve: the record, then comments.
    assert calls == [
        ("POST", "/rest/api/3/search/jql"),
        ("POST", "/rest/api/3/issue"),
        ("POST", "/rest/api/3/search/jql"),
        ("GET", "/rest/api/3/issue/OPS-1/comment"),
        ("POST", "/rest/api/3/issue/OPS-1/comment"),
    ]
    opened = [e for e in state.timeline if e.kind == "ticket_opened"]
    assert len(opened) == 1 and opened[0].data == {"ticket": "OPS-1", "url": f"{base}/browse/OPS-1", "system": "jira"}
    links = [text for channel, template, _, text in sink.sent if template == "ticket_link"]
    assert links == [f"🎫 Incident ticket OPS-1: {base}/browse/OPS-1"]
    assert [e.kind for e in state.timeline].count("ticket_updated") == 1
    [comment] = fake.comments["OPS-1"]
    text = adf_text_of(comment["body"])
    assert "declared P2" in text and "mitigation applied: rolled back to v2.14.2" in text and "resolved" in text
    assert fake.issues["OPS-1"]["fields"]["summary"] == "[P2] order-api: Order API returning 503s"
    for secret in (JIRA_API_TOKEN, *_basic()):
        assert secret not in histories


async def test_a_ticket_system_that_refuses_is_said_in_the_channel_and_the_incident_goes_on(
    skipping_env: Any, tmp_path: Path
) -> None:
    from tests.helpers import RecordingSink, running_worker

    fake = FakeJira()
    with served(fake) as base:
        sink = RecordingSink(tmp_path)
        r = build_router(
            ChannelSettings(data_dir=tmp_path, **jira(base, jira_api_token="wrong-t0ken-value")), sink=sink
        )
        async with running_worker(skipping_env.client, tmp_path, sink=r) as harness:
            state = await _run_to_resolution(skipping_env, harness)
            histories = await _histories_text(skipping_env.client, state.workflow_id)
        await r.aclose()

    assert not fake.issues and state.resolved_at is not None
    failures = [text for _, template, _, text in sink.sent if template == "ticket_failed"]
    assert len(failures) == 2
    assert failures[0].startswith("⚠️ The incident ticket could not be opened (ChannelAuthError: jira: search: HTTP 401")
    assert failures[1].startswith(
        "⚠️ The incident ticket could not be updated with the timeline (ChannelAuthError: jira: search: HTTP 401"
    )
    assert sum(e.kind == "notification_failed" and "ticket message" in e.message for e in state.timeline) == 2
    # A configuration error is not retried: one search per phase, nothing more.
    assert len(fake.requests) == 2
    assert "wrong-t0ken-value" not in histories and "HTTP 401" in histories


def _basic() -> tuple[str, str]:
    import base64

    wrong = base64.b64encode(f"{JIRA_EMAIL}:wrong-t0ken-value".encode()).decode()
    right = base64.b64encode(f"{JIRA_EMAIL}:{JIRA_API_TOKEN}".encode()).decode()
    return wrong, right


def adf_text_of(doc: Any) -> str:
    from tests.comms.fakes import adf_text

    return adf_text(doc)
