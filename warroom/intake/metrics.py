"""The intake's Prometheus metrics, on a registry of its own (one per app, so tests and several
apps in one process never collide). Served at GET /metrics in the text exposition format."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from warroom.intake.settings import SOURCES

REJECT_REASONS = (
    "unauthenticated",
    "forbidden",
    "bad_signature",
    "stale",
    "disabled",
    "too_large",
    "unsupported_media_type",
    "invalid",
    "temporal_unavailable",
)
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class IntakeMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.received = Counter(
            "warroom_intake_alerts_received", "Alerts in authenticated, valid requests", ["source"], registry=r
        )
        self.rejected = Counter(
            "warroom_intake_requests_rejected",
            "Requests refused, by reason (nothing recorded)",
            ["source", "reason"],
            registry=r,
        )
        self.deduplicated = Counter(
            "warroom_intake_alerts_deduplicated",
            "Alerts recorded on an incident that was already open",
            ["source"],
            registry=r,
        )
        self.repeated = Counter(
            "warroom_intake_alerts_repeated",
            "Alerts recorded that changed nothing (already firing, or resolved while not firing): "
            "sender repeats and retries, an HA Alertmanager pair",
            ["source"],
            registry=r,
        )
        self.incidents_started = Counter(
            "warroom_intake_incidents_started", "Incidents opened by an alert", ["source"], registry=r
        )
        self.ignored = Counter(
            "warroom_intake_events_ignored",
            "Deliveries that carry no alert (acks, notes, pings) or resolve no open incident",
            ["source"],
            registry=r,
        )
        self.duplicate_deliveries = Counter(
            "warroom_intake_duplicate_deliveries",
            "Signed deliveries seen before (sender retries or replays), not recorded twice",
            ["source"],
            registry=r,
        )
        self.latency = Histogram(
            "warroom_intake_request_duration_seconds",
            "Time to answer an alert request",
            ["source", "code"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        for source in SOURCES:
            for counter in (
                self.received,
                self.deduplicated,
                self.repeated,
                self.incidents_started,
                self.ignored,
                self.duplicate_deliveries,
            ):
                counter.labels(source=source)
            for reason in REJECT_REASONS:
                self.rejected.labels(source=source, reason=reason)
