"""Where warroom runs: Temporal connection, task queue, data folder. From env (WARROOM_*) or flags.

The embedded default is a local dev server; point WARROOM_TEMPORAL_ADDRESS (plus TLS files or
an API key, and the namespace) at a Temporal cluster or Temporal Cloud to run the same worker there.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="WARROOM_", extra="ignore")

    temporal_address: str = Field("127.0.0.1:7233", description="host:port of the Temporal frontend")
    temporal_namespace: str = "default"
    task_queue: str = "warroom"
    temporal_tls: bool = Field(False, description="use TLS (implied by a cert, a CA or an API key)")
    temporal_tls_cert: Path | None = Field(None, description="client certificate (PEM) for mTLS")
    temporal_tls_key: Path | None = Field(None, description="client private key (PEM) for mTLS")
    temporal_tls_ca: Path | None = Field(None, description="server CA (PEM), if not a public CA")
    temporal_api_key: SecretStr | None = Field(None, description="Temporal Cloud API key")
    runbook: Path | None = Field(None, description="runbook YAML; default: the shipped seed runbook")
    data_dir: Path = Field(Path(".warroom"), description="dev server database, incident channel logs")
    ui_port: int = 8233
    user: str | None = Field(None, description="who you are, for approvals and the timeline")
    prometheus_url: str | None = Field(None, description="Prometheus base URL for error rates and the clean window")
    kubeconfig: Path | None = Field(None, description="kubeconfig for diagnostics and rollback ($KUBECONFIG also works)")
    kube_context: str | None = None
    ansible_inventory: Path | None = Field(None, description="inventory (YAML/JSON, ansible-runner dict form); default localhost")
    log_root: Path = Field(Path("/var/log"), description="service_logs may read only below this folder")
    postgres_credentials: dict[str, SecretStr] = Field(default_factory=dict,
                                                        description='PostgreSQL passwords by name, JSON: {"orders-db": "..."}')
    codec_keys: SecretStr | None = Field(None, description="id:base64key,... to encrypt payloads (first key encrypts)")

    @model_validator(mode="after")
    def _pairs(self) -> "Settings":
        if (self.temporal_tls_cert is None) != (self.temporal_tls_key is None):
            raise ValueError("WARROOM_TEMPORAL_TLS_CERT and WARROOM_TEMPORAL_TLS_KEY go together: set both or neither")
        return self

    @property
    def uses_tls(self) -> bool:
        return bool(self.temporal_tls or self.temporal_tls_cert or self.temporal_tls_ca or self.temporal_api_key)
