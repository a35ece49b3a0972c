"""Slack messages that ask for a decision: Block Kit sections, the buttons (`buttons_for`) with
warroom's action values, the preview's digest, long texts split without loss; over real HTTP; and
a step preview posted by a real worker reaching the channel with Approve and Deny."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from temporalio.testing import WorkflowEnvironment

from activities.channels import build_router
from activities.channels._http import DeliveryRetry, HttpClient
from activities.channels.slack import ACTIONS_BLOCK_ID, SECTION_LIMIT, SlackChannel, split_text
from tests.comms.fakes import HOSTS, SLACK_TOKEN, FakeSlack, Sleeps, Vendors, served, vendor_settings
from tests.helpers import assert_eventually, incident_input, running_worker, state_of
from warroom.contracts.chat import VALUE_LIMIT, ChatAction
from warroom.enums import Severity, Update
from warroom.models import Notification, ProposeStep, UpdateResult
from warroom.oncall.models import Contacts, Resolution

CHANNEL = "incident-2026-11-28-order-api-1407"
INCIDENT = "order-api-20261128-140700"
DIGEST = "3f9a0c1b2d4e"


def slack(vendors: Vendors, sleeps: Sleeps) -> SlackChannel:
    http = HttpClient(transport=vendors.transport, sleep=sleeps, retry=DeliveryRetry(backoff=0.01))
    return SlackChannel(http, SecretStr(SLACK_TOKEN), api_url=f"https://{HOSTS['slack']}/api/")


def note(template: str, channel: str = "incident", **context: Any) -> Notification:
    base: dict[str, Any] = {"channel": f"#{CHANNEL}", "declared": True}
    return Notification(incident_id=INCIDENT, channel=channel, template=template, context={**base, **context})


def actions(message: dict[str, Any]) -> list[dict[str, Any]]:
    blocks = message["blocks"] or []
    found = [b for b in blocks if b["type"] == "actions"]
    assert len(found) <= 1, "one actions block"
    return found[0]["elements"] if found else []


def check_buttons(message: dict[str, Any]) -> list[ChatAction]:
    """What Slack would refuse or warroom could not read back: checked on every button."""
    elements = actions(message)
    ids = [e["action_id"] for e in elements]
    assert len(ids) == len(set(ids)), f"duplicate action_ids: {ids}"
    decoded = []
    for element in elements:
        assert element["type"] == "button" and element["text"]["type"] == "plain_text"
        assert 0 < len(element["text"]["text"]) <= 75 and len(element["value"]) <= VALUE_LIMIT
        action = ChatAction.from_value(element["value"])
        assert action.action_id == element["action_id"]
        assert element.get("style") in (None, "primary", "danger")
        decoded.append(action)
    return decoded


def sections(message: dict[str, Any]) -> list[str]:
    texts = [b["text"]["text"] for b in message["blocks"] if b["type"] == "section"]
    assert all(b["text"]["type"] == "mrkdwn" for b in message["blocks"] if b["type"] == "section")
    assert all(0 < len(t) <= SECTION_LIMIT for t in texts)
    return texts


def context_lines(message: dict[str, Any]) -> list[str]:
    return [e["text"] for b in message["blocks"] if b["type"] == "context" for e in b["elements"]]


@pytest.mark.parametrize("template", ["ic_page", "oncall_page", "repage"])
async def test_a_page_carries_acknowledge_and_while_undeclared_declare(
    vendors: Vendors, sleeps: Sleeps, template: str
) -> None:
    adapter = slack(vendors, sleeps)
    alice = Resolution(
        role="ic", at=datetime(2026, 11, 28, tzinfo=UTC), source="person", contacts=Contacts(slack_id="U0ALICE")
    )
    declared = note(template, channel="page").model_copy(update={"recipients": [alice]})
    await adapter.deliver(declared, "🚨 PAGE alice: you are paged")
    await adapter.deliver(note(template, channel="page", declared=False), "🚨 PAGE: not declared yet")

    first, second = vendors.slack.messages
    assert first["text"] == "<@U0ALICE> 🚨 PAGE alice: you are paged", "the fallback text is the whole message"
    assert sections(first) == [first["text"]], "the mention stays in the text"
    assert [b["block_id"] for b in first["blocks"] if b["type"] == "actions"] == [ACTIONS_BLOCK_ID]
    assert check_buttons(first) == [ChatAction(kind="ack", incident_id=INCIDENT)]
    assert actions(first)[0]["style"] == "primary" and actions(first)[0]["text"]["text"] == "Acknowledge"
    assert context_lines(first) == []

    assert check_buttons(second) == [
        ChatAction(kind="ack", incident_id=INCIDENT),
        *(ChatAction(kind="declare", incident_id=INCIDENT, severity=s) for s in Severity),
    ]
    assert [e["text"]["text"] for e in actions(second)] == ["Acknowledge", "Declare P1", "Declare P2", "Declare P3"]
    assert [e["action_id"] for e in actions(second)][1:] == [f"warroom_declare_{s.value}" for s in Severity]


@pytest.mark.parametrize("template", ["step_preview", "step_proposed", "rollback_proposed", "step_reprompt"])
async def test_a_step_asks_approve_and_deny_naming_its_preview(vendors: Vendors, sleeps: Sleeps, template: str) -> None:
    adapter = slack(vendors, sleeps)
    await adapter.deliver(note(template, step_id="s2", digest=DIGEST), "🔎 Step s2 (restart) proposed by bob")
    await adapter.deliver(note(template, step_id="s3"), "🗳 Step s3 proposed by bob")

    with_digest, without = vendors.slack.messages
    approve, deny = check_buttons(with_digest)
    assert approve == ChatAction(kind="approve", incident_id=INCIDENT, step_id="s2", digest=DIGEST)
    assert DIGEST in actions(with_digest)[0]["value"]
    assert deny == ChatAction(kind="deny", incident_id=INCIDENT, step_id="s2")
    assert [(e["text"]["text"], e["style"]) for e in actions(with_digest)] == [
        ("Approve", "primary"),
        ("Deny", "danger"),
    ]
    assert context_lines(with_digest) == [f"Approving approves preview {DIGEST}"]
    assert [b["type"] for b in with_digest["blocks"]] == ["section", "context", "actions"]

    assert [a.kind for a in check_buttons(without)] == ["approve", "deny"]
    assert check_buttons(without)[0].digest is None and context_lines(without) == []


async def test_the_customer_email_draft_carries_approve_email(vendors: Vendors, sleeps: Sleeps) -> None:
    await slack(vendors, sleeps).deliver(note("customer_email_draft", step_id="s7"), "✉️ Customer e-mail draft")
    (message,) = vendors.slack.messages
    assert check_buttons(message) == [ChatAction(kind="approve_email", incident_id=INCIDENT, step_id="s7")]
    assert actions(message)[0]["text"]["text"] == "Approve e-mail"
    assert actions(message)[0]["action_id"] == "warroom_approve_email"


@pytest.mark.parametrize(
    ("template", "context"),
    [
        ("internal_update", {}),
        ("channel_opened", {}),
        ("step_preview", {"step_id": "../../etc"}),  # an id warroom would not make: no button at all
        ("step_preview", {}),  # no step: nothing to decide
    ],
)
async def test_a_message_without_buttons_stays_plain_text(
    vendors: Vendors, sleeps: Sleeps, template: str, context: dict[str, Any]
) -> None:
    await slack(vendors, sleeps).deliver(note(template, **context), "⚡ INCIDENT UPDATE — 14:23 UTC")
    (message,) = vendors.slack.messages
    assert message["blocks"] is None and message["text"] == "⚡ INCIDENT UPDATE — 14:23 UTC"
    assert "blocks" not in vendors.slack.requests[-1].content.decode()


async def test_a_long_message_is_split_into_sections_and_nothing_is_lost(vendors: Vendors, sleeps: Sleeps) -> None:
    lines = [f"  • pods/order-api-{i:04d}: image v1.4.{i} → v1.4.{i + 1}" for i in range(150)]
    text = "🔎 Step s2 (restart) proposed by bob\n" + "\n".join(lines) + "\nPreview 3f9a0c1b2d4e."
    assert 7000 <= len(text) < 9000
    await slack(vendors, sleeps).deliver(note("step_preview", step_id="s2", digest=DIGEST), text)
    (message,) = vendors.slack.messages
    pieces = sections(message)
    assert len(pieces) == 3 and "".join(pieces) == text, "split at line breaks, in order, nothing lost"
    assert all(p.endswith("\n") for p in pieces[:-1]), "cut after a line break, not inside a line"
    assert message["text"] == text, "the notification's fallback is the whole message"

    one_line = "x" * 7000  # no line break to cut at: cut at the limit
    assert [len(p) for p in split_text(one_line)] == [3000, 3000, 1000]
    assert "".join(split_text(one_line)) == one_line
    assert split_text("") == [] and split_text("a\n") == ["a\n"]
    escaped = "x" * 2998 + "&amp;" + "y" * 10
    assert split_text(escaped) == ["x" * 2998, "&amp;" + "y" * 10], "an escape is never cut in two"


def test_a_huge_message_stays_within_slacks_block_limit() -> None:
    from activities.channels.slack import MAX_BLOCKS, message_blocks

    huge = ("y" * 2999 + "\n") * 60
    blocks = message_blocks(note("step_preview", step_id="s2", digest=DIGEST), huge)
    assert blocks is not None and len(blocks) == MAX_BLOCKS
    assert blocks[-1]["type"] == "actions" and blocks[-2]["type"] == "context"
    assert blocks[-3]["text"]["text"].startswith("… (") and "more characters not shown" in blocks[-3]["text"]["text"]


async def test_buttons_over_real_http() -> None:
    fake = FakeSlack()
    with served(fake) as base:
        http = HttpClient(retry=DeliveryRetry(backoff=0.01))
        adapter = SlackChannel(http, SecretStr(SLACK_TOKEN), api_url=f"{base}/api")
        await adapter.deliver(note("step_preview", step_id="s2", digest=DIGEST), "🔎 Step s2 proposed")
        await http.aclose()
    (message,) = fake.messages
    assert [a.kind for a in check_buttons(message)] == ["approve", "deny"]
    request = fake.requests[-1]
    assert request.url.path == "/api/chat.postMessage"
    assert request.headers["Content-Type"].startswith("application/json")


async def test_a_page_routed_to_slack_reaches_the_incident_channel_with_acknowledge(
    vendors: Vendors, sleeps: Sleeps, tmp_path: Path
) -> None:
    """Without PagerDuty, `page` goes to the chat adapter: the incident's own channel (before
    declaration, when the incident has no channel yet, `#incident-<id>`)."""
    router = build_router(
        vendor_settings(tmp_path, pagerduty_routing_key=None), transport=vendors.transport, sleep=sleeps
    )
    assert router.describe()["page"] == "slack"
    await router.deliver(note("ic_page", channel="page"), "🚨 PAGE alice")
    undeclared = note("oncall_page", channel="page", declared=False).model_copy(update={"context": {"declared": False}})
    await router.deliver(undeclared, "🚨 PAGE the on-call")
    assert vendors.slack.texts(CHANNEL) == ["🚨 PAGE alice"]
    assert vendors.slack.texts(f"incident-{INCIDENT}") == ["🚨 PAGE the on-call"]
    declared, before = vendors.slack.messages
    assert [a.kind for a in check_buttons(declared)] == ["ack"]
    assert [a.kind for a in check_buttons(before)] == ["ack", "declare", "declare", "declare"]
    await router.aclose()


# --- end to end: a real worker posting a step preview ------------------------------------------


def _channel_named(handle: Any) -> Any:
    async def check() -> None:
        assert (await state_of(handle)).channel

    return check


async def test_a_proposed_step_reaches_slack_with_approve_and_deny(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    fake = FakeSlack()
    with served(fake) as base:
        settings = vendor_settings(
            tmp_path,
            slack_api_url=f"{base}/api",
            pagerduty_routing_key=None,
            statuspage_api_key=None,
            statuspage_page_id=None,
            statuspage_component_id=None,
        )
        router = build_router(settings)
        async with running_worker(dev_env.client, tmp_path, sink=router) as harness:  # type: ignore[arg-type]
            handle = await harness.start(
                incident_input(declared=True, severity=Severity.P2, commander="alice", declared_by="alice")
            )
            incident = handle.id.removeprefix("incident-")
            # The IC proposes from the numbered channel (a step proposed before it is named is
            # posted to `#incident-<id>`, the name a channel-less incident's messages use).
            await assert_eventually(_channel_named(handle), timeout=20)
            proposed = await handle.execute_update(
                Update.PROPOSE_STEP,
                ProposeStep(by="alice", step="page", params={"who": "database-oncall"}, description="pg is slow"),
                result_type=UpdateResult,
            )

            def asked() -> dict[str, Any]:
                found = [m for m in fake.messages if any(a.kind == "approve" for a in check_buttons(m))]
                assert found, [m["text"][:60] for m in fake.messages]
                return found[0]

            message = await assert_eventually(asked, timeout=20)
            state = await state_of(handle)
        await router.aclose()

    step = next(s for s in state.steps if s.step_id == proposed.step_id)
    assert step.preview_digest
    approve, deny = check_buttons(message)
    assert approve == ChatAction(
        kind="approve", incident_id=incident, step_id=proposed.step_id, digest=step.preview_digest
    )
    assert deny == ChatAction(kind="deny", incident_id=incident, step_id=proposed.step_id)
    assert context_lines(message) == [f"Approving approves preview {step.preview_digest}"]
    assert state.channel and fake.by_name(state.channel.lstrip("#"))["id"] == message["channel"]  # type: ignore[index]
    assert "".join(sections(message)) == message["text"] and step.preview_digest in message["text"]


async def test_text_from_an_alert_cannot_ping_the_channel_or_disguise_a_link(vendors: Vendors, sleeps: Sleeps) -> None:
    alice = Resolution(
        role="ic", at=datetime(2026, 11, 28, tzinfo=UTC), source="person", contacts=Contacts(slack_id="U0ALICE")
    )
    page = note("ic_page", channel="page").model_copy(update={"recipients": [alice]})
    hostile = "🚨 PAGE: <!channel> order-api <@U0BOSS> says <https://evil.test|status page> & p99 > 5s"
    await slack(vendors, sleeps).deliver(page, hostile)
    await slack(vendors, sleeps).deliver(note("internal_update"), "<!here> a & b")
    with_buttons, plain = vendors.slack.messages
    expected = (
        "<@U0ALICE> 🚨 PAGE: &lt;!channel&gt; order-api &lt;@U0BOSS&gt; says "
        "&lt;https://evil.test|status page&gt; &amp; p99 &gt; 5s"
    )
    assert with_buttons["text"] == expected and sections(with_buttons) == [expected]
    assert plain["text"] == "&lt;!here&gt; a &amp; b"
