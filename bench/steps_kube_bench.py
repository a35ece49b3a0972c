"""What a Kubernetes step costs: `kube_step_preview` and `kube_step_apply` through temporalio's
ActivityEnvironment, against the sandbox cluster over loopback HTTP, with a baseline measured in the
same run.

    python bench/steps_kube_bench.py [--iterations 300]

1. propose → preview, for `scale` and `restart`: kube_step_preview (GET + the dry-run PATCH) vs ONE
   raw dry-run PATCH of the same body with the kubernetes client. Goal: p50 and p99 ratio ≤ 2×.
   The two sides alternate per iteration so drift hits both.
2. apply, for `scale` and `restart`: kube_step_apply after a fresh preview (its `observed` sent as
   `expected`): the time until the PATCH reaches the API server (the effect), the whole activity,
   and the requests per apply (the activity's count and the server's log). Goals: p99 ≤ 500 ms,
   ≤ 3 requests.

The client-side budget is raised out of the way (at 5 requests/s the activity is throttled by
design, which is not what is measured), and the emulator's controllers are held during the runs so
that a hundred restarts do not start a hundred rollouts in this same process.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout: the sandbox is not installed

from kubernetes import client  # noqa: E402
from temporalio.testing import ActivityEnvironment  # noqa: E402

from activities.kubernetes import KubeGateway, KubeSettings, KubeStepActivities  # noqa: E402
from activities.kubernetes.steps import RESTARTED_AT  # noqa: E402
from sandbox.cluster import SCENARIOS, load_scenario, serve  # noqa: E402
from warroom.contracts.steps import KubeStepRequest, StepOutcome, StepPreview  # noqa: E402

NS, NAME = "production", "payments"


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return (time.perf_counter() - started) * 1000


def pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def line(label: str, values: list[float]) -> str:
    return f"  {label:<34} p50 {statistics.median(values):7.3f} ms   p99 {pct(values, 99):7.3f} ms"


def compare(
    name: str, raw: Callable[[], object], floor: Callable[[], object], preview: Callable[[], object], iterations: int
) -> None:
    """`raw`: the baseline (one request); `floor`: the preview's two requests made bare, so what the
    activity adds beyond its requests shows apart from the second round trip it needs."""
    sides = (raw, floor, preview)
    for _ in range(20):  # warm-up: connections, imports, caches
        for fn in sides:
            fn()
    times: list[list[float]] = [[], [], []]
    for i in range(iterations):
        for k in range(3):  # rotate the order so drift hits every side
            j = (i + k) % 3
            times[j].append(timed(sides[j]))
    r, f, p = times
    r50, p50, r99, p99 = statistics.median(r), statistics.median(p), pct(r, 99), pct(p, 99)
    print(f"{name}")
    print(line("one raw dry-run PATCH (client)", r))
    print(line("raw GET + dry-run PATCH (client)", f))
    print(line("kube_step_preview (GET + PATCH)", p))
    print(f"  ratio to one PATCH                 p50 {p50 / r50:5.2f}x        p99 {p99 / r99:5.2f}x   (goal ≤ 2x)")
    print(
        f"  ratio to its two requests bare     p50 {p50 / statistics.median(f):5.2f}x"
        f"        p99 {p99 / pct(f, 99):5.2f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=300)
    args = parser.parse_args()
    n = args.iterations
    with serve(load_scenario(SCENARIOS / "order-api.yaml")) as running, tempfile.TemporaryDirectory() as tmp:
        cluster = running.cluster
        kubeconfig = running.write_kubeconfig(Path(tmp) / "kubeconfig", namespace=NS)
        gateway = KubeGateway.from_settings(KubeSettings(kubeconfig=str(kubeconfig), qps=1e9, burst=10**9))
        acts, env = KubeStepActivities(gateway), ActivityEnvironment()
        apps = client.AppsV1Api(gateway.api_client)  # the same ApiClient configuration, used bare
        at = "2026-12-06T10:00:00Z"
        scale = KubeStepRequest(action="scale", namespace=NS, deployment=NAME, replicas=5)
        restart = KubeStepRequest(action="restart", namespace=NS, deployment=NAME, restarted_at=at)
        restart_body = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: at}}}}}

        def raw_scale() -> object:
            return apps.patch_namespaced_deployment_scale(
                NAME, NS, body={"spec": {"replicas": 5}}, dry_run="All", _content_type="application/merge-patch+json"
            )

        def get() -> object:
            return apps.read_namespaced_deployment(NAME, NS)

        def raw_restart() -> object:
            return apps.patch_namespaced_deployment(
                NAME,
                NS,
                body=restart_body,
                dry_run="All",
                field_manager="warroom",
                _content_type="application/strategic-merge-patch+json",
            )

        print(f"Kubernetes steps, {n} iterations each, sandbox cluster at {running.url} (deployment/{NAME})\n")
        print("1. propose → preview\n")
        with cluster.held():
            compare(
                "scale 2 → 5",
                raw_scale,
                lambda: (get(), raw_scale()),
                lambda: env.run(acts.kube_step_preview, scale),
                n,
            )
            compare(
                "restart",
                raw_restart,
                lambda: (get(), raw_restart()),
                lambda: env.run(acts.kube_step_preview, restart),
                n,
            )

        print("\n2. apply (after a fresh preview; `expected` = its observed)\n")
        path = f"/apis/apps/v1/namespaces/{NS}/deployments/{NAME}"

        def applies(name: str, request_for: Callable[[int], KubeStepRequest]) -> None:
            effect: list[float] = []
            whole: list[float] = []
            counted: list[int] = []
            logged: list[int] = []
            with cluster.held():
                for i in range(n):
                    request = request_for(i)
                    preview: StepPreview = env.run(acts.kube_step_preview, request)
                    mark = len(running.requests)
                    started = time.monotonic()
                    outcome: StepOutcome = env.run(
                        acts.kube_step_apply, request.model_copy(update={"expected": preview.observed})
                    )
                    ended = time.monotonic()
                    sent = running.requests[mark:]
                    patch = next(r for r in sent if r.method == "PATCH" and r.path.startswith(path))
                    assert outcome.outcome == "applied", outcome
                    effect.append((patch.at - started) * 1000)
                    whole.append((ended - started) * 1000)
                    counted.append(outcome.api_calls or 0)
                    logged.append(len(sent))
            print(name)
            print(line("PATCH at the API server after", effect) + "   (goal p99 ≤ 500 ms)")
            print(line("kube_step_apply, whole", whole))
            print(
                f"  requests per apply                 activity {max(counted)} (max)   API server log {max(logged)}"
                f" (max), {statistics.mean(logged):.2f} (mean)   (goal ≤ 3)"
            )

        applies(
            "scale (alternating 3 / 4 replicas)",
            lambda i: scale.model_copy(update={"replicas": 3 + i % 2}),
        )
        applies(
            "restart (a new restartedAt each time)",
            lambda i: restart.model_copy(
                update={"restarted_at": f"2026-12-06T{10 + i // 3600:02d}:{i // 60 % 60:02d}:{i % 60:02d}Z"}
            ),
        )
        gateway.close()


if __name__ == "__main__":
    main()
