"""Vendor payloads → `warroom.models.Alert`, with every untrusted value checked or bounded first.

Each source module turns its payload into `NormalizedAlert`s (one per alert it carries) grouped
in a `Delivery`. This module holds what they share:

* allow-lists: service, namespace and deployment must be DNS-1123 labels (≤ 63 characters), or the
  request is refused with 422 naming the field; they later name channels, PromQL selectors and
  Kubernetes objects;
* bounds: any other label or annotation is length-limited and stripped of control characters;
* impact signals and severity hints read from labels and annotations (the keys are documented in
  docs/intake.md), malformed values ignored rather than guessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from warroom.config import RunbookConfig
from warroom.enums import Severity, parse_duration
from warroom.intake import identity
from warroom.models import Alert, DeploymentTarget, ImpactSignals, IncidentInput

MAX_LABELS = 64
MAX_KEY = 64
MAX_VALUE = 256
MAX_SUMMARY = 300
MAX_FINGERPRINT = 128
MAX_LINKS = 8
MAX_LINK = 1000

_DNS_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_FIRST_LABELS = ("alertname", "service", "namespace", "deployment", "severity", "priority")

# Keys read from labels and annotations (annotations win when both carry one).
RATIO_KEYS = {
    "error_ratio": "error_ratio",
    "error_rate": "error_ratio",
    "user_error_ratio": "user_error_ratio",
    "users_affected": "user_error_ratio",
}
BURN_KEYS = ("burn_rate",)
SUSTAINED_KEYS = ("burn_sustained", "burn_window")
FLAG_KEYS = ("complete_unavailability", "partial_outage", "data_loss", "security", "third_party_vendor")
IMPACT_VALUES = {
    "complete_outage": "complete_unavailability",
    "unavailable": "complete_unavailability",
    "partial_outage": "partial_outage",
    "degraded": "partial_outage",
    "data_loss": "data_loss",
    "security": "security",
}
SEVERITY_KEYS = ("severity", "priority")
_SEVERITY = re.compile(r"(?:p|sev|sev-|sev_)([1-5])")
_TRUE = {"1", "true", "yes", "y", "on"}


class FieldError(Exception):
    """A value in the payload that warroom refuses; answered 422 with its path."""

    def __init__(self, loc: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.loc = loc
        self.message = message


def is_dns_label(value: str) -> bool:
    return bool(_DNS_LABEL.fullmatch(value))


def dns_label(value: str, loc: tuple[str | int, ...]) -> str:
    """Lower-cased and checked; anything else is refused, never repaired."""
    candidate = value.strip().lower()
    if not is_dns_label(candidate):
        raise FieldError(
            loc,
            f"{value[:80]!r} is not a DNS-1123 label "
            "(1-63 characters of a-z, 0-9 and '-', starting and ending with a letter or digit)",
        )
    return candidate


def slug_label(value: str) -> str:
    """A display name (PagerDuty's service) made into a DNS label; '' when nothing is left."""
    slug = re.sub(r"[^a-z0-9]+", "-", value.lower()).strip("-")[:63].rstrip("-")
    return slug


def clean(value: str, limit: int) -> str:
    return _CONTROL.sub(" ", value).strip()[:limit]


def bounded_labels(labels: dict[str, str]) -> dict[str, str]:
    """At most 64 labels (the well-known ones first), keys ≤ 64 and values ≤ 256 characters."""
    ordered = [k for k in _FIRST_LABELS if k in labels] + sorted(k for k in labels if k not in _FIRST_LABELS)
    out: dict[str, str] = {}
    for key in ordered:
        name = clean(key, MAX_KEY)
        if name and name not in out:
            out[name] = clean(labels[key], MAX_VALUE)
        if len(out) == MAX_LABELS:
            break
    return out


def links(*candidates: str | None) -> list[str]:
    seen: list[str] = []
    for url in candidates:
        if (
            url
            and len(url) <= MAX_LINK
            and url.startswith(("https://", "http://"))
            and url not in seen
            and not _CONTROL.search(url)
        ):
            seen.append(url)
    return seen[:MAX_LINKS]


def real_time(moment: datetime | None) -> datetime | None:
    """Alertmanager sends 0001-01-01 for 'not set'; naive times are taken as UTC."""
    if moment is None or moment.year < 1971:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _ratio(text: str) -> float | None:
    text = text.strip()
    try:
        value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        return None
    return value if 0 <= value <= 1 else None


def _burn(text: str) -> float | None:
    text = text.strip().lower().removesuffix("x")
    try:
        value = float(text)
    except ValueError:
        return None
    return value if 0 <= value < 1e6 else None


def _sustained(text: str) -> timedelta | None:
    try:
        parsed = parse_duration(text)
    except ValueError:
        return None
    return parsed if isinstance(parsed, timedelta) else None


def signals_from(*sources: dict[str, str]) -> ImpactSignals:
    """Impact numbers and flags found in labels/annotations; later sources win."""
    data: dict[str, Any] = {}
    for values in sources:
        lowered = {k.lower(): v for k, v in values.items()}
        for key, target in RATIO_KEYS.items():
            if key in lowered and (ratio := _ratio(lowered[key])) is not None:
                data[target] = ratio
        for key in BURN_KEYS:
            if key in lowered and (burn := _burn(lowered[key])) is not None:
                data["burn_rate"] = burn
        for key in SUSTAINED_KEYS:
            if key in lowered and (held := _sustained(lowered[key])) is not None:
                data["burn_sustained"] = held
        for key in FLAG_KEYS:
            if lowered.get(key, "").strip().lower() in _TRUE:
                data[key] = True
        impact = IMPACT_VALUES.get(lowered.get("impact", "").strip().lower())
        if impact:
            data[impact] = True
    return ImpactSignals.model_validate(data)


def severity_hint(*values: object) -> Severity | None:
    """P1-P5, SEV1-SEV5 or a bare 1-5 (Opsgenie's numeric priority); 4 and 5 count as P3.

    Words such as "critical" or "warning" are each team's own scale, not the runbook's: they stay
    labels and the runbook's criteria decide the severity.
    """
    for value in values:
        if value is None:
            continue
        text = str(value).strip().lower()
        match = _SEVERITY.fullmatch(text) or (re.fullmatch(r"([1-5])", text) if isinstance(value, int) else None)
        if match:
            return Severity(f"P{min(int(match.group(1)), 3)}")
    return None


def severity_from(*sources: dict[str, str]) -> Severity | None:
    for values in reversed(sources):
        lowered = {k.lower(): v for k, v in values.items()}
        hint = severity_hint(*(lowered.get(k) for k in SEVERITY_KEYS))
        if hint:
            return hint
    return None


class NormalizedAlert(BaseModel):
    """One alert as the intake understands it, before the projection onto `warroom.models.Alert`."""

    model_config = ConfigDict(extra="forbid")

    source: str
    group_key: str
    fingerprint: str = Field(..., min_length=1, max_length=MAX_FINGERPRINT)
    service: str
    namespace: str | None = None
    deployment: str | None = None
    firing: bool
    summary: str = Field(..., min_length=1, max_length=MAX_SUMMARY)
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    severity_hint: Severity | None = None
    signals: ImpactSignals = ImpactSignals()
    links: list[str] = Field(default_factory=list)

    def to_alert(self) -> Alert:
        """The workflow's Alert. Fields it does not have yet (group key, annotations, links, …) are
        passed on as soon as `warroom.models.Alert` declares them."""
        data: dict[str, Any] = dict(
            source=self.source,
            fingerprint=self.fingerprint,
            summary=self.summary,
            firing=self.firing,
            starts_at=self.starts_at,
            signals=self.signals,
            labels=self.labels,
        )
        optional = dict(
            group_key=self.group_key[:MAX_VALUE],
            service=self.service,
            annotations=self.annotations,
            ends_at=self.ends_at,
            severity_hint=self.severity_hint,
            links=self.links,
            namespace=self.namespace,
            deployment=self.deployment,
        )
        data.update({k: v for k, v in optional.items() if k in Alert.model_fields})
        return Alert.model_validate(data)


def fingerprint_of(raw: str, fallback: dict[str, str]) -> str:
    """The sender's fingerprint when usable, else a stable hash of the alert's labels."""
    import hashlib

    raw = clean(raw, 10_000)
    if raw and len(raw) <= MAX_FINGERPRINT:
        return raw
    basis = raw or "\x00".join(f"{k}={v}" for k, v in sorted(fallback.items()))
    return hashlib.sha256(basis.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def summary_of(*candidates: str | None, fallback: str) -> str:
    for text in candidates:
        if text and (cleaned := clean(text, MAX_SUMMARY)):
            return cleaned
    return fallback


@dataclass
class Delivery:
    """One request's worth of alerts for one incident (one group key)."""

    source: str
    group_key: str
    alerts: list[NormalizedAlert]
    ignored: str | None = None
    replay_key: str | None = field(default=None, repr=False)
    occurred_at: datetime | None = None

    @property
    def workflow_id(self) -> str:
        return identity.workflow_id(self.source, self.group_key)

    @property
    def incident_id(self) -> str:
        return identity.incident_id(self.source, self.group_key)

    def incident_input(self, runbook: RunbookConfig, publish_search_attributes: bool) -> IncidentInput:
        """What starts the incident if this group has none running: service and summary of its
        first alert, the Deployment if that alert names one; the alert itself arrives by update."""
        first = self.alerts[0]
        target = None
        if first.namespace and first.deployment:
            target = DeploymentTarget(namespace=first.namespace, deployment=first.deployment)
        return IncidentInput(
            incident_id=self.incident_id,
            service=first.service,
            summary=first.summary,
            runbook=runbook,
            declared=False,
            alert=None,
            target=target,
            publish_search_attributes=publish_search_attributes,
        )


@dataclass
class Defaults:
    """What normalization needs from the settings."""

    default_service: str


class PayloadInvalid(Exception):
    """The payload does not match the source's schema; carries pydantic's errors with full paths."""

    def __init__(self, error: ValidationError, prefix: tuple[str | int, ...] = ()) -> None:
        super().__init__(str(error))
        self.errors = [
            {"loc": (*prefix, *e["loc"]), "msg": e["msg"], "type": e["type"]}
            for e in error.errors(include_url=False, include_input=False)
        ][:20]


def labelled_alert(
    *,
    source: str,
    group_key: str,
    fingerprint: str,
    firing: bool,
    summary: str,
    labels: dict[str, str],
    annotations: dict[str, str],
    loc: tuple[str | int, ...],
    defaults: Defaults,
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
    extra_links: tuple[str | None, ...] = (),
    severity: Severity | None = None,
    service: str | None = None,
    explicit: ImpactSignals | None = None,
) -> NormalizedAlert:
    """The common path of label-carrying sources (Alertmanager, Grafana, Opsgenie details, generic).

    `loc` is where this alert's labels live in the payload, for 422 messages.
    """
    lowered = {k.lower(): v for k, v in labels.items()}
    if service is None:
        if "service" in lowered:
            service = dns_label(lowered["service"], (*loc, "service"))
        else:
            service = defaults.default_service
    namespace = dns_label(lowered["namespace"], (*loc, "namespace")) if "namespace" in lowered else None
    deployment = dns_label(lowered["deployment"], (*loc, "deployment")) if "deployment" in lowered else None
    signals = signals_from(labels, annotations)
    if explicit is not None:
        signals = signals.merged(explicit)
    return NormalizedAlert(
        source=source,
        group_key=group_key,
        fingerprint=fingerprint,
        service=service,
        namespace=namespace,
        deployment=deployment,
        firing=firing,
        summary=summary,
        labels=bounded_labels(labels),
        annotations=bounded_labels(annotations),
        starts_at=real_time(starts_at),
        ends_at=real_time(ends_at),
        severity_hint=severity or severity_from(labels, annotations),
        signals=signals,
        links=links(*extra_links),
    )
