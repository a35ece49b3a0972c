"""An HTTP step inside a running incident (time-skipping server, a real HTTP server on loopback): the
preview is the rendered request, secret named not shown; the approval names it; the request goes out
once, with the incident/step as its idempotency key and the worker's credential."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from activities.http_steps import HttpStepActivities, HttpStepSettings
from tests.helpers import Harness, running_worker, state_of
from tests.http_steps.support import SECRET, Recorder
from tests.steps_support import approve, commanding, finished, propose, step_where, with_entries
from warroom.enums import Update
from warroom.models import ProposeStep


def kill_switch(base: str) -> dict[str, Any]:
    return {
        "name": "kill-flag",
        "kind": "http",
        "description": "turn a feature flag off",
        "http": {
            "method": "POST",
            "url": base + "/api/v1/flags/{flag}/kill",
            "body": {"flag": "{flag}", "reason": "incident"},
            "credential": "flags-admin",
        },
        "params": [{"name": "flag", "type": "enum", "choices": ["new-checkout", "recommendations"]}],
    }


@pytest.fixture
async def harness(skipping_env: WorkflowEnvironment, tmp_path: Path) -> AsyncIterator[Harness]:
    acts = HttpStepActivities(HttpStepSettings(credentials={"flags-admin": SecretStr(SECRET)}))
    async with running_worker(skipping_env.client, tmp_path, http_steps=acts) as harness:
        yield harness
    await acts.aclose()


async def test_a_kill_switch_is_previewed_as_its_request_and_sent_once(harness: Harness, server: Recorder) -> None:
    handle = await commanding(harness, with_entries(kill_switch(server.base)))
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(
            Update.PROPOSE_STEP, ProposeStep(by="bob", step="kill-flag", params={"flag": "../admin"})
        )
    assert refused.value.cause.type == "InvalidParameter"  # type: ignore[union-attr]
    step_id = await propose(handle, "kill-flag", flag="new-checkout")
    step = await step_where(handle, step_id, lambda s: s.preview is not None)
    assert step.preview is not None
    assert f"POST {server.base}/api/v1/flags/new-checkout/kill" in step.preview.request
    assert 'Authorization: <secret "flags-admin">' in step.preview.request
    assert SECRET not in step.preview.model_dump_json()
    assert server.seen == [], "the preview sends nothing"

    await approve(handle, step_id, step.preview_digest, "the new checkout is the cause")
    done = await finished(handle, step_id)
    assert done.status == "done", done.result
    [sent] = server.seen
    incident_id = (await state_of(handle)).incident_id
    assert (sent.method, sent.path) == ("POST", "/api/v1/flags/new-checkout/kill")
    assert sent.headers["idempotency-key"] == f"{incident_id}/{step_id}"
    assert sent.headers["authorization"] == SECRET
    assert done.result and "→ 200" in done.result and SECRET not in (done.output or "")
