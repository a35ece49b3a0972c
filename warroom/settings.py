"""Where warroom runs: Temporal connection, task queue, data folder. From env (WARROOM_*) or flags.

The embedded default is a local dev server; point WARROOM_TEMPORAL_ADDRESS (plus TLS files or
an API key, and the namespace) at a Temporal cluster or Temporal Cloud to run the same worker there.

Every value is checked here, at start, before anything connects: a value with a control character
(a newline, a NUL), an oversized one, a namespace or task queue outside a plain charset, or JSON
that does not parse is refused with the variable named. Paths may be anything a file system
accepts (`..` included): they are only ever opened as files, never passed to a shell.
"""

from __future__ import annotations

import json
import re
from pathlib import Path, PurePath
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    SecretStr,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PATH_MAX = 4096
"""Linux's PATH_MAX: a longer path cannot be opened anyway."""
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_ADDRESS = re.compile(r"(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?):(?P<port>[0-9]{1,5})")
_DNS_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


def no_control(value: str) -> str:
    """Refuse newlines, NUL and other control characters: no setting needs them, and in a header,
    a log line or a command line they change its meaning."""
    if _CONTROL.search(value):
        raise ValueError("contains a control character (newline, NUL, ...)")
    return value


def utf8(value: str) -> str:
    """Refuse what undecodable bytes in the environment become (lone surrogates, by surrogateescape):
    a header or a gRPC field can never carry them, so the first use would fail with a traceback."""
    if _SURROGATE.search(value):
        raise ValueError("is not valid UTF-8")
    return value


def _path_text(value: Any) -> Any:
    if isinstance(value, (str, PurePath)):
        text = str(value)
        if len(text) > PATH_MAX:
            raise ValueError(f"a path of at most {PATH_MAX} characters")
        no_control(text)
    return value


def _temporal_name(value: str) -> str:
    if not _NAME.fullmatch(value):
        raise ValueError("use letters, digits, '.', '_' and '-', starting with a letter or digit")
    return value


def _address(value: str) -> str:
    match = _ADDRESS.fullmatch(value)
    if not match or not 0 < int(match["port"]) <= 65535:
        raise ValueError("must be host:port, e.g. temporal.internal:7233 or 127.0.0.1:7233")
    return value


def _http_url(value: str) -> str:
    from urllib.parse import urlsplit

    no_control(value)
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or " " in value:
        raise ValueError("must be an http:// or https:// URL")
    return value


def _dns_label(value: str) -> str:
    if not _DNS_LABEL.fullmatch(value):
        raise ValueError("must be a DNS-1123 label (a-z, 0-9 and '-', at most 63)")
    return value


def json_object(value: Any) -> Any:
    """JSON text from the environment → a dict, with the parse error (not a traceback) on failure."""
    if isinstance(value, (str, bytes)):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise ValueError(f"not valid JSON: {exc}") from None
    return value


MAX_SECRET = 4096
"""No token, password or signing secret is longer; a megabyte one is a mistake or an attack."""


def sendable_secret(value: object, limit: int = MAX_SECRET) -> object:
    """Refuse a secret no header or login can carry (a newline, NUL, undecodable bytes, over `limit`
    characters) at start, naming the variable but never echoing the value; other values pass.
    For `field_validator("*", mode="after")` on settings that hold SecretStr fields."""
    if isinstance(value, SecretStr):
        secret = value.get_secret_value()
        if len(secret) > limit:
            raise ValueError(f"at most {limit} characters")
        no_control(secret)
        utf8(secret)
    return value


ConfigPath = Annotated[Path, BeforeValidator(_path_text)]
"""A file or folder path: any characters a file system takes (`..` too), bar control characters."""
Text = Annotated[str, StringConstraints(max_length=1024), AfterValidator(no_control)]
"""A free-form one-line value (a name, a context, a host)."""
TemporalName = Annotated[str, StringConstraints(min_length=1, max_length=255), AfterValidator(_temporal_name)]
"""A namespace or task queue: it reaches Temporal, logs and the commands `search-attributes` prints."""
HttpUrl = Annotated[str, StringConstraints(max_length=2048), AfterValidator(_http_url)]
DnsLabel = Annotated[str, StringConstraints(max_length=63), AfterValidator(_dns_label)]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="WARROOM_", extra="ignore")

    temporal_address: Annotated[str, StringConstraints(max_length=262), AfterValidator(_address)] = Field(
        "127.0.0.1:7233", description="host:port of the Temporal frontend"
    )
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
    workflow_sandbox: bool = Field(
        True,
        description=(
            "run workflows in the Temporal Python sandbox, which fails a workflow task that calls something "
            "non-deterministic; off, a worker uses about 60 % less CPU per workflow task and about 200 KiB less "
            "per open incident (bench/reliability_bench.py --memory). The test suite always runs sandboxed."
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
