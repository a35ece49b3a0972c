"""What the activity layer costs: `kube_pod_health` through temporalio's ActivityEnvironment vs the
bare client call(s) it makes, in the same run, against the sandbox cluster over loopback HTTP.

    python bench/kube_bench.py [--iterations 300]

Two shapes: pods by labels (one LIST each side) and pods of a Deployment (GET + LIST each side).
The two sides alternate per iteration so drift hits both. The client-side budget is raised out of
the way for the run: at the production 5 requests/s the activity would be throttled by design,
which is not the overhead being measured.
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

from activities.kubernetes import KubeActivities, KubeGateway, KubeSettings  # noqa: E402
from sandbox.cluster import SCENARIOS, load_scenario, serve  # noqa: E402
from warroom.contracts.kubernetes import PodHealthRequest  # noqa: E402

NS = "production"


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return (time.perf_counter() - started) * 1000


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def compare(name: str, direct: Callable[[], object], activity: Callable[[], object], iterations: int) -> None:
    for _ in range(20):  # warm-up: connections, imports, caches
        direct(), activity()
    a: list[float] = []
    d: list[float] = []
    for i in range(iterations):
        if i % 2:
            d.append(timed(direct))
            a.append(timed(activity))
        else:
            a.append(timed(activity))
            d.append(timed(direct))
    d50, a50 = statistics.median(d), statistics.median(a)
    print(f"{name}")
    print(f"  direct client   p50 {d50:7.3f} ms   p90 {pct(d, 90):7.3f} ms")
    print(f"  activity        p50 {a50:7.3f} ms   p90 {pct(a, 90):7.3f} ms")
    print(f"  overhead        p50 {a50 - d50:+7.3f} ms   ratio {a50 / d50:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=300)
    args = parser.parse_args()
    with serve(load_scenario(SCENARIOS / "order-api.yaml")) as running, tempfile.TemporaryDirectory() as tmp:
        kubeconfig = running.write_kubeconfig(Path(tmp) / "kubeconfig", namespace=NS)
        gateway = KubeGateway.from_settings(KubeSettings(kubeconfig=str(kubeconfig), qps=1e9, burst=10**9))
        acts, env = KubeActivities(gateway), ActivityEnvironment()
        # The same ApiClient configuration, used bare.
        core, apps = client.CoreV1Api(gateway.api_client), client.AppsV1Api(gateway.api_client)

        def direct_by_labels() -> object:
            return core.list_namespaced_pod(NS, label_selector="app=payments")

        def direct_by_deployment() -> object:
            d = apps.read_namespaced_deployment("payments", NS)
            selector = ",".join(f"{k}={v}" for k, v in sorted(d.spec.selector.match_labels.items()))
            return core.list_namespaced_pod(NS, label_selector=selector)

        by_labels = PodHealthRequest(namespace=NS, labels={"app": "payments"})
        by_deployment = PodHealthRequest(namespace=NS, deployment="payments")
        print(
            f"kube_pod_health vs the direct client, {args.iterations} iterations each, sandbox cluster at "
            f"{running.url} (3 pods, 2 crash-looping)\n"
        )
        compare(
            "pods by labels (1 request)", direct_by_labels, lambda: env.run(acts.pod_health, by_labels), args.iterations
        )
        compare(
            "pods of a Deployment (2 requests)",
            direct_by_deployment,
            lambda: env.run(acts.pod_health, by_deployment),
            args.iterations,
        )
        gateway.close()


if __name__ == "__main__":
    main()
