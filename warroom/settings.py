"""Where warroom runs: Temporal connection, task queue, data folder. From env (WARROOM_*) or flags.

The embedded default is a local dev server; point WARROOM_TEMPORAL_ADDRESS (plus TLS files or
an API key, and the namespace) at a Temporal cluster or Temporal Cloud to run the same worker there.

Every value is checked here, at start, before anything connects: a value with a control character
(a newline, a NUL), an oversized one, a namespace or task queue outside a plain charset, or JSON
that does not parse is refused with the variable named. Paths may be anything a file system
accepts (`..` included): they are only ever opened as files, never passed to a shell.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BeforeValidator,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from warroom.statuspage.subscribers import SubscriberSettings
from warroom.validation import (
    ConfigPath,
    DnsLabel,
    HttpUrl,
    TemporalAddress,
    TemporalName,
    Text,
    json_object,
    sendable_secret,
)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="WARROOM_", extra="ignore")

    temporal_address: TemporalAddress = Field("127.0.0.1:7233", description="host:port of the Temporal frontend")
    temporal_namespace: TemporalName = "default"
    task_queue: TemporalName = "warroom"
    temporal_tls: bool = Field(False, description="use TLS (implied by a cert, a CA or an API key)")
    temporal_tls_cert: ConfigPath | None = Field(None, description="client certificate (PEM) for mTLS")
    temporal_tls_key: ConfigPath | None = Field(None, description="client private key (PEM) for mTLS")
    temporal_tls_ca: ConfigPath | None = Field(None, description="server CA (PEM), if not a public CA")
    temporal_api_key: SecretStr | None = Field(None, description="Temporal Cloud API key")
    runbook: ConfigPath | None = Field(None, description="runbook YAML; default: the shipped seed runbook")
    data_dir: ConfigPath = Field(Path(".warroom"), description="dev server database, incident channel logs")
    ui_port: int = Field(8233, ge=1, le=65535)
    user: str | None = Field(None, description="who you are, for approvals and the timeline")
    prometheus_url: HttpUrl | None = Field(None, description="Prometheus base URL for error rates and the clean window")
    worker_metrics_address: Literal[""] | TemporalAddress = Field(
        "127.0.0.1:9464",
        description="host:port where the worker serves /metrics: warroom's own and the Temporal SDK's; empty: off",
    )
    workflow_sandbox: bool = Field(
        True,
        description=(
            "run workflows in the Temporal Python sandbox, which fails a workflow task that calls something "
            "non-deterministic; off, a worker uses about 60 % less CPU per workflow task and about 200 KiB less "
            "per open incident (bench/reliability_bench.py --memory). The test suite always runs sandboxed."
        ),
    )
    max_cached_workflows: int = Field(
        1000,
        ge=0,
        le=100_000,
        description=(
            "the worker's sticky cache, in workflow runs (an open incident is two: the incident and its phase); "
            "a cached run answers its next task without replaying its history, an evicted one replays it. "
            "Memory grows about linearly with it (README, Scale); 0 replays every task"
        ),
    )
    kubeconfig: ConfigPath | None = Field(
        None, description="kubeconfig for diagnostics and rollback ($KUBECONFIG also works)"
    )
    kube_context: Text | None = None
    ansible_inventory: ConfigPath | None = Field(
        None, description="inventory (YAML/JSON, ansible-runner dict form); default localhost"
    )
    log_root: ConfigPath = Field(Path("/var/log"), description="service_logs may read only below this folder")
    postgres_credentials: Annotated[dict[DnsLabel, SecretStr], NoDecode, BeforeValidator(json_object)] = Field(
        default_factory=dict, description='PostgreSQL passwords by name, JSON: {"orders-db": "..."}'
    )
    codec_keys: SecretStr | None = Field(None, description="id:base64key,... to encrypt payloads (first key encrypts)")
    payload_compression: bool = Field(
        True, description="zlib-compress payloads over 1 KiB (less worker memory per open incident); always read"
    )
    oncall: ConfigPath | None = Field(
        None, description="people, teams and schedules (YAML): pages name the person on call; default: role names"
    )
    pagerduty_api_token: SecretStr | None = Field(
        None, description="REST API token: who PagerDuty schedules have on call"
    )
    pagerduty_api_url: HttpUrl = Field("https://api.pagerduty.com", description="PagerDuty REST API base URL")
    opsgenie_api_key: SecretStr | None = Field(None, description="API key: who Opsgenie schedules have on call")
    opsgenie_api_url: HttpUrl = Field("https://api.opsgenie.com", description="Opsgenie API base URL")
    incident_history_limit: int = Field(
        10_000,
        ge=100,
        le=50_000,
        description="history events after which an incident continues as new, state, phase and timers carried "
        "(Temporal refuses 51,200; replay slows long before)",
    )
    health_port: int | None = Field(
        None, ge=1, le=65535, description="worker: answer GET /healthz on this port (a Kubernetes probe); default off"
    )
    subscribers: SubscriberSettings = Field(
        default_factory=SubscriberSettings,
        description="the status page's subscribers: WARROOM_STATUS_SUBSCRIPTIONS, _SIGNING_KEY, _PUBLIC_URL, "
        "WARROOM_DATABASE_URL (PostgreSQL; default SQLite in the data dir)",
    )

    @field_validator("temporal_api_key")
    @classmethod
    def _api_key(cls, value: SecretStr | None) -> SecretStr | None:
        # It travels in a gRPC header; Temporal Cloud keys (JWTs) run longer than other secrets.
        sendable_secret(value, limit=8192)
        return value

    @field_validator("temporal_tls_cert", "temporal_tls_key", "temporal_tls_ca")
    @classmethod
    def _readable(cls, value: Path | None) -> Path | None:
        # Read at each connection: a missing file must stop the start here, by name, not at connect.
        if value is not None:
            try:
                with value.open("rb"):
                    pass
            except OSError as exc:
                raise ValueError(f"cannot read {str(value)!r}: {exc.strerror}") from None
        return value

    @field_validator("codec_keys", mode="before")
    @classmethod
    def _unset_when_empty(cls, value: object) -> object:
        # docker-compose passes `${WARROOM_CODEC_KEYS:-}`: empty means no encryption, not an empty ring.
        return None if value == "" else value

    @field_validator("codec_keys")
    @classmethod
    def _key_ring(cls, value: SecretStr | None) -> SecretStr | None:
        # Checked at start, not at the first connection: an intake with a broken ring would
        # otherwise listen and answer 503 to every alert.
        if value is not None:
            from warroom.codec import CodecError, parse_key_ring

            try:
                parse_key_ring(value.get_secret_value())
            except CodecError as exc:
                raise ValueError(str(exc)) from None
        return value

    @model_validator(mode="after")
    def _pairs(self) -> Settings:
        if (self.temporal_tls_cert is None) != (self.temporal_tls_key is None):
            raise ValueError("WARROOM_TEMPORAL_TLS_CERT and WARROOM_TEMPORAL_TLS_KEY go together: set both or neither")
        return self

    @property
    def uses_tls(self) -> bool:
        return bool(self.temporal_tls or self.temporal_tls_cert or self.temporal_tls_ca or self.temporal_api_key)
