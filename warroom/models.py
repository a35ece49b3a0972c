"""Pydantic models at every boundary: workflow inputs, update requests, state, timeline.

One model in and one out for each workflow, activity, update and signal, with defaulted fields,
so a field can be added without breaking running incidents.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, StringConstraints

from warroom.config import RunbookConfig
from warroom.enums import Phase, PublicStatus, Role, Severity
from warroom.oncall.models import OncallResult, Resolution

# Re-exported: callers have always imported these from here.
from warroom.primitives import SYSTEM as SYSTEM
from warroom.primitives import Model, _key
from warroom.primitives import Person as Person
from warroom.primitives import ServiceName as ServiceName
from warroom.primitives import ShortText as ShortText
from warroom.primitives import Text as Text
from warroom.step_models import CancelStep as CancelStep
from warroom.step_models import ProposableAction as ProposableAction
from warroom.step_models import ProposedByWarroom as ProposedByWarroom
from warroom.step_models import ProposeStep as ProposeStep
from warroom.step_models import Step as Step
from warroom.step_models import StepDecision as StepDecision

# --- Inputs from alerts and people -------------------------------------------------------------


class ImpactSignals(Model):
    """What is known of the impact; drives the declare decision and the severity."""

    user_error_ratio: float | None = Field(None, ge=0, le=1, description="share of users seeing errors")
    error_ratio: float | None = Field(None, ge=0, le=1, description="share of requests failing")
    burn_rate: float | None = Field(None, ge=0, description="SLO error-budget burn rate (x)")
    burn_sustained: timedelta | None = Field(None, description="how long the burn rate has held")
    complete_unavailability: bool = False
    partial_outage: bool = False
    data_loss: bool = False
    security: bool = False
    third_party_vendor: bool = False

    def merged(self, other: ImpactSignals) -> ImpactSignals:
        """Newest numbers win; flags stay raised once any source raised them."""
        data = self.model_dump()
        for name, value in other.model_dump().items():
            if isinstance(value, bool):
                data[name] = data[name] or value
            elif value is not None:
                data[name] = value
        return ImpactSignals.model_validate(data)


class Alert(Model):
    """One alert, normalized. The intake (a later issue) fills it from each vendor's payload."""

    source: str = Field("generic", max_length=32)
    fingerprint: str = Field(..., min_length=1, max_length=128)
    summary: ShortText
    firing: bool = True
    starts_at: datetime | None = None
    signals: ImpactSignals = ImpactSignals()
    labels: dict[
        Annotated[str, StringConstraints(max_length=64)], Annotated[str, StringConstraints(max_length=256)]
    ] = Field(default_factory=dict, max_length=64)
    annotations: dict[
        Annotated[str, StringConstraints(max_length=64)], Annotated[str, StringConstraints(max_length=2000)]
    ] = Field(default_factory=dict, max_length=64)
    group_key: Annotated[str, StringConstraints(max_length=256)] | None = None
    service: Annotated[str, StringConstraints(max_length=63)] | None = None
    namespace: Annotated[str, StringConstraints(max_length=63)] | None = None
    deployment: Annotated[str, StringConstraints(max_length=63)] | None = None
    ends_at: datetime | None = None
    severity_hint: Severity | None = None
    links: list[Annotated[str, StringConstraints(max_length=2048)]] = Field(default_factory=list, max_length=20)


class AlertReceipt(Model):
    """What the intake learns once an alert is recorded in the incident's history."""

    incident_id: str
    workflow_id: str
    phase: Phase
    severity: Severity | None = None
    alerts_received: int
    new_incident: bool = Field(..., description="this alert opened the incident")
    repeated: bool = Field(False, description="it changed nothing: its fingerprint was already in that state")


class AlertDigest(Model):
    """The bounded trace of one alert kept on the incident (the last few only)."""

    at: datetime
    source: str
    fingerprint: str
    summary: str
    firing: bool


class Flap(Model):
    """One alert's state changes in its current flap window (`workflows._ledger.take_alert`)."""

    since: datetime
    changes: int = 0
    entry: int | None = Field(None, description="the timeline index of the window's `alert_flapping` entry")


class DeploymentTarget(Model):
    """The Kubernetes Deployment behind the service, for diagnostics and rollback.

    Any strings as activity input (the Kubernetes activity refuses a bad name, non-retryably);
    DNS labels, lower-cased, wherever an incident holds one (`CheckedTarget`).
    """

    namespace: str
    deployment: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.deployment}"


def _checked_target(target: DeploymentTarget) -> DeploymentTarget:
    def label(value: str, what: str) -> str:
        try:
            return _key(value.strip().lower())
        except ValueError as exc:
            raise ValueError(f"{what}: {exc}") from None

    return DeploymentTarget(
        namespace=label(target.namespace, "namespace"), deployment=label(target.deployment, "deployment")
    )


CheckedTarget = Annotated[DeploymentTarget, AfterValidator(_checked_target)]
"""An incident's Deployment: both names DNS labels (as `ServiceName`)."""


class IncidentInput(Model):
    """Starts an IncidentWorkflow. `runbook` is a snapshot: the incident keeps its thresholds."""

    incident_id: str = Field(..., min_length=1, max_length=100)
    service: ServiceName
    summary: ShortText
    runbook: RunbookConfig
    severity: Severity | None = None
    declared: bool = False
    declared_by: Person | None = None
    signals: ImpactSignals = ImpactSignals()
    alert: Alert | None = None
    on_call: Person | None = None
    commander: Person | None = None
    target: CheckedTarget | None = None
    impact_started_at: datetime | None = Field(None, description="when the symptom began, if a person knows")
    publish_search_attributes: bool = True
    history_limit: int = Field(
        10_000, ge=100, le=50_000, description="history events before a run continues as new (tests set it small)"
    )
    phase_probe_every: timedelta = Field(
        timedelta(minutes=15),
        ge=timedelta(seconds=1),
        description="how often a continued run asks whether the phase it re-attached to still runs (tests set it small)",
    )
    continued: Continued | None = Field(None, description="set by continue-as-new: what the previous run hands on")


# --- Update requests (human input) ------------------------------------------------------------


class Acknowledge(Model):
    """Acknowledge a page. The on-call who debugs stays the responder; taking command is said out loud."""

    by: Person
    take_command: bool = Field(False, description="also take command as Incident Commander (`ack --take-command`)")


class Declare(Model):
    """Declare early, downgrade later: a human turns Detection into an incident at once."""

    by: Person
    severity: Severity | None = None
    reason: Text = ""


class AssignRole(Model):
    role: Role
    person: Person
    by: Person


class SetSeverity(Model):
    severity: Severity
    by: Person
    reason: ShortText


class SetFlags(Model):
    """Raise a special case mid-incident (data loss, security, vendor) or record the vendor ticket."""

    by: Person
    data_loss: bool | None = None
    security: bool | None = None
    third_party_vendor: bool | None = None
    vendor_ticket: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] | None = None


PostableStatus = Literal[PublicStatus.INVESTIGATING, PublicStatus.IDENTIFIED, PublicStatus.MONITORING]
"""The status page updates people post; `resolved` goes out with the resolution."""


Confirmable = Literal["errors_at_baseline", "synthetic_monitors_green", "no_customer_reports"]
"""Post-mitigation checklist items a person confirms (`warroom update --confirm ...`)."""


class StatusUpdate(Model):
    """The IC script's 15-minute update: error rate, hypothesis, next action by whom, ETA."""

    by: Person
    error_rate: float | None = Field(None, ge=0, le=100, description="percent of requests failing")
    hypothesis: Text = ""
    next_action: Text = ""
    owner: Person | None = None
    eta: Annotated[str, StringConstraints(max_length=64)] = ""
    public_status: PostableStatus | None = Field(None, description="also post this to the status page")
    public_message: Text = ""
    confirm: list[Confirmable] = Field(
        default_factory=list, max_length=3, description="post-mitigation checklist items this person confirms"
    )


class MarkMitigated(Model):
    by: Person
    action: ShortText = Field(..., description="what stopped the bleeding, e.g. 'rolled back to v2.14.2'")


class Resolve(Model):
    by: Person
    summary: ShortText
    pir_owner: Person | None = None
    override: ShortText | None = Field(
        None, description="resolve before the monitoring period has run or with the checklist open: the reason"
    )


class AdoptRunbook(Model):
    """The IC moves one open incident to another runbook: its deadlines are recomputed under it."""

    by: Person
    runbook: RunbookConfig
    reason: ShortText


class ActionItem(Model):
    title: ShortText
    owner: Person
    due: datetime
    done_at: datetime | None = None
    done_by: str | None = None


class CompleteActionItem(Model):
    """Mark a PIR action item done (1-based, as `warroom status` lists them)."""

    by: Person
    item: int = Field(..., ge=1, le=100)
    note: Text = ""


class CompletePir(Model):
    by: Person
    document: Annotated[str, StringConstraints(max_length=500)] = ""
    action_items: list[ActionItem] = Field(default_factory=list, max_length=100)


# --- State, timeline and answers -------------------------------------------------------------


class TimelineEntry(Model):
    at: datetime
    kind: str
    actor: str = SYSTEM
    message: str
    data: dict[str, str] = Field(default_factory=dict)


class Deadline(Model):
    """A pending timer: its key fires once; `at` moves when the state it depends on changes."""

    key: str
    kind: str
    at: datetime
    audience: list[str] = Field(default_factory=list)
    reason: str = ""


class PirState(Model):
    owner: str | None = None
    due: datetime | None = None
    completed_at: datetime | None = None
    document: str = ""
    action_items: list[ActionItem] = Field(default_factory=list)


class UpdateDigest(Model):
    """What the last 15-minute update said: the next one is progress only if it says something new."""

    at: datetime
    error_rate: float | None = None
    hypothesis: str = ""
    next_action: str = ""


class PostMitigation(Model):
    """What was checked after mitigation: the post-mitigation checklist and the messages that report it."""

    verified_by: str | None = Field(
        None, description="how errors at baseline were verified: metrics, alerts, or the person who confirmed"
    )
    baseline: str = Field("", description="what 'clean' was judged against, in words")
    cannot_verify: bool = Field(False, description="no metrics source and no alert source: the IC confirms")
    confirmed: dict[str, str] = Field(default_factory=dict, description="checklist item -> who confirmed it")
    monitoring: str = Field("", description="what the monitoring period checked, once it ran")
    relapses: int = Field(0, description="times mitigation was re-opened after it had been verified")
    synthetic: list[str] = Field(default_factory=list, description="fingerprints of synthetic monitors' alerts")


class IncidentState(Model):
    """Everything an IC, a CLI or an audit needs; the workflow's single source of truth."""

    incident_id: str
    workflow_id: str = ""
    service: str
    summary: str
    channel: str = ""
    severity: Severity | None = None
    phase: Phase = Phase.DETECTION
    signals: ImpactSignals = ImpactSignals()
    roles: dict[Role, str] = Field(default_factory=dict)
    on_call: str | None = None
    target: CheckedTarget | None = None
    vendor_ticket: str | None = None
    opened_at: datetime
    declared_at: datetime | None = None
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    acknowledgements: list[str] = Field(
        default_factory=list, description="everyone who acknowledged a page (or named themselves IC), in order"
    )
    mitigation_applied_at: datetime | None = None
    mitigation_action: str | None = None
    trigger: str | None = Field(None, description="what set it off, when known: the deploy the rollback rule found")
    deployed_at: datetime | None = Field(
        None,
        description="the deploy the rollback rule found: the pre-deploy baseline, and the public cause once it holds",
    )
    last_action: str | None = Field(None, description="the latest action taken, with its time (channel updates)")
    peak_error_ratio: float | None = Field(None, ge=0, le=1, description="the worst error ratio any signal reported")
    mitigated_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    last_internal_update_at: datetime | None = None
    last_external_update_at: datetime | None = None
    last_firing_alert_at: datetime | None = None
    last_update: UpdateDigest | None = Field(None, description="the last 15-minute update, in brief")
    progress_at: datetime | None = Field(None, description="when an update last reported progress")
    impact_started_at: datetime | None = Field(None, description="when the symptom began (first alert's start)")
    revisions: list[str] = Field(
        default_factory=list,
        description="revised runbook rules this incident follows, decided once at its start (workflow.patched ids); "
        "incidents started before a revision keep the rule as it was",
    )
    checks: PostMitigation = PostMitigation()
    alerts_received: int = 0
    alerts_repeated: int = Field(
        0,
        description="of alerts_received, those that changed nothing: already firing, or "
        "resolved while not firing (sender repeats and retries, an HA pair)",
    )
    firing_alerts: list[str] = Field(default_factory=list, description="fingerprints firing now (at most 100)")
    recent_alerts: list[AlertDigest] = Field(default_factory=list, description="the last 20 alerts received")
    flapping: dict[str, Flap] = Field(
        default_factory=dict, description="fingerprint → its state changes in the current flap window"
    )
    dismissed: bool = False
    escalated_to: list[str] = Field(default_factory=list)
    fired: list[str] = Field(default_factory=list, description="keys of deadlines that have fired")
    steps: list[Step] = Field(default_factory=list)
    pir: PirState = PirState()
    deadlines: list[Deadline] = Field(default_factory=list)
    timeline: list[TimelineEntry] = Field(default_factory=list)
    version: int = 0
    raised_mid_incident: list[str] = Field(
        default_factory=list, description="special cases (data_loss, security) raised after declaration"
    )
    public_status: PublicStatus | None = Field(None, description="what the status page says now")
    owed: list[Deadline] = Field(
        default_factory=list,
        description="messages a change mid-incident owes (a special case raised, a severity change): "
        "due at once, each fires once",
    )

    @property
    def commander(self) -> str | None:
        return self.roles.get(Role.INCIDENT_COMMANDER)

    def pending_steps(self) -> list[Step]:
        return [s for s in self.steps if s.status == "pending"]


class Continued(Model):
    """What one run of an incident hands the next when its history grows long (continue-as-new)."""

    state: IncidentState
    phase_running: Phase | None = Field(None, description="the phase child an earlier run started, still running")
    opened_by_alert: bool = False
    run: int = Field(2, ge=2, description="this run's place in the chain")


class ChecksReport(Model):
    """What a phase learned about the post-mitigation checks (see `PostMitigation`)."""

    verified_by: str | None = None
    baseline: str | None = None
    cannot_verify: bool = False
    monitoring: str | None = None
    reopen_mitigation: bool = Field(False, description="a relapse after mitigation: mitigation is open again")


class PhaseEvent(Model):
    """What a phase workflow tells the incident: a timer fired, a message went out."""

    kind: str
    message: str
    deadline_key: str | None = None
    escalated_to: list[str] = Field(default_factory=list)
    data: dict[str, str] = Field(default_factory=dict)
    public_post: bool = Field(False, description="a status page message went out")
    step_id: str | None = None
    step_status: Literal["approved", "done", "failed"] | None = None
    mitigated: bool = False
    propose: ProposedByWarroom | None = None
    mitigation_applied: str | None = Field(None, description="warroom applied a mitigation (e.g. a rollback)")
    checks: ChecksReport | None = None


class PhaseInput(Model):
    """What each phase workflow starts with: the incident as it is and the runbook it follows."""

    parent_workflow_id: str
    state: IncidentState
    runbook: RunbookConfig


class PhaseResult(Model):
    outcome: str
    message: str = ""


class PhaseFinished(Model):
    """A phase's end, told to whichever run of the incident is current (it may not be the parent run)."""

    workflow_id: str
    result: PhaseResult | None = None
    failure: str | None = Field(None, description="the phase failed: why")


# --- Activities ------------------------------------------------------------------------------

Channel = Literal["incident", "page", "status_page", "stakeholders", "email", "ticket"]


class Notification(Model):
    """One message out. The activity renders `template` with `context`; no secrets in here."""

    incident_id: str
    channel: Channel
    template: Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]{1,64}$")]
    audience: list[str] = Field(default_factory=list)
    context: dict[str, str | int | float | bool | None | list[str]] = Field(default_factory=dict)
    page_at: datetime | None = Field(
        None, description="resolve the audience's roles to the people on call at this instant (WARROOM_ONCALL)"
    )
    recipients: list[Resolution] = Field(
        default_factory=list, description="who the roles resolved to, with contacts: set by the activity, for adapters"
    )


class Delivery(Model):
    channel: Channel
    destination: str
    text: str
    delivered_at: datetime
    oncall: OncallResult | None = Field(
        None, description="who a page's roles resolved to, when the worker has a roster"
    )


class UpdateResult(Model):
    """What a person's update returns at once: the recorded message and where the incident stands."""

    incident_id: str
    message: str
    phase: Phase
    severity: Severity | None = None
    step_id: str | None = None


PhaseEvent.model_rebuild()
