"""A scenario file: how each image version behaves and which deployments exist, with their history.

    defaults: {start_seconds: 0.05, ready_seconds: 0.1}
    images:
      "registry.example.com/order-api:v2.14.3":
        behavior: crashloop          # healthy | crashloop | errors | image_pull
        reason: OOMKilled
        crash_logs: ["FATAL java.lang.OutOfMemoryError: Java heap space"]
    namespaces: [production]
    deployments:
      - name: order-api
        namespace: production
        history:                     # one rollout each, oldest first; `at` is relative to start-up
          - {image: "registry.example.com/order-api:v2.14.2", at: -3h, change_cause: "deploy v2.14.2"}
          - {image: "registry.example.com/order-api:v2.14.3", at: -25m, change_cause: "deploy v2.14.3",
             annotations: {warroom.io/db-migration-applied: "2024-11-28-orders-index"}}

Image keys are exact images or shell patterns (`*:v2.14.3`); an image matching none behaves as
`defaults` say (healthy unless told otherwise).
"""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

Behavior = Literal["healthy", "crashloop", "errors", "image_pull"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ImageBehavior(_Model):
    behavior: Behavior = "healthy"
    start_seconds: float = Field(1.0, ge=0, description="ContainerCreating before the first start")
    ready_seconds: float = Field(2.0, ge=0, description="from start to passing readiness")
    ready: bool = Field(True, description="errors: whether readiness still passes while serving 5xx")
    run_seconds: float = Field(5.0, gt=0, description="crashloop: how long each container instance lives")
    exit_code: int = 137
    reason: str = "OOMKilled"
    backoff_seconds: float = Field(10.0, gt=0, description="first CrashLoopBackOff delay; doubles up to the max")
    max_backoff_seconds: float = Field(300.0, gt=0)
    log_interval_seconds: float = Field(1.0, gt=0)
    startup_logs: list[str] = ["INFO starting"]
    logs: list[str] = Field(default_factory=list, description="repeated while running, cycling")
    crash_logs: list[str] = Field(default_factory=list, description="written just before the container dies")
    probe_message: str = "Readiness probe failed: HTTP probe failed with statuscode: 503"
    probe_period_seconds: float = Field(10.0, gt=0, description="ready: false: one more failed probe this often")
    cpu_millicores: float = Field(5.0, ge=0, description="what `kubectl top` reports for a running container")
    memory_mib: float = Field(64.0, ge=0)


class HistoryEntry(_Model):
    image: str | dict[str, str] = Field(..., description="one image, or container name → image")
    at: str = Field("now", description="relative to start-up: -3h, -2h30m, -90s, now")
    change_cause: str | None = None
    annotations: dict[str, str] = Field(
        default_factory=dict, description="deployment annotations set with this rollout"
    )

    @field_validator("at")
    @classmethod
    def _relative(cls, value: str) -> str:
        offset_seconds(value)
        return value


class DeploymentSeed(_Model):
    name: str
    namespace: str = "default"
    replicas: int = Field(3, ge=0)
    labels: dict[str, str] = Field(default_factory=dict, description="selector and pod labels; default app=<name>")
    container: str = "app"
    port: int | None = 8080
    max_surge: int | str = "25%"
    max_unavailable: int | str = "25%"
    progress_deadline_seconds: int = 600
    min_ready_seconds: int = 0
    revision_history_limit: int = 10
    paused: bool = False
    resources: dict[str, dict[str, str]] = Field(
        default_factory=dict, description="the container's requests and limits, e.g. {limits: {cpu: 500m}}"
    )
    history: list[HistoryEntry] = Field(..., min_length=1)


class NodeSeed(_Model):
    """The scenario's one node: what the kubelet reports as capacity, allocatable and conditions."""

    capacity: dict[str, str] = Field(
        default_factory=lambda: {"cpu": "4", "memory": "16Gi", "pods": "110", "ephemeral-storage": "100Gi"}
    )
    allocatable: dict[str, str] | None = Field(None, description="default: the capacity")
    pressure: list[Literal["MemoryPressure", "DiskPressure", "PIDPressure"]] = Field(default_factory=list)
    system_cpu_millicores: float = Field(100.0, ge=0, description="node usage beyond its pods (kubelet, runtime)")
    system_memory_mib: float = Field(512.0, ge=0)


class Scenario(_Model):
    name: str = "sandbox"
    seed: int = 0
    node: str = "sandbox-node-1"
    node_status: NodeSeed = NodeSeed()
    tick_seconds: float = Field(0.05, gt=0, description="how often the controllers reconcile")
    defaults: ImageBehavior = ImageBehavior()
    images: dict[str, dict[str, Any]] = Field(default_factory=dict)
    namespaces: list[str] = Field(default_factory=lambda: ["default"])
    deployments: list[DeploymentSeed] = Field(default_factory=list)

    def model_post_init(self, _context: Any) -> None:
        base = self.defaults.model_dump()
        self._behaviors = {
            pattern: ImageBehavior.model_validate({**base, **entry}) for pattern, entry in self.images.items()
        }

    def behavior_for(self, image: str) -> ImageBehavior:
        if image in self._behaviors:
            return self._behaviors[image]
        for pattern, behavior in self._behaviors.items():
            if fnmatch.fnmatchcase(image, pattern):
                return behavior
        return self.defaults


_OFFSET = re.compile(r"^-?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s)?$")


def offset_seconds(text: str) -> float:
    """'-2h30m' → -9000.0; 'now' → 0."""
    if text.strip() in ("now", "0", ""):
        return 0.0
    match = _OFFSET.match(text.strip())
    if not match or not any(match.groups()):
        raise ValueError(f"not a relative time: {text!r} (use e.g. -3h, -2h30m, -90s, now)")
    days, hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    total = days * 86400 + hours * 3600 + minutes * 60 + seconds
    return -total if text.strip().startswith("-") else total


def load_scenario(source: str | Path | dict[str, Any]) -> Scenario:
    """From a YAML file, a YAML string or a dict."""
    if isinstance(source, dict):
        return Scenario.model_validate(source)
    path = Path(source) if not isinstance(source, str) or "\n" not in source else None
    text = path.read_text(encoding="utf-8") if path is not None else str(source)
    return Scenario.model_validate(yaml.safe_load(text) or {})


SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
"""Scenario files shipped with the sandbox (`order-api.yaml`: the seed's incident)."""
