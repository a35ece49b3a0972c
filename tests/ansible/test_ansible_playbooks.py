"""The playbooks, run for real through the activities: verdicts, log grep, PostgreSQL health."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from activities.ansible import PlaybookRunner
from tests.ansible.support import Postgres, Recorder
from warroom.contracts.ansible import (
    HostDiagnosticsRequest,
    PlaybookRequest,
    PostgresHealthRequest,
    ServiceLogsRequest,
)

pytestmark = pytest.mark.system("postgresql")

CHECKS = {"cpu", "memory", "swap", "oom", "disk", "network"}


def test_noop_runs_one_task_and_reports_the_recap(runner: PlaybookRunner, recorder: Recorder, runs_dir: Path) -> None:
    result = recorder.run(runner.run_playbook, PlaybookRequest(playbook="noop"))

    assert result.status == "successful" and result.rc == 0
    assert [(t.task, t.host, t.status) for t in result.tasks] == [("Say nothing", "localhost", "ok")]
    assert result.hosts["localhost"].ok == 1 and result.hosts["localhost"].failed == 0
    assert '"msg": "noop"' in result.tasks[0].stdout
    assert list(runs_dir.iterdir()) == []


def test_host_diagnostics_gives_each_check_a_verdict_with_its_number_in_one_run(
    runner: PlaybookRunner, recorder: Recorder
) -> None:
    report = recorder.run(runner.host_diagnostics, HostDiagnosticsRequest(sample_seconds=1))

    assert set(report.checks) == CHECKS
    for name, verdict in report.checks.items():
        assert verdict.check == name
        assert verdict.status in ("ok", "warning", "critical", "unknown")
        assert verdict.summary
    # Every number this machine can give is there (swap may be absent; it then says so, with 0).
    assert 0 <= report.checks["cpu"].value <= 100 and report.checks["cpu"].threshold == 90
    assert len(report.checks["cpu"].details["samples"]) >= 1
    assert 0 < report.checks["memory"].value <= 100
    assert report.checks["disk"].threshold == 100 and report.checks["disk"].unit == "ms"
    assert report.checks["disk"].value is not None and report.checks["disk"].details["devices"]
    assert report.checks["network"].value is not None and report.checks["network"].details["interfaces"]
    assert report.checks["oom"].status != "unknown"  # /proc/vmstat oom_kill at least, whatever dmesg allows
    assert report.run.playbook == "host_diagnostics" and report.run.successful
    assert [t.task for t in report.run.tasks] == [
        "Check CPU, memory, swap, OOM, disk I/O and network",
        "Publish verdicts",
    ]


def test_host_diagnostics_runs_only_the_checks_asked_for(runner: PlaybookRunner, recorder: Recorder) -> None:
    report = recorder.run(
        runner.host_diagnostics,
        HostDiagnosticsRequest(checks=["memory", "oom"], thresholds={"memory_available_min_percent": 100}),
    )

    assert set(report.checks) == {"memory", "oom"}
    # A threshold no machine meets flips the verdict: the caller's thresholds reach the checks.
    assert report.checks["memory"].status == "critical" and report.checks["memory"].threshold == 100
    assert report.checks["oom"].details["lookback_minutes"] == 60


def test_service_logs_counts_matches_in_the_last_lines_and_heartbeats_carry_no_results(
    runner: PlaybookRunner, recorder: Recorder, log_root: Path
) -> None:
    log = log_root / "order-api" / "order-api.log"
    log.parent.mkdir()
    old = ["ERROR an old error beyond the window"] * 50
    recent = (
        ["INFO GET /orders 200"] * 40
        + [
            "ERROR pool: could not connect to server: Connection refused (password=hunter2-in-log)",
            "WARN slow request",
            "java.lang.NullPointerException at OrderController.create",
            "FATAL java.lang.OutOfMemoryError: Java heap space",
            "ERROR upstream payments timed out after 30s",
        ]
        + ["INFO GET /health 200"] * 55
    )
    log.write_text("\n".join(old + recent) + "\n")

    report = recorder.run(runner.service_logs, ServiceLogsRequest(service="order-api", lines=100, samples=3))

    assert report.exists and report.readable and report.file == str(log)
    assert report.lines_scanned == 100
    assert report.matched_lines == 4
    assert report.counts == {"error": 3, "exception": 1, "fatal": 1}  # OutOfMemoryError is an "error" too
    assert report.hints == {"oom": 1, "db_connection": 1, "timeout": 1}
    assert report.samples == [
        "java.lang.NullPointerException at OrderController.create",
        "FATAL java.lang.OutOfMemoryError: Java heap space",
        "ERROR upstream payments timed out after 30s",
    ]

    beats = recorder.details()
    assert beats and all(set(b) == {"counter", "event", "task", "host", "failed"} for b in beats)
    assert "Grep the log tail for error, exception and fatal" in {b["task"] for b in beats}
    assert any(b["event"] == "runner_on_ok" and b["host"] == "localhost" for b in beats)
    assert [b["counter"] for b in beats] == sorted(b["counter"] for b in beats)
    dumped = json.dumps(beats)
    assert "NullPointerException" not in dumped and "hunter2" not in dumped


def test_service_logs_reports_a_missing_file_without_failing(runner: PlaybookRunner, recorder: Recorder) -> None:
    report = recorder.run(runner.service_logs, ServiceLogsRequest(service="billing"))

    assert not report.exists and report.error == "no such file" and report.matched_lines == 0
    assert report.file.endswith("/billing/billing.log")


def test_postgres_health_runs_the_seeds_queries_against_a_live_server(
    runner: PlaybookRunner, recorder: Recorder, postgres: Postgres
) -> None:
    slow = postgres.psql("SELECT pg_sleep(30) /* warroom-slow-query */", background=True)
    idle = postgres.psql("SELECT 1", background=True)
    try:
        deadline = time.monotonic() + 15
        while "warroom-slow-query" not in postgres.psql(
            "SELECT string_agg(query, ' ') FROM pg_stat_activity WHERE state = 'active'"
        ):
            assert time.monotonic() < deadline, "the slow query never showed up"
            time.sleep(0.1)
        time.sleep(0.3)  # let it age, so it is the longest by a margin

        report = recorder.run(
            runner.postgres_health,
            PostgresHealthRequest(port=postgres.port, user=postgres.role, credential="orders-db"),
        )
    finally:
        slow.kill()
        idle.kill()

    assert report.reachable and report.error == ""
    assert report.connections_by_state.get("active", 0) >= 1
    assert report.total_connections == sum(report.connections_by_state.values())
    assert "none" in report.connections_by_state  # background workers have no state; counted, not dropped
    top = report.longest_queries[0]
    assert "pg_sleep(30)" in top.query and top.state == "active"
    assert top.duration_seconds is not None and top.duration_seconds > 0.2
    assert all("pg_stat_activity" not in q.query for q in report.longest_queries)  # its own query is left out
    durations = [q.duration_seconds or 0 for q in report.longest_queries]
    assert durations == sorted(durations, reverse=True)
    # The password went through the environment only: not in the result, not in a heartbeat.
    assert postgres.password not in report.model_dump_json()
    assert postgres.password not in json.dumps(recorder.details())


def test_postgres_health_reports_an_unreachable_database_as_a_finding(
    runner: PlaybookRunner, recorder: Recorder, closed_port: int
) -> None:
    report = recorder.run(runner.postgres_health, PostgresHealthRequest(port=closed_port, connect_timeout=2))

    assert not report.reachable
    assert "Connection refused" in report.error or "connection" in report.error.lower()
    assert report.connections_by_state == {} and report.longest_queries == []
    assert report.run.successful
