"""THE test of the dashboard and the rules: a real Prometheus scrapes a real worker and the intake
while `warroom drill` runs; then every panel's PromQL (each target, $variables substituted) is
evaluated through Prometheus's HTTP API at the drill's last moment, and any panel with no series
fails the test by name. The rules file is loaded into the same Prometheus and must be healthy, and
WarroomWorkerDown must go pending once the drill (and with it its worker) is gone."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers import free_port
from tests.prometheus_server import start_prometheus as real_prometheus

pytestmark = [pytest.mark.e2e, pytest.mark.system("prometheus", "prometheus-alertmanager")]

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "warroom.json"
RULES = ROOT / "deploy" / "prometheus-rules.yml"
RATE_INTERVAL = "5m"
"""$__rate_interval: the whole drill fits in it."""


def panel_queries(dashboard: dict[str, Any]) -> dict[str, list[str]]:
    """Panel title → its targets' PromQL, every $variable replaced by the dashboard's default."""
    values = {v["name"]: v.get("current", {}).get("value") for v in dashboard["templating"]["list"]}
    values["__rate_interval"] = RATE_INTERVAL
    out: dict[str, list[str]] = {}
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            continue
        exprs = []
        for target in panel["targets"]:
            expr = target["expr"]
            for name in sorted(values, key=len, reverse=True):
                if values[name] is not None:
                    expr = expr.replace(f"${name}", str(values[name]))
            assert "$" not in expr, (panel["title"], expr, "a variable the dashboard does not define")
            exprs.append(expr)
        out[panel["title"]] = exprs
    return out


async def start_prometheus(root: Path, worker: str, intake: str) -> tuple[subprocess.Popen[bytes], str]:
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(RULES)],
        "scrape_configs": [
            {"job_name": "warroom-worker", "static_configs": [{"targets": [worker]}]},
            {"job_name": "warroom-intake", "static_configs": [{"targets": [intake]}]},
        ],
    }
    return await real_prometheus(root, config)


async def run_drill(data: Path, worker: str, intake_port: int) -> tuple[float, str]:
    """The drill, to its end; (the Unix time it said "drill complete", its output)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "sandbox.drill",
        "--time-scale",
        "60",
        "--data-dir",
        str(data),
        "--metrics-address",
        worker,
        "--intake-port",
        str(intake_port),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    completed_at = None
    async with asyncio.timeout(300):
        async for raw in proc.stdout:
            lines.append(raw.decode(errors="replace"))
            if completed_at is None and "drill complete" in lines[-1]:
                completed_at = time.time()  # its worker still runs: the last moment Prometheus saw it
        await proc.wait()
    text = "".join(lines)
    assert proc.returncode == 0 and completed_at is not None, text[-3000:]
    return completed_at, text


async def query(http: httpx.AsyncClient, base: str, expr: str, at: float) -> list[dict[str, Any]]:
    answer = (await http.get(f"{base}/api/v1/query", params={"query": expr, "time": f"{at:.3f}"})).json()
    assert answer["status"] == "success", (expr, answer)
    result: list[dict[str, Any]] = answer["data"]["result"]
    return result


async def test_every_dashboard_panel_has_series_after_a_drill_and_the_rules_are_healthy(tmp_path: Path) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    queries = panel_queries(dashboard)
    assert len(queries) >= 20, sorted(queries)
    worker, intake_port = f"127.0.0.1:{free_port()}", free_port()
    prometheus, base = await start_prometheus(tmp_path, worker, f"127.0.0.1:{intake_port}")
    try:
        completed_at, text = await run_drill(tmp_path / "drill", worker, intake_port)
        assert f"worker metrics at http://{worker}/metrics" in text, text[-3000:]
        async with httpx.AsyncClient(timeout=30) as http:
            empty = {}
            for title, exprs in queries.items():
                results = [await query(http, base, expr, completed_at) for expr in exprs]
                if not any(results):
                    empty[title] = exprs
            assert not empty, f"panels with no series after the drill: {json.dumps(empty, indent=2)}"

            # What the drill did shows in the numbers, not only in series that exist.
            def one(result: list[dict[str, Any]]) -> float:
                return sum(float(r["value"][1]) for r in result)

            up = await query(http, base, 'up{job="warroom-worker"}', completed_at)
            assert one(up) == 1
            for expr in (
                "sum(warroom_rollbacks_started_total)",
                'sum(warroom_rollbacks_finished_total{outcome="succeeded"})',
                "sum(warroom_deadlines_fired_total)",
                'sum(warroom_notifications_sent_total{channel="incident"})',
                'sum(warroom_step_decisions_total{decision="approved",policy="veto"})',
                "sum(warroom_clean_window_verdicts_total)",
                'sum(warroom_intake_responses_total{status_class="2xx"})',
                "sum(warroom_open_incidents)",
                "sum(temporal_workflow_task_execution_latency_count)",
            ):
                assert one(await query(http, base, expr, completed_at)) >= 1, expr

            rules = (await http.get(f"{base}/api/v1/rules")).json()["data"]["groups"]
            names = {r["name"]: r for g in rules for r in g["rules"]}
            expected = {"WarroomWorkerDown", "WarroomNotificationsFailing", "WarroomDeadlinesLate", "WarroomIntake5xx"}
            assert expected <= set(names), sorted(names)
            unhealthy = {n: (r["health"], r.get("lastError")) for n, r in names.items() if r["health"] != "ok"}
            assert not unhealthy, unhealthy

            # The drill is over and its worker gone: the worker-down alert starts its `for:` clock.
            deadline = time.monotonic() + 30
            while True:
                alerts = (await http.get(f"{base}/api/v1/alerts")).json()["data"]["alerts"]
                if any(a["labels"]["alertname"] == "WarroomWorkerDown" for a in alerts):
                    break
                assert time.monotonic() < deadline, alerts
                await asyncio.sleep(0.5)
            firing = {a["labels"]["alertname"] for a in alerts if a["state"] == "firing"}
            assert not firing & {"WarroomNotificationsFailing", "WarroomDeadlinesLate"}, alerts
    finally:
        prometheus.terminate()
        prometheus.wait(10)


def test_panel_queries_substitute_every_variable() -> None:
    queries = panel_queries(json.loads(DASHBOARD.read_text()))
    assert all(re.search(r"\[5m\]", e) for exprs in queries.values() for e in exprs if "rate(" in e or "increase(" in e)
