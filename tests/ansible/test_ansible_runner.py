"""The activity around ansible-runner: refusing bad input before any run, typed failures, heartbeats,
and cancellation or timeout that leave no process and no directory behind."""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import ansible_runner
import pytest
from temporalio.exceptions import ApplicationError, CancelledError
from temporalio.worker import Worker

from activities.ansible import AnsibleSettings, PlaybookRunner
from tests.ansible.support import EXTRA_PLAYBOOKS, Recorder, processes_mentioning
from tests.ansible.workflow_support import RunPlaybook
from warroom.contracts.ansible import (
    HostDiagnosticsRequest,
    PlaybookRequest,
    PostgresHealthRequest,
    ServiceLogsRequest,
)

pytestmark = pytest.mark.system("openssh-client")

TEN_KB = "a" * 10_240

REFUSED: list[tuple[str, PlaybookRequest]] = [
    ("shell metacharacters", PlaybookRequest(playbook="service_logs", extravars={"service": "order-api; rm -rf /"})),
    ("command substitution", PlaybookRequest(playbook="postgres_health", extravars={"pg_host": "$(id)"})),
    (
        "path traversal in a file name",
        PlaybookRequest(playbook="service_logs", extravars={"service": "order-api", "log_file": "../../etc/shadow"}),
    ),
    (
        "dot-dot file name",
        PlaybookRequest(playbook="service_logs", extravars={"service": "order-api", "log_file": ".."}),
    ),
    ("newline", PlaybookRequest(playbook="service_logs", extravars={"service": "order-api\nmalicious"})),
    ("10 KB string", PlaybookRequest(playbook="service_logs", extravars={"service": TEN_KB})),
    ("10 KB string in a generic var", PlaybookRequest(playbook="sleep", extravars={"seconds": 1, "marker": TEN_KB})),
    (
        "Jinja in a generic var",
        PlaybookRequest(playbook="sleep", extravars={"seconds": 1, "marker": "{{ lookup('pipe','id') }}"}),
    ),
    ("reserved ansible_ var", PlaybookRequest(playbook="sleep", extravars={"ansible_python_interpreter": "/bin/sh"})),
    ("unknown var", PlaybookRequest(playbook="noop", extravars={"hosts": "all"})),
    ("out-of-range number", PlaybookRequest(playbook="host_diagnostics", extravars={"sample_seconds": 3600})),
    ("NaN threshold", PlaybookRequest(playbook="host_diagnostics", extravars={"disk_await_max_ms": float("nan")})),
    ("unknown check", PlaybookRequest(playbook="host_diagnostics", extravars={"checks": ["cpu", "rm -rf"]})),
    ("SQL in a database name", PlaybookRequest(playbook="postgres_health", extravars={"pg_database": "x' OR 1=1 --"})),
    ("conninfo injection", PlaybookRequest(playbook="postgres_health", extravars={"pg_user": "a host=evil"})),
    ("unknown credential", PlaybookRequest(playbook="postgres_health", extravars={"credential": "prod-root"})),
    ("playbook path", PlaybookRequest(playbook="../playbooks/noop")),
    ("playbook file name", PlaybookRequest(playbook="noop.yml")),
    ("absolute playbook path", PlaybookRequest(playbook="/etc/passwd")),
    ("unknown playbook", PlaybookRequest(playbook="rm_rf")),
    ("target outside the inventory", PlaybookRequest(playbook="noop", target="evil.example.com")),
    ("target pattern", PlaybookRequest(playbook="noop", target="all")),
    ("remote target for a local-only playbook", PlaybookRequest(playbook="postgres_health", target="db-7.internal")),
    ("timeout beyond the maximum", PlaybookRequest(playbook="noop", timeout_seconds=86_400)),
    ("negative timeout", PlaybookRequest(playbook="noop", timeout_seconds=-1)),
]


@pytest.mark.parametrize("case", REFUSED, ids=[name for name, _ in REFUSED])
def test_bad_input_is_refused_before_anything_runs(
    case: tuple[str, PlaybookRequest], runner: PlaybookRunner, recorder: Recorder, runs_dir: Path
) -> None:
    _, request = case
    with pytest.raises(ApplicationError) as caught:
        recorder.run(runner.run_playbook, request)

    assert caught.value.type == "PlaybookInvalid" and caught.value.non_retryable
    assert TEN_KB not in str(caught.value) and "rm -rf" not in str(caught.value)  # the refused value is not echoed
    assert recorder.beats == []  # no heartbeat: nothing started
    assert list(runs_dir.iterdir()) == []  # not even a private directory


def test_typed_activities_validate_the_same_way(runner: PlaybookRunner, recorder: Recorder, runs_dir: Path) -> None:
    for call, request in [
        (runner.service_logs, ServiceLogsRequest(service="../../etc", log_file="passwd")),
        (runner.postgres_health, PostgresHealthRequest(host="db;reboot")),
    ]:
        with pytest.raises(ApplicationError) as caught:
            recorder.run(call, request)
        assert caught.value.type == "PlaybookInvalid" and caught.value.non_retryable
    assert recorder.beats == [] and list(runs_dir.iterdir()) == []


def test_test_playbooks_exist_only_for_a_worker_configured_with_their_directory(
    runs_dir: Path, recorder: Recorder
) -> None:
    public = PlaybookRunner(AnsibleSettings(temp_root=runs_dir))
    assert public.playbooks() == [
        "host_diagnostics",
        "noop",
        "pg_cancel_long_queries",
        "postgres_health",
        "service_logs",
    ]
    with pytest.raises(ApplicationError) as caught:
        recorder.run(public.run_playbook, PlaybookRequest(playbook="sleep", extravars={"seconds": 1}))
    assert caught.value.type == "PlaybookInvalid" and "unknown playbook" in str(caught.value)

    configured = PlaybookRunner(AnsibleSettings(temp_root=runs_dir, extra_playbook_dir=EXTRA_PLAYBOOKS))
    assert {"sleep", "failing", "broken"} <= set(configured.playbooks())


def test_a_failed_task_is_non_retryable_and_carries_the_partial_result(
    runner: PlaybookRunner, recorder: Recorder, runs_dir: Path
) -> None:
    with pytest.raises(ApplicationError) as caught:
        recorder.run(runner.run_playbook, PlaybookRequest(playbook="failing"))

    error = caught.value
    assert error.type == "TaskFailed" and error.non_retryable
    assert "Check the widget" in str(error) and "widget is broken" in str(error)
    result = error.details[0]
    assert result["status"] == "failed" and result["rc"] == 2
    outcomes = [(t["task"], t["status"], t["ignored"]) for t in result["tasks"]]
    assert outcomes == [("Tolerated failure", "failed", True), ("Check the widget", "failed", False)]
    assert result["hosts"]["localhost"]["ignored"] == 1 and result["hosts"]["localhost"]["failed"] == 1
    assert any(b["failed"] and b["task"] == "Check the widget" for b in recorder.details())
    assert list(runs_dir.iterdir()) == []


def test_a_playbook_ansible_refuses_to_parse_is_invalid(runner: PlaybookRunner, recorder: Recorder) -> None:
    with pytest.raises(ApplicationError) as caught:
        recorder.run(runner.run_playbook, PlaybookRequest(playbook="broken"))

    assert caught.value.type == "PlaybookInvalid" and caught.value.non_retryable
    assert "no_such_keyword" in str(caught.value)


def test_an_unreachable_host_is_retryable(runner: PlaybookRunner, recorder: Recorder) -> None:
    with pytest.raises(ApplicationError) as caught:
        recorder.run(runner.host_diagnostics, HostDiagnosticsRequest(target="db-7.internal", checks=["memory"]))

    assert caught.value.type == "HostUnreachable" and not caught.value.non_retryable
    result = caught.value.details[0]
    unreachable = [t for t in result["tasks"] if t["status"] == "unreachable"]
    assert [t["task"] for t in unreachable] == ["Check CPU, memory, swap, OOM, disk I/O and network"]
    assert unreachable[0]["host"] == "db-7.internal"
    assert result["hosts"]["db-7.internal"]["unreachable"] == 1


def _start_sleep(runner: PlaybookRunner, recorder: Recorder, seconds: int = 60, **request: Any) -> tuple[Any, str]:
    marker = f"warroom-test-{uuid.uuid4().hex}"
    job = recorder.start(
        runner.run_playbook,
        PlaybookRequest(playbook="sleep", extravars={"seconds": seconds, "marker": marker}, **request),
    )
    recorder.wait_for_task("Long step")
    deadline = time.monotonic() + 10
    while not processes_mentioning(marker):  # the command itself is running, under a detached worker
        assert time.monotonic() < deadline, "the sleep command never started"
        time.sleep(0.05)
    return job, marker


def test_cancel_mid_task_leaves_no_orphan_process_and_no_temp_dir(
    runner: PlaybookRunner, recorder: Recorder, runs_dir: Path
) -> None:
    home_tmp = Path.home() / ".ansible" / "tmp"
    before = set(home_tmp.iterdir()) if home_tmp.exists() else set()
    job, marker = _start_sleep(runner, recorder)
    assert processes_mentioning(str(runs_dir))  # ansible-playbook and its worker, found by their run dir
    # A silent task sends no event: only cancel_callback's polls heartbeat now. Cancel after two.
    polls = wait_for_silent_beats(recorder, "Long step", 2)

    recorder.env.cancel()
    job.join(30)

    assert isinstance(job.error, CancelledError), job.error
    assert processes_mentioning(marker, str(runs_dir)) == []
    assert list(runs_dir.iterdir()) == []
    after = set(home_tmp.iterdir()) if home_tmp.exists() else set()
    assert after <= before  # nothing new in ~/.ansible/tmp either
    assert all(beat == polls[0] for beat in polls), "a poll repeats the last event's progress"


def wait_for_silent_beats(recorder: Recorder, task: str, count: int, timeout: float = 30) -> list[dict[str, Any]]:
    """Wait until `count` heartbeats came from cancel_callback's polls during `task` (the beats after
    the task's own runner_on_start, which repeat its progress); returns them."""
    deadline = time.monotonic() + timeout
    while True:
        details = recorder.details()
        starts = [i for i, d in enumerate(details) if d.get("task") == task and d.get("event") == "runner_on_start"]
        polls = [d for d in details[starts[0] + 1 :] if d == details[starts[0]]] if starts else []
        if len(polls) >= count:
            return polls
        assert time.monotonic() < deadline, f"{count} silent heartbeats never came: {details[-5:]}"
        time.sleep(0.05)


def test_cancelling_one_run_leaves_a_concurrent_run_alone(runner: PlaybookRunner, runs_dir: Path) -> None:
    """Runs share the worker process (one thread each); each cancel reaps only its own process tree."""
    first, second = Recorder(), Recorder()
    job_a, marker_a = _start_sleep(runner, first)
    job_b, marker_b = _start_sleep(runner, second)

    first.env.cancel()
    job_a.join(30)
    assert isinstance(job_a.error, CancelledError)
    assert processes_mentioning(marker_a) == [] and processes_mentioning(marker_b)
    assert job_b.thread.is_alive() and len(list(runs_dir.iterdir())) == 1

    second.env.cancel()
    job_b.join(30)
    assert isinstance(job_b.error, CancelledError)
    assert processes_mentioning(marker_b, str(runs_dir)) == [] and list(runs_dir.iterdir()) == []


def test_timeout_stops_the_run_without_orphans_and_is_retryable(
    runner: PlaybookRunner, recorder: Recorder, runs_dir: Path
) -> None:
    job, marker = _start_sleep(runner, recorder, timeout_seconds=1.5)  # the task sleeps 60 s
    job.join(30)

    error = job.error
    assert isinstance(error, ApplicationError) and error.type == "Timeout" and not error.non_retryable
    assert error.details[0]["status"] == "timeout"
    assert processes_mentioning(marker, str(runs_dir)) == []
    assert list(runs_dir.iterdir()) == []


def test_control_ansible_runner_own_cancel_would_orphan_the_command(tmp_path: Path) -> None:
    """Why the activity sends SIGTERM itself: ansible-runner's cancel SIGKILLs the child's process
    group, but ansible-core 2.19 workers called setsid() and survive it, with their command.
    This also shows the /proc scan above does see such orphans."""
    marker = f"warroom-control-{uuid.uuid4().hex}"
    started: list[float] = []

    def handler(event: dict[str, Any]) -> bool:
        if event.get("event") == "runner_on_start" and event["event_data"].get("task") == "Long step":
            started.append(time.monotonic())
        return False

    def cancel() -> bool:
        return bool(started) and time.monotonic() - started[0] > 1.0 and bool(processes_mentioning(marker))

    try:
        with tempfile.TemporaryDirectory(dir=tmp_path) as private:
            runner = ansible_runner.run(
                private_data_dir=private,
                project_dir=str(EXTRA_PLAYBOOKS),
                playbook="sleep.yml",
                quiet=True,
                inventory={
                    "all": {
                        "hosts": {
                            "localhost": {
                                "ansible_connection": "local",
                                "ansible_python_interpreter": "{{ ansible_playbook_python }}",
                            }
                        }
                    }
                },
                extravars={"warroom_target": "localhost", "seconds": 30, "marker": marker},
                envvars={
                    "PATH": f"{AnsibleSettings().ansible_bin_dir}{os.pathsep}{os.environ['PATH']}",
                    "ANSIBLE_LOCAL_TEMP": str(tmp_path),
                    "ANSIBLE_REMOTE_TEMP": str(tmp_path),
                    "TMPDIR": str(tmp_path),
                },
                event_handler=handler,
                cancel_callback=cancel,
            )
            assert runner.status == "canceled"
        time.sleep(0.3)
        assert processes_mentioning(marker), "expected the orphaned command to survive ansible-runner's cancel"
    finally:
        for pid, _ in processes_mentioning(marker):
            os.kill(pid, 9)


@pytest.mark.e2e
async def test_through_a_real_worker_heartbeats_keep_a_silent_task_alive_and_cancel_reaps_it(
    dev_env: Any, runner: PlaybookRunner, runs_dir: Path
) -> None:
    """The same activity on a real Worker (ThreadPoolExecutor) against the dev server: a task silent
    for longer than the 2 s heartbeat timeout survives on cancel_callback heartbeats, and a workflow
    cancel reaches the thread through the heartbeat response."""
    queue = f"ansible-{uuid.uuid4().hex[:8]}"
    marker = f"warroom-e2e-{uuid.uuid4().hex}"
    async with Worker(
        dev_env.client,
        task_queue=queue,
        workflows=[RunPlaybook],
        activities=runner.activities(),
        activity_executor=ThreadPoolExecutor(2),
    ):
        refused = await dev_env.client.execute_workflow(
            RunPlaybook.run,
            PlaybookRequest(playbook="noop", extravars={"service": "a;b"}),
            id=f"refused-{marker}",
            task_queue=queue,
        )
        assert refused == "failed:PlaybookInvalid:NON_RETRYABLE_FAILURE"  # one attempt of three

        handle = await dev_env.client.start_workflow(
            RunPlaybook.run,
            PlaybookRequest(playbook="sleep", extravars={"seconds": 60, "marker": marker}),
            id=f"sleep-{marker}",
            task_queue=queue,
        )
        deadline = time.monotonic() + 30
        while not processes_mentioning(marker):
            assert time.monotonic() < deadline, "the sleep command never started"
            await asyncio.sleep(0.1)
        await asyncio.sleep(4)  # twice the heartbeat timeout, with no ansible output at all
        assert processes_mentioning(marker), "the activity timed out instead of heartbeating"

        await handle.cancel()
        assert await handle.result() == "cancelled"
    assert processes_mentioning(marker, str(runs_dir)) == []
    assert list(runs_dir.iterdir()) == []
