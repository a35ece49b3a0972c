"""warroom's own Prometheus metrics: what the worker did for incidents, recorded by activities.

One registry per process (`REGISTRY`), served by the worker's metrics endpoint
(warroom/telemetry/endpoint.py) beside the Temporal SDK's own metrics. Only activities (and the
worker's visibility poller) record here: an activity runs once per attempt, never on replay, so
a count is a thing that happened. Workflow code may not import this module (import-linter); the
workflow passes what the activity cannot know (when a deadline was due, when a step was
previewed and decided) in the Notification's context, and the activity records it.

Every labelled counter starts at zero for every label value it can take, so a dashboard panel
or an alert rule over "failed" has a series to show (0) before anything ever failed.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, get_args

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, PlatformCollector, ProcessCollector

from warroom.enums import Phase, Severity
from warroom.models import Channel

REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)  # process_cpu_seconds_total, resident memory: the bench reads them too
PlatformCollector(registry=REGISTRY)

CHANNELS: tuple[str, ...] = get_args(Channel)
SEVERITIES: tuple[str, ...] = (*(s.value for s in Severity), "unassessed")
PHASES: tuple[str, ...] = tuple(p.value for p in Phase)
APPROVAL_POLICIES = ("auto", "ic", "two_person", "veto")
DECISIONS = ("approved", "denied")
ROLLBACK_OUTCOMES = ("succeeded", "failed")
VERDICTS = ("clean", "not_clean")
LATENESS_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
DECISION_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0)

OPEN_INCIDENTS = Gauge(
    "warroom_open_incidents",
    "Running incidents by severity and phase, from visibility (refreshed by the worker every ~15 s)",
    ["severity", "phase"],
    registry=REGISTRY,
)
OPEN_INCIDENTS_REFRESHED = Gauge(
    "warroom_open_incidents_refreshed_timestamp_seconds",
    "When warroom_open_incidents was last read from visibility (Unix time)",
    registry=REGISTRY,
)
DEADLINES_FIRED = Counter(
    "warroom_deadlines_fired_total",
    "Runbook deadlines fired (their first message's first attempt), by deadline kind",
    ["kind"],
    registry=REGISTRY,
)
DEADLINE_LATENESS = Histogram(
    "warroom_deadline_lateness_seconds",
    "When a deadline's message was first attempted minus when the deadline was due",
    ["channel"],
    buckets=LATENESS_BUCKETS,
    registry=REGISTRY,
)
NOTIFICATIONS_SENT = Counter(
    "warroom_notifications_sent_total",
    "Messages delivered (pages, posts, e-mails), by channel",
    ["channel"],
    registry=REGISTRY,
)
NOTIFICATIONS_FAILED = Counter(
    "warroom_notifications_failed_total",
    "Delivery attempts that failed (each attempt, retried or not), by channel",
    ["channel"],
    registry=REGISTRY,
)
APPROVALS = Counter(
    "warroom_step_decisions_total",
    "Steps decided, by decision (approved, denied) and approval policy (auto, ic, two_person, veto)",
    ["decision", "policy"],
    registry=REGISTRY,
)
APPROVAL_LATENCY = Histogram(
    "warroom_step_decision_seconds",
    "From a step's preview to its decision",
    ["decision", "policy"],
    buckets=DECISION_BUCKETS,
    registry=REGISTRY,
)
ROLLBACKS_STARTED = Counter(
    "warroom_rollbacks_started_total", "Rollbacks started (first attempt of the apply)", registry=REGISTRY
)
ROLLBACKS_FINISHED = Counter(
    "warroom_rollbacks_finished_total",
    "Rollbacks finished: succeeded, or failed for good (not retryable, or the last attempt)",
    ["outcome"],
    registry=REGISTRY,
)
CLEAN_WINDOW_VERDICTS = Counter(
    "warroom_clean_window_verdicts_total",
    "Clean-metrics window readings after a mitigation, by verdict",
    ["verdict"],
    registry=REGISTRY,
)

SUBSCRIBER_OUTCOMES = {
    "sent": "sent",
    "failed": "failed",
    "rate-limited": "rate_limited",
    "already sent": "already_sent",
    "skipped (no SMTP)": "skipped",
    "store unavailable": "store_unavailable",
}
"""The status page fan-out's words for what happened to a subscriber → the label value."""
STATUS_SUBSCRIBER_DELIVERIES = Counter(
    "warroom_status_subscriber_deliveries_total",
    "Status-page updates to subscribers (e-mail and webhook), by outcome",
    ["outcome"],
    registry=REGISTRY,
)

for _outcome in SUBSCRIBER_OUTCOMES.values():
    STATUS_SUBSCRIBER_DELIVERIES.labels(outcome=_outcome)
for _channel in CHANNELS:
    NOTIFICATIONS_SENT.labels(channel=_channel)
    NOTIFICATIONS_FAILED.labels(channel=_channel)
for _decision in DECISIONS:
    for _policy in APPROVAL_POLICIES:
        APPROVALS.labels(decision=_decision, policy=_policy)
for _outcome in ROLLBACK_OUTCOMES:
    ROLLBACKS_FINISHED.labels(outcome=_outcome)
for _verdict in VERDICTS:
    CLEAN_WINDOW_VERDICTS.labels(verdict=_verdict)

# --- The context keys the workflow passes for the activity to record -------------------------

DEADLINE_KIND = "deadline_kind"
DEADLINE_DUE_AT = "deadline_due_at"
"""ISO 8601 instant the deadline was due (workflow time)."""
DECISION = "step_decision"
DECISION_POLICY = "step_decision_policy"
DECISION_SECONDS = "step_decision_seconds"


def _instant(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        return None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def record_notification(
    channel: str, context: Mapping[str, Any], *, first_attempt: bool, now: datetime | None = None
) -> None:
    """Before delivering: a deadline's firing and lateness, a step's decision (first attempt only)."""
    if not first_attempt:
        return
    now = now or datetime.now(UTC)
    due = _instant(context.get(DEADLINE_DUE_AT))
    kind = context.get(DEADLINE_KIND)
    if due is not None and isinstance(kind, str):
        DEADLINES_FIRED.labels(kind=kind[:64]).inc()
        DEADLINE_LATENESS.labels(channel=channel).observe(max((now - due).total_seconds(), 0.0))
    decision, policy, seconds = context.get(DECISION), context.get(DECISION_POLICY), context.get(DECISION_SECONDS)
    if decision in DECISIONS and policy in APPROVAL_POLICIES and isinstance(seconds, int | float):
        APPROVALS.labels(decision=decision, policy=policy).inc()
        APPROVAL_LATENCY.labels(decision=decision, policy=policy).observe(max(float(seconds), 0.0))


def record_delivery(channel: str, ok: bool) -> None:
    (NOTIFICATIONS_SENT if ok else NOTIFICATIONS_FAILED).labels(channel=channel).inc()


def record_subscriber_deliveries(counts: Mapping[str, int]) -> None:
    """One status-page fan-out's counts (`SubscriberFanout.fan_out`), by outcome."""
    for what, n in counts.items():
        STATUS_SUBSCRIBER_DELIVERIES.labels(outcome=SUBSCRIBER_OUTCOMES.get(what, "failed")).inc(n)


def record_clean_window(clean: bool) -> None:
    CLEAN_WINDOW_VERDICTS.labels(verdict="clean" if clean else "not_clean").inc()


def set_open_incidents(counts: Mapping[tuple[str, str], int], at: datetime | None = None) -> None:
    """Replace every (severity, phase) count: the ones not in `counts` read 0, never a stale number."""
    for severity in SEVERITIES:
        for phase in PHASES:
            OPEN_INCIDENTS.labels(severity=severity, phase=phase).set(0)
    for (severity, phase), n in counts.items():
        OPEN_INCIDENTS.labels(severity=severity[:32], phase=phase[:32]).set(n)
    OPEN_INCIDENTS_REFRESHED.set((at or datetime.now(UTC)).timestamp())


# --- Activity attempts ------------------------------------------------------------------------


def first_attempt() -> bool:
    """True in an activity's first attempt (and outside any activity: a direct call in a test)."""
    from temporalio import activity

    return not activity.in_activity() or activity.info().attempt == 1


def final_failure(exc: BaseException) -> bool:
    """Whether this failed attempt is the activity's last: not retryable, or the policy's last try."""
    from temporalio import activity
    from temporalio.exceptions import ApplicationError

    if isinstance(exc, ApplicationError) and exc.non_retryable:
        return True
    if not activity.in_activity():
        return True
    info = activity.info()
    policy = info.retry_policy
    if (
        policy is not None
        and isinstance(exc, ApplicationError)
        and exc.type in (policy.non_retryable_error_types or ())
    ):
        return True
    return policy is not None and policy.maximum_attempts > 0 and info.attempt >= policy.maximum_attempts


@contextmanager
def rollback_recorded() -> Iterator[None]:
    """Around a rollback's apply: started on the first attempt, then succeeded or failed for good."""
    if first_attempt():
        ROLLBACKS_STARTED.inc()
    try:
        yield
    except BaseException as exc:
        if final_failure(exc):
            ROLLBACKS_FINISHED.labels(outcome="failed").inc()
        raise
    ROLLBACKS_FINISHED.labels(outcome="succeeded").inc()
