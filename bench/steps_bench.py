"""Step catalog benchmark (issue 13), end to end through the Incident workflow, each number against a
baseline measured in the same run.

    python bench/steps_bench.py                 # 30 samples of each step
    python bench/steps_bench.py --samples 100

One Temporal dev server, the sandbox cluster emulator, and a worker in this process with the real
KubeActivities (production client budget: 5 req/s, burst 10). One P2 incident, declared by alice
(the IC), on deployment production/bench-app; bob (Ops Lead) proposes `restart` and `scale` steps
in turn.

1. Propose → preview ready: from the `propose_step` update's return to the moment the worker hands
   the channel the `step_preview` message (the IC is asked, with the dry run's digest). Baselines:
   (a) ONE raw server-side dry-run PATCH of the same body through the same kubernetes client (the
   issue's baseline; goal ≤ 2x at the activity level, which bench/steps_kube_bench.py measures), and
   (b) the bare-SDK path: a trivial workflow whose update starts one activity making that dry run.
2. Approve → effect at the API: from the `approve` update's return (accepted and applied) to the
   arrival of the step's real PATCH at the emulator (`Recorded.at`), and the API requests about
   bench-app in between, the PATCH included. Goal: p99 ≤ 500 ms and ≤ 3 API calls.

Before each approval the bench waits for the API to go quiet for 2.2 s (as after an IC reads the
preview; it also leaves client-go's budget full). The machine should be otherwise idle for final
numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import reliability_bench as rb  # noqa: E402  (its DevServer, Emulator, sink and helpers)

NS, IC, OPS = rb.NS, rb.IC, "bob"

BASELINE = '''"""Baseline of bench/steps_bench.py: an update that runs one dry-run activity."""
from datetime import timedelta

from temporalio import workflow


@workflow.defn(name="BenchPreviewBaseline")
class PreviewBaseline:
    def __init__(self) -> None:
        self.done = False

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: self.done)

    @workflow.update
    async def preview(self, body: dict) -> dict:
        return await workflow.execute_activity(
            "bench_dry_run", body, start_to_close_timeout=timedelta(seconds=30), result_type=dict
        )

    @workflow.signal
    def finish(self) -> None:
        self.done = True
'''


def percentiles(values: list[float]) -> str:
    return f"p50 {rb.percentile(values, 50):7.1f} ms  p99 {rb.percentile(values, 99):7.1f} ms"


async def bench(args: argparse.Namespace, workdir: Path) -> int:
    from concurrent.futures import ThreadPoolExecutor

    from temporalio import activity
    from temporalio.worker import Worker

    from activities.kubernetes import KubeActivities, KubeGateway, KubeSettings
    from sandbox.cluster import start
    from warroom.enums import Role, Severity, Update
    from warroom.incidents import Incidents
    from warroom.models import AssignRole, DeploymentTarget, IncidentInput, ProposeStep, StepDecision
    from warroom.runbook import load_runbook
    from warroom.worker import build_worker
    from workflows.incident import IncidentWorkflow

    (workdir / "steps_bench_baseline.py").write_text(BASELINE)
    sys.path.insert(0, str(workdir))
    import steps_bench_baseline as baseline  # type: ignore[import-not-found]

    running = start(rb.approval_scenario())
    emu = rb.Emulator(running)
    gateway = KubeGateway.from_settings(
        KubeSettings(kubeconfig=str(running.write_kubeconfig(workdir / "kubeconfig", namespace=NS)))
    )

    @activity.defn(name="bench_dry_run")
    def dry_run(body: dict[str, Any]) -> dict[str, Any]:
        gateway.apps.patch_namespaced_deployment_scale(
            "baseline-app", NS, body=body, dry_run="All", _content_type="application/merge-patch+json"
        )
        return {}

    def raw_dry_run(replicas: int) -> float:
        started = time.monotonic()
        dry_run({"spec": {"replicas": replicas}})
        return (time.monotonic() - started) * 1000

    try:
        async with rb.DevServer(workdir / "temporal") as server:
            client = await server.client("steps-bench")
            queue = f"bench-steps-{uuid.uuid4().hex[:6]}"
            sink = rb.timed_sink(workdir / "channels", None)
            runbook = load_runbook()
            worker = build_worker(client, queue, sink, kube_activities=KubeActivities(gateway).all())
            pool = ThreadPoolExecutor(max_workers=4)
            base_worker = Worker(
                client,
                task_queue=f"{queue}-baseline",
                workflows=[baseline.PreviewBaseline],
                activities=[dry_run],
                activity_executor=pool,
            )
            incidents = Incidents(client)
            async with worker, base_worker:
                incident_id = f"bench-steps-{uuid.uuid4().hex[:6]}"
                handle = await client.start_workflow(
                    IncidentWorkflow.run,
                    IncidentInput(
                        incident_id=incident_id,
                        service="order-api",
                        summary="bench: steps",
                        runbook=runbook,
                        severity=Severity.P2,
                        declared=True,
                        declared_by=IC,
                        commander=IC,
                        target=DeploymentTarget(namespace=NS, deployment="bench-app"),
                    ),
                    id=f"incident-{incident_id}",
                    task_queue=queue,
                )
                await rb.wait_until(lambda: rb.answers(handle.query("state")), 60, "the incident to start")
                await incidents.act(
                    incident_id, Update.ASSIGN_ROLE, AssignRole(role=Role.OPERATIONS_LEAD, person=OPS, by=IC)
                )
                await rb.wait_until(
                    lambda: (
                        sink.delivered(incident_id, "diagnosis")
                        or sink.delivered(incident_id, "rollback_not_indicated")
                    ),
                    300,
                    "the Command phase's first checks",
                )
                preview_ms: dict[str, list[float]] = {"restart": [], "scale": []}
                effect_ms: dict[str, list[float]] = {"restart": [], "scale": []}
                calls: dict[str, list[int]] = {"restart": [], "scale": []}
                raw_ms: list[float] = []
                bare_ms: list[float] = []
                base = await client.start_workflow(
                    baseline.PreviewBaseline.run, id=f"baseline-{incident_id}", task_queue=f"{queue}-baseline"
                )
                total = args.samples + args.warmup
                progress = rb.Counter("samples", total * 2)
                for i in range(total):
                    for name in ("restart", "scale"):
                        params: dict[str, Any] = {"replicas": 3 + (i % 2)} if name == "scale" else {}
                        await emu.quiet()
                        seen = len(sink.sent)
                        result = await incidents.act(
                            incident_id, Update.PROPOSE_STEP, ProposeStep(by=OPS, step=name, params=params)
                        )
                        accepted = time.time()
                        step_id = result.step_id or ""

                        def asked(mark: int = seen) -> float | None:
                            return next(
                                (at for iid, t, at in sink.sent[mark:] if iid == incident_id and t == "step_preview"),
                                None,
                            )

                        asked_at = await rb.wait_until(asked, 60, "the step's preview", 0.002)
                        state = await incidents.state(incident_id)
                        step = next(s for s in state.steps if s.step_id == step_id)
                        await emu.quiet()
                        mark = len(emu.requests)
                        await incidents.act(
                            incident_id,
                            Update.APPROVE,
                            StepDecision(step_id=step_id, by=IC, reason="bench", preview=step.preview_digest),
                        )
                        approved = time.monotonic()
                        index, patch = await first_write(emu, mark)
                        about, _ = emu.calls_about("bench-app", mark, index)

                        async def finished(sid: str = step_id) -> bool:
                            s = next(x for x in (await incidents.state(incident_id)).steps if x.step_id == sid)
                            return s.status in ("done", "failed", "cancelled")

                        await rb.wait_until(finished, 120, "the step to finish", 0.1)
                        if i >= args.warmup:
                            preview_ms[name].append((asked_at - accepted) * 1000)
                            effect_ms[name].append((patch.at - approved) * 1000)
                            calls[name].append(about)
                        progress.update(2 * i + (name == "scale") + 1)
                    raw_ms.append(await asyncio.to_thread(raw_dry_run, 2 + i % 2))
                    started = time.monotonic()
                    await base.execute_update(baseline.PreviewBaseline.preview, {"spec": {"replicas": 2 + i % 2}})
                    bare_ms.append((time.monotonic() - started) * 1000)
                progress.close()
                await base.signal(baseline.PreviewBaseline.finish)
                await handle.terminate(reason="benchmark done")
    finally:
        gateway.close()
        running.stop()

    raw, bare = raw_ms[args.warmup :], bare_ms[args.warmup :]
    print(f"\n1. propose → preview ready ({args.samples} samples each)")
    print(f"   baseline (a) one raw dry-run PATCH:          {percentiles(raw)}")
    print(f"   baseline (b) bare SDK update → one activity: {percentiles(bare)}")
    ok = True
    for name in ("restart", "scale"):
        got = preview_ms[name]
        ratio_raw = rb.percentile(got, 50) / rb.percentile(raw, 50)
        ratio_bare = rb.percentile(got, 50) / rb.percentile(bare, 50)
        print(
            f"   {name:8s} warroom: {percentiles(got)}   p50 ratio: {ratio_raw:5.1f}x raw, {ratio_bare:4.2f}x bare SDK"
        )
    print("\n2. approve → the effect at the API (goal: p99 ≤ 500 ms, ≤ 3 API calls)")
    for name in ("restart", "scale"):
        got, n = effect_ms[name], calls[name]
        good = rb.percentile(got, 99) <= 500 and max(n) <= 3
        ok = ok and good
        print(
            f"   {name:8s} {percentiles(got)}   API calls: mean {statistics.mean(n):.2f}, max {max(n)}   "
            + rb.verdict(good)
        )
    return 0 if ok else 1


async def first_write(emu: Any, mark: int, timeout: float = 60) -> tuple[int, Any]:
    """The first real (not dry-run) PATCH of bench-app (or its scale) at index ≥ mark."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for index in range(mark, len(emu.requests)):
            r = emu.requests[index]
            if r.method == "PATCH" and "/deployments/bench-app" in r.path and "dryRun" not in r.query:
                return index, r
        await asyncio.sleep(0.002)
    raise SystemExit(f"no write to bench-app within {timeout:.0f} s of the approval")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=30, help="measured samples of each step")
    parser.add_argument("--warmup", type=int, default=2, help="unmeasured samples first")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, SQLite)")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="steps-bench-"))
    rb.quiet_sdk_logs(workdir / "bench.log")
    try:
        return asyncio.run(bench(args, workdir))
    finally:
        rb.finish(workdir, args.keep)


if __name__ == "__main__":
    sys.exit(main())
