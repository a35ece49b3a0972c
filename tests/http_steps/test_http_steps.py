"""HTTP steps against a real HTTP server on loopback that records every request it receives."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr, ValidationError
from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.http_steps import READ_MAX, HttpStepActivities, HttpStepSettings
from tests.helpers import free_port
from tests.http_steps.support import SECRET, Recorder
from warroom.contracts.steps import HTTP, OUTPUT_MAX, HttpStepRequest, StepOutcome
from warroom.policy.http_request import HttpTemplate, render


def kill_switch(base: str, credential: str | None = "flags-admin") -> HttpTemplate:
    return HttpTemplate.load(
        {
            "method": "POST",
            "url": base + "/api/v1/flags/{flag}/kill?env={env}",
            "body": {"flag": "{flag}", "percent": "{percent}"},
            "credential": credential,
            "timeout_seconds": 5,
        },
        ["flag", "env", "percent"],
    )


def request(base: str, credential: str | None = "flags-admin", **params: Any) -> HttpStepRequest:
    values = {"flag": "new-checkout", "env": "prod", "percent": 0, **params}
    return render(kill_switch(base, credential), values).model_copy(update={"idempotency_key": "INC-7/kill-flag"})


def worker(beat_seconds: float = 5.0, **overrides: Any) -> HttpStepActivities:
    settings = HttpStepSettings(credentials={"flags-admin": SecretStr(SECRET)}, **overrides)
    return HttpStepActivities(settings, beat_seconds=beat_seconds)


async def apply(acts: HttpStepActivities, req: HttpStepRequest) -> StepOutcome:
    try:
        result: StepOutcome = await ActivityEnvironment().run(acts.http_step_apply, req)
        return result
    finally:
        await acts.aclose()


async def failure(acts: HttpStepActivities, req: HttpStepRequest) -> ApplicationError:
    with pytest.raises(ApplicationError) as caught:
        await apply(acts, req)
    return caught.value


async def test_the_server_receives_exactly_the_rendered_request(server: Recorder) -> None:
    outcome = await apply(worker(), request(server.base))
    [seen] = server.seen
    assert (seen.method, seen.path) == ("POST", "/api/v1/flags/new-checkout/kill?env=prod")
    assert json.loads(seen.body) == {"flag": "new-checkout", "percent": 0}
    assert seen.headers["content-type"] == "application/json"
    assert seen.headers["idempotency-key"] == "INC-7/kill-flag"
    assert seen.headers["authorization"] == SECRET
    assert outcome.outcome == "applied"
    assert outcome.summary == f"POST {server.base}/api/v1/flags/new-checkout/kill?env=prod → 200"
    assert outcome.output == '{"killed": true}'
    assert outcome.api_calls == 1 and outcome.details == {"status": "200"}
    assert SECRET not in outcome.model_dump_json()


async def test_no_authorization_header_unless_a_credential_is_named(server: Recorder) -> None:
    await apply(worker(), request(server.base, credential=None))
    [seen] = server.seen
    assert "authorization" not in seen.headers
    assert seen.headers["idempotency-key"] == "INC-7/kill-flag"


async def test_a_500_is_retryable_and_the_caller_s_retry_applies(server: Recorder) -> None:
    server.replies.append((500, {"Retry-After": "3"}, b"flag store down"))
    req = request(server.base)
    error = await failure(worker(), req)
    assert (error.type, error.non_retryable) == ("HttpStepUnavailable", False)
    assert error.next_retry_delay is not None and error.next_retry_delay.total_seconds() == 3
    assert "→ 500: flag store down" in error.message
    outcome = await apply(worker(), req)  # Temporal's retry: the same request, the same key
    assert outcome.outcome == "applied"
    assert [s.headers["idempotency-key"] for s in server.seen] == ["INC-7/kill-flag"] * 2


@pytest.mark.parametrize(
    ("status", "kind", "retryable"),
    [
        (404, "HttpStepRejected", False),
        (422, "HttpStepRejected", False),
        (401, "HttpStepRejected", False),
        (302, "HttpStepRejected", False),
        (429, "HttpStepUnavailable", True),
        (503, "HttpStepUnavailable", True),
        (409, "HttpStepUnavailable", True),
    ],
)
async def test_each_status_s_meaning(server: Recorder, status: int, kind: str, retryable: bool) -> None:
    server.replies.append((status, {"Location": server.base + "/elsewhere"}, SECRET.encode()))
    error = await failure(worker(), request(server.base))
    assert (error.type, error.non_retryable) == (kind, not retryable)
    assert SECRET not in error.message  # a server echoing the token does not leak it
    assert len(server.seen) == 1  # the redirect is not followed


async def test_a_replayed_answer_is_already_applied(server: Recorder) -> None:
    server.replies.append((200, {"Idempotent-Replayed": "true"}, b"{}"))
    outcome = await apply(worker(), request(server.base))
    assert outcome.outcome == "already_applied"


async def test_a_huge_body_is_bounded(server: Recorder) -> None:
    server.replies.append((200, {}, b"x" * (READ_MAX * 4)))
    outcome = await apply(worker(), request(server.base))
    assert len(outcome.output) == OUTPUT_MAX


async def test_nothing_answering_is_retryable() -> None:
    req = request(f"http://127.0.0.1:{free_port()}")
    error = await failure(worker(), req)
    assert (error.type, error.non_retryable) == ("HttpStepUnavailable", False)


async def test_an_origin_outside_the_allow_list_is_refused_with_no_request(server: Recorder) -> None:
    port = server.base.rsplit(":", 1)[1]
    elsewhere = worker(step_origins=f"https://flags.internal, http://localhost:{port}")
    error = await failure(elsewhere, request(server.base))
    assert (error.type, error.non_retryable) == ("StepRefused", True)
    assert server.seen == []
    allowed = worker(step_origins=f"https://flags.internal,{server.base}/")
    assert (await apply(allowed, request(server.base))).outcome == "applied"


async def test_an_unknown_credential_is_refused_with_no_request(server: Recorder) -> None:
    template = kill_switch(server.base, credential="payments-admin")
    req = render(template, {"flag": "f", "env": "prod", "percent": 1})
    error = await failure(worker(), req)
    assert (error.type, error.non_retryable) == ("StepRefused", True)
    assert "payments-admin" in error.message and SECRET not in error.message
    assert server.seen == []


@pytest.mark.parametrize(
    "url",
    [
        "{base}/api/v1/flags/../admin",
        "{base}/api/v1/flags/%2e%2e/admin",
        "{base}/api/v1/flags/x#frag",
        "{base}/api/v1/flags/a b",
        "{base}/api/v1/flags/a\r\nX-Evil: 1",
        "file:///etc/passwd",
        "http://user:pw@127.0.0.1/x",
    ],
)
async def test_a_request_not_rendered_by_the_template_is_refused_here_too(server: Recorder, url: str) -> None:
    req = HttpStepRequest(method="POST", url=url.format(base=server.base))
    error = await failure(worker(), req)
    assert error.type == "StepRefused"
    assert server.seen == []


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(flag=st.sampled_from(["../admin", "a/b", "x?y=1", "x#y", "a\r\nb", "\x00", "x" * 300, "", ".."]) | st.text())
async def test_hostile_params_are_refused_by_render_before_any_request(server: Recorder, flag: str) -> None:
    before = len(server.seen)
    try:
        req = request(server.base, flag=flag)
    except ValueError:
        assert len(server.seen) == before
        return
    await apply(worker(), req)
    [seen] = server.seen[before:]
    assert seen.path.startswith("/api/v1/flags/") and seen.path.count("/") == 5
    assert "/../" not in seen.path and "/./" not in seen.path


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WARROOM_HTTP_CREDENTIALS", json.dumps({"flags-admin": SECRET}))
    monkeypatch.setenv("WARROOM_HTTP_STEP_ORIGINS", "https://flags.internal, http://127.0.0.1:8080")
    loaded = HttpStepSettings()
    assert loaded.credentials["flags-admin"].get_secret_value() == SECRET
    assert loaded.step_origins == ["https://flags.internal:443", "http://127.0.0.1:8080"]
    assert SECRET not in repr(loaded)
    monkeypatch.setenv("WARROOM_HTTP_CREDENTIALS", json.dumps({"bad": "Bearer x\r\nX-Evil: 1"}))
    with pytest.raises(ValidationError, match="credential 'bad'"):
        HttpStepSettings()
    monkeypatch.setenv("WARROOM_HTTP_CREDENTIALS", "{}")
    monkeypatch.setenv("WARROOM_HTTP_STEP_ORIGINS", "https://flags.internal/api")
    with pytest.raises(ValidationError, match="not an origin"):
        HttpStepSettings()


def test_registered_under_the_contract_s_names() -> None:
    names = [activity._Definition.must_from_callable(fn).name for fn in HttpStepActivities().activities()]
    assert names == [c.name for c in HTTP]


async def test_a_slow_server_is_heartbeated_and_cancellation_ends_the_wait(server: Recorder) -> None:
    server.replies.append((-1, {}, b""))  # the handler holds the request for 5 s
    env = ActivityEnvironment()
    beats: list[Any] = []
    env.on_heartbeat = lambda *details: beats.append(details)
    acts = worker(beat_seconds=0.1)
    started = time.monotonic()
    running = asyncio.ensure_future(env.run(acts.http_step_apply, request(server.base)))
    while len(beats) < 3:
        await asyncio.sleep(0.05)
    env.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    assert time.monotonic() - started < 2
    assert beats[0] == ("waiting for the answer",)
    await acts.aclose()
