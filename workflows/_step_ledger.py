"""A step's bookkeeping as it is proposed: which catalog entry, its typed parameters, its approval rule.

Plain functions of (state, runbook, request, now), like `workflows._ledger`: the validator has
already refused what does not parse (`authority.may_propose_step`), so parsing here cannot fail
for a request that reached history.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from warroom.config import RunbookConfig
from warroom.models import IncidentState, ProposedByWarroom, ProposeStep, Step
from warroom.policy import steps as policy


def proposed(state: IncidentState, runbook: RunbookConfig, req: ProposeStep, step_id: str, now: datetime) -> Step:
    """The step a person proposed, typed by the catalog."""
    name, raw = (req.step, req.params) if req.step else policy.legacy_params(str(req.action), str(req.target))
    entry = runbook.steps.entry(name or "")
    assert entry is not None, "the validator refuses steps outside the catalog"
    params = policy.parse_params(entry, raw, target=state.target, runbook=runbook, service=state.service)
    return Step(
        step_id=step_id,
        action=entry.name,
        target=_target(params) or req.target or entry.name,
        description=req.description or entry.description,
        evidence=req.evidence,
        proposed_by=req.by,
        proposed_at=now,
        entry=entry.name,
        params=params,
        policy=policy.approval_policy(entry, runbook, state.severity, state.service),
    )


def take_proposal(state: IncidentState, runbook: RunbookConfig, proposal: ProposedByWarroom) -> None:
    """The rollback rule's proposal (recorded by `apply_phase_event`) runs through its catalog entry:
    a veto window (`auto_approve_at`), or the IC's approval where the runbook wants one."""
    step = next(s for s in state.steps if s.step_id == proposal.step_id)
    entry = runbook.steps.entry(proposal.entry or "")
    step.entry = proposal.entry
    step.params = dict(proposal.params)
    step.policy = policy.approval_policy(entry, runbook, state.severity, state.service) if entry else "ic"


def shown_params(step: Step) -> str:
    return " ".join(f"{k}={v}" for k, v in step.params.items()) or "no parameters"


def _target(params: Mapping[str, object]) -> str | None:
    if "deployment" in params:
        return f"{params.get('namespace', '?')}/{params['deployment']}"
    return str(params["who"]) if "who" in params else None
