"""The Block Kit the Slack adapter sends back, as pure functions."""

from __future__ import annotations

import json

from warroom.contracts.chat import ChatAction
from warroom.intake.slack_views import decided_blocks, deny_modal, ephemeral, in_channel, reason_errors

SECTION = {"type": "section", "text": {"type": "mrkdwn", "text": "*Step proposed*"}}
ACTIONS = {"type": "actions", "elements": [{"type": "button", "action_id": "warroom_approve"}]}


def test_a_decision_replaces_the_buttons_and_keeps_the_rest() -> None:
    blocks = decided_blocks([SECTION, ACTIONS], "Step s1 proposed", "✔ Step s1 approved by alice (slack:U0A)")
    assert blocks[0] == SECTION and [b["type"] for b in blocks] == ["section", "context"]
    assert blocks[1]["elements"][0]["text"] == "✔ Step s1 approved by alice (slack:U0A)"


def test_a_message_without_blocks_keeps_its_text() -> None:
    blocks = decided_blocks(None, "Step s1 proposed", "✖ Step s1 denied by bob (slack:U0B): <!here> no")
    assert blocks[0]["text"]["text"] == "Step s1 proposed"
    assert blocks[1]["elements"][0]["text"].endswith(": &lt;!here&gt; no")


def test_what_people_typed_cannot_mention_a_channel() -> None:
    reply = in_channel("U0ALICE", "/incident", "update --hypothesis '<!channel> & <@U0BOSS>'", "recorded")
    assert reply["response_type"] == "in_channel" and reply["text"].startswith("<@U0ALICE> ")
    assert "<!channel>" not in reply["text"] and "<@U0BOSS>" not in reply["text"] and "&amp;" in reply["text"]
    assert ephemeral("<!everyone>")["text"] == "&lt;!everyone&gt;"


def test_the_deny_modal_carries_the_button_and_message() -> None:
    value = ChatAction(kind="deny", incident_id="order-api-1", step_id="s1").to_value()
    view = deny_modal(value, "C0001", "1700000000.000001")
    assert (view["type"], view["callback_id"]) == ("modal", "warroom_deny")
    [field] = view["blocks"]
    assert (field["block_id"], field["element"]["action_id"], field["element"]["max_length"]) == (
        "reason",
        "reason",
        300,
    )
    assert field["element"]["multiline"] is True
    assert json.loads(view["private_metadata"]) == {"value": value, "channel": "C0001", "ts": "1700000000.000001"}
    assert reason_errors() == {
        "response_action": "errors",
        "errors": {"reason": "Say why: the reason stays in the timeline"},
    }
