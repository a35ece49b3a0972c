"""Intake configuration, from WARROOM_INTAKE_* (connection to Temporal still comes from WARROOM_*).

Every credential is a SecretStr: it never appears in a repr, a log line or a workflow payload.
A credential variable may hold several values separated by commas, so a secret can be rotated
without downtime (configure old,new; switch the sender; drop old).

Values are checked at start like warroom/settings.py's: header names must be HTTP tokens, and
tokens and user names must be sendable in a header (no control characters, bounded), or the
intake would listen and refuse every sender.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, SecretStr, StringConstraints, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from warroom.chat.settings import ChatSettings
from warroom.enums import Duration
from warroom.settings import Settings
from warroom.validation import Text, sendable_secret

SOURCES = ("alertmanager", "pagerduty", "opsgenie", "grafana", "generic")
Source = Literal["alertmanager", "pagerduty", "opsgenie", "grafana", "generic"]

_DNS_LABEL_HINT = "a DNS-1123 label: 1-63 characters of a-z, 0-9 and '-', starting and ending with a letter or digit"
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_HOST = re.compile(r"[A-Za-z0-9.:_-]{1,253}")


def _header_name(value: str) -> str:
    if value and not _TOKEN.fullmatch(value):
        raise ValueError("must be an HTTP header name (letters, digits and -, no spaces)")
    return value


def _listen_host(value: str) -> str:
    if not _HOST.fullmatch(value):
        raise ValueError("must be a host name or an IP address, e.g. 127.0.0.1, 0.0.0.0 or ::")
    return value


def _basic_user(value: str) -> str:
    if ":" in value:  # RFC 7617: the first ':' ends the user-id
        raise ValueError("a basic-auth user name cannot contain ':'")
    return value


HeaderName = Annotated[str, StringConstraints(max_length=256), AfterValidator(_header_name)]
BasicUser = Annotated[Text, StringConstraints(max_length=256), AfterValidator(_basic_user)]


def secret_values(value: SecretStr | None) -> list[bytes]:
    """The comma-separated values of one secret variable, as bytes, blanks dropped."""
    if value is None:
        return []
    return [part.strip().encode() for part in value.get_secret_value().split(",") if part.strip()]


class IntakeSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="WARROOM_INTAKE_", extra="ignore")

    host: Annotated[str, AfterValidator(_listen_host)] = Field(
        "127.0.0.1", description="listen address; put a TLS-terminating proxy in front for the internet"
    )
    port: int = Field(8088, ge=0, le=65535)
    body_limit: int = Field(256 * 1024, ge=1024, description="largest request body in bytes (413 above)")
    body_timeout: float = Field(
        10.0, gt=0, le=300, description="seconds for a request body to arrive in full (408 after)"
    )

    alertmanager_token: SecretStr | None = Field(None, description="bearer token(s), comma-separated")
    alertmanager_basic_user: BasicUser | None = None
    alertmanager_basic_password: SecretStr | None = None

    pagerduty_signing_secrets: SecretStr | None = Field(
        None, description="v3 webhook signing secret(s), comma-separated"
    )
    pagerduty_token: SecretStr | None = Field(None, description="optional bearer token sent as a custom header")
    pagerduty_max_event_age: Duration = Field(
        timedelta(minutes=30), description="older event.occurred_at is refused (PagerDuty retries for ~20 min)"
    )

    opsgenie_token: SecretStr | None = None
    opsgenie_basic_user: BasicUser | None = None
    opsgenie_basic_password: SecretStr | None = None

    grafana_token: SecretStr | None = None
    grafana_basic_user: BasicUser | None = None
    grafana_basic_password: SecretStr | None = None
    grafana_signing_secrets: SecretStr | None = Field(
        None, description="HMAC secret(s) of the contact point, comma-separated"
    )
    grafana_signature_header: HeaderName = Field("X-Grafana-Alerting-Signature", min_length=1)
    grafana_timestamp_header: HeaderName = Field(
        "X-Grafana-Alerting-Timestamp",
        description="must match the contact point's; empty = body-only signatures (no replay window)",
    )

    generic_token: SecretStr | None = None
    generic_basic_user: BasicUser | None = None
    generic_basic_password: SecretStr | None = None

    replay_window: Duration = Field(
        timedelta(minutes=5), description="signed timestamps older or newer than this are refused"
    )
    default_service: str = Field(
        "unassigned", description="service of an alert that names none (" + _DNS_LABEL_HINT + ")"
    )
    publish_search_attributes: bool = Field(True, description="set Incident* search attributes at start")
    temporal_timeout: float = Field(10.0, gt=0, description="seconds to wait for Temporal before answering 503")
    closing_wait: float = Field(
        5.0, ge=0, description="seconds to wait for a closing incident to finish before reopening"
    )
    retry_after: int = Field(5, ge=1, description="Retry-After seconds on 503")

    chat: ChatSettings = Field(
        default_factory=ChatSettings, description="Slack and Mattermost (WARROOM_SLACK_*, WARROOM_MATTERMOST_*)"
    )
    temporal: Settings = Field(
        default_factory=Settings, description="Temporal connection, task queue, runbook (WARROOM_*)"
    )

    # Tokens and passwords are compared with Authorization headers, which cannot carry a newline or NUL.
    _sendable_secrets = field_validator("*", mode="after")(sendable_secret)

    @field_validator("default_service")
    @classmethod
    def _service(cls, value: str) -> str:
        from warroom.intake.normalize import is_dns_label

        if not is_dns_label(value):
            raise ValueError(f"must be {_DNS_LABEL_HINT}")
        return value

    @model_validator(mode="after")
    def _basic_pairs(self) -> IntakeSettings:
        for source in SOURCES:
            user = getattr(self, f"{source}_basic_user", None)
            password = getattr(self, f"{source}_basic_password", None)
            if (user is None) != (password is None):
                raise ValueError(f"WARROOM_INTAKE_{source.upper()}_BASIC_USER and _BASIC_PASSWORD go together")
        return self

    def tokens(self, source: str) -> list[bytes]:
        return secret_values(getattr(self, f"{source}_token", None))

    def basic(self, source: str) -> tuple[bytes, bytes] | None:
        user = getattr(self, f"{source}_basic_user", None)
        if user is None:
            return None
        password: SecretStr = getattr(self, f"{source}_basic_password")
        return user.encode(), password.get_secret_value().encode()

    def signing_secrets(self, source: str) -> list[bytes]:
        return secret_values(getattr(self, f"{source}_signing_secrets", None))

    def configured(self, source: str) -> bool:
        return bool(self.tokens(source) or self.basic(source) or self.signing_secrets(source))
