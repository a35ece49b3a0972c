"""Chat benchmark: a signed Slack button press → the update accepted → the answer, against a bare endpoint.

    python bench/chat_bench.py [--n 200]

Starts its own stack, each piece in its own process as in production: a Temporal dev server (in
memory), the warroom worker, the intake (`python -m warroom.intake.server`, Slack configured: signing
secret, bot token, roster) and the baseline: a bare FastAPI endpoint that verifies the same signature
with slack_sdk and sends the same `acknowledge` update straight through the SDK, answering once the
update is accepted. This process is Slack: it presses Acknowledge on one incident, the two endpoints
interleaved one for one, and serves the Slack Web API stand-in that receives warroom's `chat.update`.

Measured per press (ms):
- warroom answer: POST → HTTP 200. warroom answers at once and finishes in the background, as
  Slack's 3-second rule asks;
- warroom decided: POST → the message updated in place (`chat.update` seen by the stand-in), i.e.
  the update accepted by the incident and the result shown;
- baseline: POST → HTTP 200 after the update was accepted.
Goal (issue #15): warroom decided p99 ≤ 300 ms; reported as a ratio against the baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
from fastapi import Request, Response  # module level: FastAPI resolves the endpoint's annotations here

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.stack import Stack as BenchStack  # noqa: E402
from tests.comms.fakes import SLACK_TOKEN, FakeSlack, served  # noqa: E402
from warroom.contracts.chat import ChatAction  # noqa: E402
from warroom.devserver import free_port  # noqa: E402

SECRET = "bench-signing-secret-0123456789ab"
SLACK_USER = "U0BENCHIC"
IC = "alice"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def signed(body: bytes) -> dict[str, str]:
    from slack_sdk.signature import SignatureVerifier

    timestamp = str(int(time.time()))
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": SignatureVerifier(SECRET).generate_signature(timestamp=timestamp, body=body),
    }


def press(incident_id: str, channel: str, ts: str, response_url: str) -> bytes:
    action = ChatAction(kind="ack", incident_id=incident_id)
    payload = {
        "type": "block_actions",
        "team": {"id": "T0BENCH", "domain": "bench"},
        "user": {"id": SLACK_USER, "username": IC, "team_id": "T0BENCH"},
        "api_app_id": "A0BENCH",
        "container": {"type": "message", "message_ts": ts, "channel_id": channel},
        "trigger_id": f"{ts}.trigger",
        "channel": {"id": channel, "name": "incident-bench"},
        "message": {"type": "message", "ts": ts, "text": "page", "blocks": []},
        "response_url": response_url,
        "actions": [
            {
                "type": "button",
                "action_id": action.action_id,
                "block_id": "warroom_actions",
                "value": action.to_value(),
                "action_ts": ts,
            }
        ],
    }
    return urlencode({"payload": json.dumps(payload)}).encode()


# --- the baseline endpoint (its own process: `--serve-baseline PORT ADDRESS QUEUE`) ------------


def serve_baseline(port: int, address: str) -> None:
    """A bare signed FastAPI endpoint: verify, parse, send the update, answer."""
    import uvicorn
    from fastapi import FastAPI
    from slack_sdk.signature import SignatureVerifier

    from warroom.client import connect
    from warroom.models import Acknowledge, UpdateResult
    from warroom.settings import Settings

    app = FastAPI()
    verifier = SignatureVerifier(SECRET)
    clients: list[Any] = []

    @app.post("/slack/interactions")
    async def interactions(request: Request) -> Response:
        body = await request.body()
        if not verifier.is_valid_request(body, dict(request.headers)):
            return Response(status_code=401)
        from urllib.parse import parse_qs

        payload = json.loads(parse_qs(body.decode())["payload"][0])
        action = ChatAction.from_value(payload["actions"][0]["value"])
        if not clients:
            clients.append(await connect(Settings(temporal_address=address), identity="bench-baseline"))
        handle = clients[0].get_workflow_handle(f"incident-{action.incident_id}")
        result = await handle.execute_update("acknowledge", Acknowledge(by=IC), result_type=UpdateResult)
        return Response(result.model_dump_json(), media_type="application/json")

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


# --- the stack ---------------------------------------------------------------------------------


class Stack(BenchStack):
    """The bench stack with Slack configured on the intake, and the bare-SDK baseline's server."""

    def __init__(self, workdir: Path, slack_url: str) -> None:
        super().__init__(workdir)
        self.slack_url = slack_url
        self.baseline_port = free_port()

    async def start(self, intake_env: dict[str, str] | None = None) -> None:
        roster = self.workdir / "oncall.yaml"
        roster.write_text(f"people:\n  - name: {IC}\n    contacts: {{slack_id: {SLACK_USER}}}\n")
        await super().start(
            {
                "WARROOM_ONCALL": str(roster),
                "WARROOM_SLACK_SIGNING_SECRET": SECRET,
                "WARROOM_SLACK_TOKEN": SLACK_TOKEN,
                "WARROOM_SLACK_API_URL": f"{self.slack_url}/api",
            }
        )
        self.spawn(
            "baseline",
            [sys.executable, str(Path(__file__)), "--serve-baseline", str(self.baseline_port), self.address],
            self.env,
        )
        await self.wait_port(self.baseline_port)


async def until(check: Any, timeout: float = 10.0) -> None:
    deadline = time.perf_counter() + timeout
    while not check():
        if time.perf_counter() > deadline:
            raise SystemExit("warroom never updated the message; see the intake's log")
        await asyncio.sleep(0.001)


async def main(n: int) -> None:
    from warroom.client import connect
    from warroom.enums import Severity
    from warroom.incidents import Incidents
    from warroom.models import IncidentInput
    from warroom.runbook import load_runbook
    from warroom.settings import Settings

    slack = FakeSlack()
    channel = slack.add_channel("incident-bench", member=True)
    with served(slack) as slack_url, tempfile.TemporaryDirectory(prefix="chat-bench-") as tmp:
        stack = Stack(Path(tmp), slack_url)
        try:
            await stack.start()
            client = await connect(Settings(temporal_address=stack.address), identity="bench")
            incident_id = f"order-api-{uuid.uuid4().hex[:8]}"
            inp = IncidentInput(
                incident_id=incident_id,
                service="order-api",
                summary="Order API returning 503s",
                runbook=load_runbook(),
                severity=Severity.P2,
                declared=True,
                declared_by=IC,
                commander=IC,
                publish_search_attributes=False,
            )
            await Incidents(client).start(inp, stack.queue)
            answer: list[float] = []
            decided: list[float] = []
            baseline: list[float] = []
            base_url = f"http://127.0.0.1:{stack.baseline_port}/slack/interactions"
            intake_url = f"http://127.0.0.1:{stack.intake_port}/slack/interactions"
            async with httpx.AsyncClient(timeout=30) as http:
                for i in range(-20, n):  # 20 warm-up rounds, not measured
                    ts = f"1700000000.{i + 100:06d}"
                    slack.messages.append({"channel": channel, "text": "page", "ts": ts, "blocks": []})
                    message = slack.messages[-1]
                    body = press(incident_id, channel, ts, f"{slack_url}/responses/{i + 100}")
                    started = time.perf_counter()
                    response = await http.post(intake_url, content=body, headers=signed(body))
                    answered = time.perf_counter()
                    if response.status_code != 200:
                        raise SystemExit(f"intake answered {response.status_code}: {response.text}")
                    await until(lambda m=message: bool(m.get("edits")))
                    done = time.perf_counter()
                    body = press(incident_id, channel, ts + "b", f"{slack_url}/responses/b{i}")
                    base_started = time.perf_counter()
                    response = await http.post(base_url, content=body, headers=signed(body))
                    base_done = time.perf_counter()
                    if response.status_code != 200:
                        raise SystemExit(f"baseline answered {response.status_code}: {response.text}")
                    if i >= 0:
                        answer.append((answered - started) * 1000)
                        decided.append((done - started) * 1000)
                        baseline.append((base_done - base_started) * 1000)
        finally:
            stack.stop()
    rows = (("warroom answer", answer), ("warroom decided", decided), ("baseline (bare)", baseline))
    print(f"Slack button press → acknowledge, N={n} each, sequential, interleaved")
    for name, values in rows:
        print(f"  {name:<16}: p50 {statistics.median(values):6.1f} ms   p99 {percentile(values, 99):6.1f} ms")
    p50 = statistics.median(decided) / statistics.median(baseline)
    p99 = percentile(decided, 99) / percentile(baseline, 99)
    print(f"  decided/baseline: p50 {p50:.2f}x   p99 {p99:.2f}x   (goal: decided p99 ≤ 300 ms)")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--serve-baseline":
        serve_baseline(int(sys.argv[2]), sys.argv[3])
        sys.exit(0)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=200, help="presses measured on each endpoint (after 20 warm-up)")
    asyncio.run(main(parser.parse_args().n))
