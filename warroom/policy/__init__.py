"""The runbook's decisions as pure functions: no I/O, no clock, no randomness.

Workflows call these with the time and the runbook snapshot they hold, so a replay decides
exactly as the original run did.
"""

from warroom.policy.clean_window import CleanWindowVerdict, MetricSample, clean_window_verdict
from warroom.policy.declare import DeclareDecision, should_declare
from warroom.policy.escalation import EscalationPlan, Notice, TimedEscalation, escalation_plan
from warroom.policy.pir import business_days_after, holiday_calendar, pir_due, pir_reminder_at
from warroom.policy.rollback import RollbackDecision, RollbackEvidence, decide_rollback
from warroom.policy.severity import SeverityAssessment, classify_severity

__all__ = [
    "CleanWindowVerdict",
    "DeclareDecision",
    "EscalationPlan",
    "MetricSample",
    "Notice",
    "RollbackDecision",
    "RollbackEvidence",
    "SeverityAssessment",
    "TimedEscalation",
    "business_days_after",
    "classify_severity",
    "clean_window_verdict",
    "decide_rollback",
    "escalation_plan",
    "holiday_calendar",
    "pir_due",
    "pir_reminder_at",
    "should_declare",
]
