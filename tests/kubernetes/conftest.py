"""One emulated cluster per test (fresh state, ~50 ms), the real kubectl pointed at it, and gateways.

Everything goes over real HTTP on loopback; nothing in the client is patched.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from activities.kubernetes import KubeGateway, KubeSettings
from sandbox.cluster import Cluster, RunningCluster, Scenario, load_scenario, serve
from sandbox.cluster.store import Snapshot

SCENARIO = Path(__file__).with_name("scenario.yaml")
NS = "prod"
KUBECTL = shutil.which("kubectl")


@pytest.fixture(scope="session")
def seeded() -> tuple[Scenario, Snapshot]:
    """The scenario's history replayed once; each test starts its own cluster from this state."""
    scenario = load_scenario(SCENARIO)
    return scenario, Cluster(scenario).snapshot()


@pytest.fixture
def running(seeded: tuple[Scenario, Snapshot]) -> Iterator[RunningCluster]:
    scenario, state = seeded
    with serve(Cluster(scenario, state=state)) as cluster:
        yield cluster


@pytest.fixture
def kubeconfig(running: RunningCluster, tmp_path: Path) -> Path:
    return running.write_kubeconfig(tmp_path / "kubeconfig", namespace=NS)


@pytest.fixture
def gateway(kubeconfig: Path) -> Iterator[KubeGateway]:
    """A generous budget so polling tests stay fast; the default 5/s budget has its own tests."""
    gw = KubeGateway.from_settings(KubeSettings(kubeconfig=str(kubeconfig), qps=500, burst=100))
    yield gw
    gw.close()


Kubectl = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def kubectl(kubeconfig: Path, tmp_path: Path) -> Kubectl:
    if KUBECTL is None:
        pytest.fail('kubectl is not installed: mark the test `@pytest.mark.system("kubectl")` (tests/system.py)')

    def run(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [KUBECTL, "--kubeconfig", str(kubeconfig), "--cache-dir", str(tmp_path / "kube-cache"), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    return run
