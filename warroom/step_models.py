"""A step's models: what a person proposes and decides, what the preview showed, what the step became.

A step is proposed (a catalog entry with typed parameters, or one of the legacy actions), previewed
(`StepPreview`: what approving it would change, with a digest the approval must name), decided
(one approval, or two under the two-person rule), applied and verified. `warroom.models`
re-exports these names.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from warroom.enums import Role, StepAction
from warroom.primitives import Model, Person, ShortText, Text

PREVIEW_TEXT_MAX = 8000
"""Characters of a patch, a rendered request or a `--diff` a preview keeps (history stays small)."""
OUTPUT_MAX = 4000
"""Characters of output an applied step keeps for the timeline, the audit and the PIR."""

ProposableAction = Literal[StepAction.ESCALATE, StepAction.PAGE, StepAction.ROLLBACK, StepAction.CUSTOM]
"""The actions people proposed before the catalog (`action` + `target`); `custom` stays a manual step."""

StepName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]{0,39}$")]
ParamValue = int | bool | Annotated[str, StringConstraints(max_length=256)]
StepStatus = Literal["pending", "approved", "running", "done", "failed", "denied", "cancelled"]


class FieldChange(Model):
    """One field the step changes, as the dry run (or the check run) says it would."""

    path: str = Field(..., description="e.g. 'spec.replicas' or a playbook task's name")
    before: str | None = None
    after: str | None = None


class StepPreview(Model):
    """What approving the step would do, shown to the approver before they are asked."""

    summary: Annotated[str, StringConstraints(max_length=300)] = Field(
        ..., description="one line, e.g. 'scale deployment/order-api from 3 to 6 replicas'"
    )
    request: Annotated[str, StringConstraints(max_length=PREVIEW_TEXT_MAX)] = Field(
        "", description="the exact patch (JSON), the rendered HTTP request, or the playbook command line"
    )
    changes: list[FieldChange] = Field(default_factory=list, max_length=50)
    diff: Annotated[str, StringConstraints(max_length=PREVIEW_TEXT_MAX)] = Field(
        "", description="`--check --diff` output (playbooks), bounded"
    )
    would_change: bool = Field(True, description="False when applying would change nothing (already at 6 replicas)")
    observed: Annotated[str, StringConstraints(max_length=300)] = Field(
        "", description="the world the preview was made on (Kubernetes: 'generation=7 revision=3'); '' = not checked"
    )


class StepApproval(Model):
    by: str
    at: datetime
    preview: str | None = Field(None, description="the digest of the preview this person saw")
    reason: str = ""


class ProposeStep(Model):
    """A step for the IC to decide: a catalog entry and its parameters (`step`, `params`), or one of
    the legacy actions (`action`, `target`) that people proposed before the catalog."""

    by: Person
    step: StepName | None = Field(None, description="a catalog entry (`warroom steps`), e.g. 'scale'")
    params: dict[Annotated[str, StringConstraints(max_length=40)], ParamValue] = Field(
        default_factory=dict, max_length=16
    )
    action: ProposableAction | None = None
    target: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)] | None = None
    description: Text = ""
    evidence: dict[str, str] = Field(default_factory=dict, max_length=32)

    @model_validator(mode="after")
    def _one_kind(self) -> ProposeStep:
        if (self.step is None) == (self.action is None):
            raise ValueError("name a catalog step (`step`) or a legacy `action`, not both and not neither")
        if self.action is not None and self.target is None:
            raise ValueError("a legacy `action` needs a `target`")
        return self


class StepDecision(Model):
    step_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    by: Person
    reason: ShortText
    preview: Annotated[str, StringConstraints(max_length=64)] | None = Field(
        None, description="approve: the digest of the preview you saw (`warroom preview`); required once there is one"
    )


class CancelStep(Model):
    step_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    by: Person
    reason: ShortText


class Step(Model):
    step_id: str
    action: str = Field(..., description="the catalog entry, or a legacy action (rollback, page, escalate, custom)")
    target: str
    approver_role: Role = Role.INCIDENT_COMMANDER
    description: str = ""
    evidence: dict[str, str] = Field(default_factory=dict)
    proposed_by: str
    proposed_at: datetime
    status: StepStatus = "pending"
    decided_by: str | None = None
    decided_at: datetime | None = None
    reason: str | None = None
    auto_approve_at: datetime | None = None
    # The catalog's steps (empty for legacy and customer e-mail steps):
    entry: str | None = Field(None, description="the catalog entry this step runs")
    params: dict[str, ParamValue] = Field(default_factory=dict)
    policy: Literal["auto", "ic", "two_person"] | None = None
    preview: StepPreview | None = None
    preview_digest: str | None = None
    previewed_at: datetime | None = None
    approvals: list[StepApproval] = Field(default_factory=list)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    result: str | None = Field(None, description="what the step did, in a line")
    output: str = Field("", description="bounded output of the step")
    verification: str | None = None

    @property
    def is_open(self) -> bool:
        """Still to decide or still running."""
        return self.status in ("pending", "approved", "running")


class ProposedByWarroom(Model):
    """A step warroom proposes to the IC, with the evidence behind it."""

    step_id: str
    action: ProposableAction
    target: str
    description: str = ""
    evidence: dict[str, str] = Field(default_factory=dict)
    auto_approve_at: datetime | None = Field(None, description="goes ahead at this time unless the IC denies")
    entry: str | None = Field(None, description="the catalog entry that runs it (the rollback rule: 'rollback')")
    params: dict[str, ParamValue] = Field(default_factory=dict)
