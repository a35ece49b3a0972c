"""`warroom drill --approval slack`: the rollback waits for a signed Slack button press, and runs on it.

The drill's intake serves /slack/interactions with a signing secret of the drill's own; this test
is Slack: it presses Approve (a `block_actions` body shaped and signed as Slack sends it), after a
forged press that must change nothing. The response_url is a local Slack stand-in.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from slack_sdk.signature import SignatureVerifier

from tests.comms.fakes import FakeSlack, served

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.system("prometheus", "prometheus-alertmanager"),
]


def press(pending: dict[str, str], response_url: str) -> dict[str, object]:
    """Slack's `block_actions` for a press of the drill's Approve button by the drill IC."""
    return {
        "type": "block_actions",
        "team": {"id": "T0DRILL", "domain": "drill"},
        "user": {"id": pending["user_id"], "username": "drill-ic", "team_id": "T0DRILL"},
        "api_app_id": "A0DRILL",
        "container": {"type": "message", "message_ts": "1700000000.000100", "channel_id": "C0DRILL"},
        "trigger_id": "1700000000.1.drill",
        "channel": {"id": "C0DRILL", "name": "incident-drill"},
        "message": {"type": "message", "ts": "1700000000.000100", "text": "rollback proposed"},
        "response_url": response_url,
        "actions": [
            {
                "type": "button",
                "action_id": pending["action_id"],
                "block_id": "warroom_actions",
                "value": pending["value"],
                "text": {"type": "plain_text", "text": "Approve"},
                "action_ts": "1700000001.000200",
            }
        ],
    }


def signed(secret: str, body: bytes, at: int | None = None) -> dict[str, str]:
    timestamp = str(at or int(time.time()))
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=body),
    }


async def test_the_rollback_waits_for_a_signed_slack_approval(tmp_path: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "warroom.cli",
        "drill",
        "--approval",
        "slack",
        "--time-scale",
        "30",
        "--data-dir",
        str(tmp_path),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output = asyncio.ensure_future(proc.communicate())
    slack = FakeSlack()
    pending_file = tmp_path / "drills" / "slack-pending.json"
    try:
        with served(slack) as slack_url:
            deadline = time.monotonic() + 240
            while not pending_file.exists():
                assert not output.done(), (await output)[0].decode()[-3000:]
                assert time.monotonic() < deadline, "the drill never asked for an approval"
                await asyncio.sleep(0.5)
            await asyncio.sleep(0.2)  # the file is written whole; let the writer finish
            pending = json.loads(pending_file.read_text())
            secret = Path(pending["signing_secret_file"]).read_text()
            body = urlencode({"payload": json.dumps(press(pending, f"{slack_url}/responses/1"))}).encode()
            async with httpx.AsyncClient(timeout=30) as http:
                forged = await http.post(pending["interactions_url"], content=body, headers=signed("x" * 32, body))
                assert forged.status_code == 401, forged.text
                await asyncio.sleep(3)
                assert not output.done(), "a forged press must not approve anything"
                pressed = await http.post(pending["interactions_url"], content=body, headers=signed(secret, body))
                assert pressed.status_code == 200, pressed.text
            out, _ = await asyncio.wait_for(output, 300)
            text = out.decode()
            assert proc.returncode == 0, text[-4000:]
            answers = [json.dumps(r) for r in slack.responses]
            decided = re.compile(r"approved \(preview [0-9a-f]+\) by drill-ic \(slack:UDRILLIC0\)")
            assert any(decided.search(a) for a in answers), answers
    finally:
        if proc.returncode is None:
            proc.terminate()
            await proc.wait()
    summary = json.loads((tmp_path / "drills" / "last.json").read_text())
    assert summary["approval"] == "slack"
    kinds = [e["kind"] for e in summary["timeline"]]
    assert "rolled_back" in kinds and "rollback_auto_approved" not in kinds, kinds
    approved = next(e for e in summary["timeline"] if e["kind"] == "step_approved")
    assert approved["actor"] == "drill-ic", approved
    assert summary["rollback_patches"] == 1
    assert not pending_file.exists(), "the drill removes the button and the secret it wrote"
