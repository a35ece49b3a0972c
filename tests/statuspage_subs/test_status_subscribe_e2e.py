"""Double opt-in end to end: the real intake over HTTP, a real SMTP server (aiosmtpd, STARTTLS and
AUTH), a real worker on the dev server. The confirmation mail's link is followed; a P1's status
page post then reaches the inbox (with a working one-click unsubscribe) and a webhook receiver
(whose signature is checked); and no subscriber address or secret is in any of the incident's histories."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import uuid
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from activities.channels import ChannelSettings, build_router
from tests.comms.fakes import Mailbox, free_port
from tests.helpers import assert_eventually, incident_input, start_incident, state_of
from tests.history_scan import history_text
from tests.intake.support import terminate
from tests.statuspage_subs.subs_support import mails_to, smtp_env, subscriber_settings, webhook_receiver
from warroom.enums import Phase, Severity
from warroom.ids import phase_workflow_id
from warroom.intake import IntakeSettings, create_app
from warroom.intake.server import running
from warroom.settings import Settings
from warroom.statuspage.subscribers import State, SubscriberStore
from warroom.worker import build_worker

READER = "reader@customer.test"


def has(items: list[Any], n: int) -> None:
    assert len(items) == n, f"{len(items)} of {n} so far"


def link_in(msg: EmailMessage, path: str) -> str:
    body = msg.get_content()
    match = re.search(rf"http://\S+{re.escape(path)}\?token=\S+", body)
    assert match, f"no {path} link in:\n{body}"
    return match.group(0)


async def test_double_opt_in_then_a_status_post_reaches_the_inbox_and_the_webhook(
    dev_env: WorkflowEnvironment, smtp_server: Mailbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    smtp_env(monkeypatch, smtp_server)
    data = tmp_path / "data"
    port = free_port()
    subs = subscriber_settings(f"http://127.0.0.1:{port}")
    queue = f"test-{uuid.uuid4().hex[:8]}"
    router = build_router(ChannelSettings(data_dir=data, subscribers=subs))
    worker = build_worker(dev_env.client, queue, router)

    async def client_factory() -> Any:
        return dev_env.client

    intake = create_app(
        IntakeSettings(temporal=Settings(task_queue=queue, data_dir=data, subscribers=subs)), client_factory
    )
    since = len(smtp_server.received)
    handle = None
    with webhook_receiver() as hook:
        async with (
            running(intake, port=port) as url,
            httpx.AsyncClient(base_url=url, timeout=30) as http,
            worker,
        ):
            try:
                # 1. Subscribe: 202, and a confirmation mail with a signed link to this intake.
                answer = await http.post("/status/subscribe", json={"email": "Reader@Customer.test"})
                assert answer.status_code == 202, answer.text
                assert "reader" not in answer.text.lower(), "the answer does not echo the address"
                await assert_eventually(lambda: has(mails_to(smtp_server, READER, since), 1), 30)
                confirmation = mails_to(smtp_server, READER, since)[0]
                assert confirmation["Subject"] == "Confirm your status page subscription"
                confirm = link_in(confirmation, "/status/confirm")
                assert confirm.startswith(url)

                # 2. Nothing goes to a pending address; following the link confirms it.
                store: SubscriberStore = intake.state.subscribers
                assert store.confirmed() == []
                page = await http.get(confirm)
                assert page.status_code == 200 and "Subscribed" in page.text
                assert [s.address for s in store.confirmed()] == [READER]

                # 3. A webhook subscribes too, and gets its secret once.
                made = await http.post("/status/webhooks", json={"url": hook.url})
                assert made.status_code == 201, made.text
                secret = made.json()["secret"]

                # 4. A P1 is declared: its initial status page post goes to both.
                handle = await start_incident(
                    dev_env.client,
                    queue,
                    incident_input(declared=True, severity=Severity.P1, commander="alice", declared_by="carol"),
                )
                await assert_eventually(lambda: has(mails_to(smtp_server, READER, since), 2), 90)
                await assert_eventually(lambda: has(hook.got, 1), 30)

                async def posted() -> None:  # the activity's result is in history before the incident ends
                    assert "status_page_initial" in [e.kind for e in (await state_of(handle)).timeline]

                await assert_eventually(posted, 30)
            finally:
                if handle is not None:
                    await terminate(dev_env.client, {handle.id})

            update = mails_to(smtp_server, READER, since)[1]
            assert update["Subject"].startswith("[Investigating] ")
            assert update["To"] == READER, "one message per address: nobody sees another subscriber"
            unsubscribe = link_in(update, "/status/unsubscribe")
            assert update["List-Unsubscribe"] == f"<{unsubscribe}>"
            assert update["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
            assert "alice" not in update.get_content() and handle.id.removeprefix("incident-") not in str(update)

            # 5. The webhook's delivery verifies with its secret, over "<timestamp>.<body>".
            headers, body = hook.got[0]
            stamp = headers["x-warroom-timestamp"]
            expected = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
            assert headers["x-warroom-signature"] == f"sha256={expected}"
            assert not hmac.compare_digest(
                headers["x-warroom-signature"],
                "sha256=" + hmac.new(b"wrong", stamp.encode() + b"." + body, hashlib.sha256).hexdigest(),
            )
            delivered = json.loads(body)
            assert delivered["incident"]["status"] == "investigating" and delivered["update"]["text"]
            assert "alice" not in body.decode() and "order-api-" not in body.decode()

            # 6. The mail's unsubscribe link: GET shows one button (scanners change nothing), POST unsubscribes.
            shown = await http.get(unsubscribe)
            assert shown.status_code == 200 and 'method="post"' in shown.text
            assert [s.address for s in store.confirmed() if s.kind == "email"] == [READER]
            gone = await http.post(
                unsubscribe,
                content=b"List-Unsubscribe=One-Click",
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
            assert gone.status_code == 200 and "Unsubscribed" in gone.text
            assert [s.kind for s in store.confirmed()] == ["webhook"]
            subscriber = next(s for s in [store.get(sid) for sid in _ids(store)] if s and s.address == READER)
            assert subscriber.state == State.UNSUBSCRIBED

    # 7. No address, URL or secret of a subscriber in any of the incident's histories; the scan does
    #    read the payloads (the fan-out's counts are there).
    texts = []
    for workflow_id in [handle.id, *(phase_workflow_id(handle.id, p) for p in Phase)]:
        try:
            history = await dev_env.client.get_workflow_handle(workflow_id).fetch_history()
        except Exception:  # noqa: BLE001 - a phase that never started
            continue
        texts.append(await history_text(history))
    everything = "\n".join(texts)
    assert re.findall(r"subscribers: [^\n\"]*", everything) == ["subscribers: 2 sent"], "the scan reads results"
    for leak in (READER, "Reader@Customer.test", hook.url, secret, subs.key().decode()):
        assert leak not in everything, f"{leak!r} is in a workflow history"
    await router.aclose()


def _ids(store: SubscriberStore) -> list[str]:
    with store.engine.connect() as conn:
        return [row.id for row in conn.execute(store.subscribers.select())]
