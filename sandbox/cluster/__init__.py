"""A Kubernetes API server emulator for tests and demos: real REST paths and JSON over HTTP.

Serves discovery, namespaces, apps/v1 Deployments and ReplicaSets, core/v1 Pods (with logs) and
Events, and runs a Deployment controller, a ReplicaSet controller and a kubelet whose containers
behave as a scenario file says. The official client and the real `kubectl` both work against it.
"""

from sandbox.cluster.cluster import Cluster
from sandbox.cluster.scenario import SCENARIOS, ImageBehavior, Scenario, load_scenario
from sandbox.cluster.server import RunningCluster, serve, start

__all__ = ["SCENARIOS", "Cluster", "ImageBehavior", "RunningCluster", "Scenario", "load_scenario", "serve", "start"]
