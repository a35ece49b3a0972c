"""Commands for the step catalog: list it, propose a step, read its preview, approve, deny, cancel.

    warroom steps                                     the catalog and each entry's parameters
    warroom propose ID scale replicas=6 --as bob      checks every parameter, names the bad one
    warroom preview ID s2                             what approving s2 would change, and its digest
    warroom approve ID s2 --preview 3f9a0c1b2d4e --reason '...' --as alice
    warroom cancel-step ID s2 --reason '...' --as alice

The parameters are checked here against the runbook this CLI reads (so a typo fails before any
request) and again by the incident's validator against the worker's runbook, which decides.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from warroom.cli import render
from warroom.cli.app import app, out, run, settings_of
from warroom.cli.incident import act
from warroom.cli.parsing import AsOpt, IncidentId, JsonOpt, ReasonOpt, StepArg, evidence
from warroom.cli.read import _state
from warroom.enums import StepAction, Update
from warroom.errors import BadInput
from warroom.models import CancelStep, ProposeStep, StepDecision, UpdateResult
from warroom.policy.steps import MAX_RAW, ParamError, legacy_params, parse_params
from warroom.runbook import load_runbook
from warroom.step_models import ParamValue

LEGACY = {a.value for a in StepAction} - {StepAction.CUSTOMER_EMAIL.value}


@app.command("steps")
def steps_command(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """The step catalog: what `warroom propose` can run, each entry's parameters and who approves it.

    Example: warroom steps
    """
    catalog = load_runbook(settings_of(ctx).runbook).steps
    if as_json:
        print(catalog.model_dump_json(indent=2))
        return
    out.print(render.catalog(catalog.all()))
    out.print(
        "Propose one with: warroom propose ID STEP key=value ...; a parameter with a default (=incident: the "
        "incident's Deployment) may be left out."
    )


def _params(pairs: list[str]) -> dict[str, ParamValue]:
    found: dict[str, ParamValue] = {}
    for pair in pairs:
        if len(pair) > MAX_RAW + 41:
            raise BadInput(f"parameter {pair[:40]!r}...: longer than {MAX_RAW} characters")
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise BadInput(f"{pair!r} is not key=value, e.g. replicas=6")
        found[key.strip()] = value.strip()
    return found


@app.command()
def propose(
    ctx: typer.Context,
    incident: IncidentId,
    step: Annotated[
        str, typer.Argument(metavar="STEP", help="a catalog entry (`warroom steps`), or custom", show_default=False)
    ],
    params: Annotated[
        list[str] | None,
        typer.Argument(metavar="[KEY=VALUE]...", help="the entry's parameters, e.g. replicas=6", show_default=False),
    ] = None,
    description: Annotated[str, typer.Option(help="what and why")] = "",
    evidence_: Annotated[
        list[str] | None,
        typer.Option("--evidence", help="key=value, repeatable: --evidence deploy=v2.14.3", show_default=False),
    ] = None,
    as_: AsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Propose a step; warroom previews it (a dry run) and asks the IC. Prints its step id.

    Example: warroom propose order-api-20250101-140700 scale replicas=6 --as bob

    More: `restart --description 'pods wedged'`, `page who=database-oncall`, and `custom 'flush the CDN'`
    (a manual step: recorded and decided, not run).
    """
    facts = dict(evidence(item) for item in evidence_ or [])
    raw = _params(params or [])
    name = step.strip().lower()
    runbook = load_runbook(settings_of(ctx).runbook)
    if name == "custom":
        target = " ".join(params or []) or "manual step"
        request: dict[str, object] = {"action": StepAction.CUSTOM, "target": target[:128]}
    else:
        if name in LEGACY and len(params or []) == 1 and "=" not in (params or [""])[0]:
            name, raw = legacy_params(name, (params or [""])[0])  # `propose ID rollback deployment/order-api`
        entry = runbook.steps.entry(name)
        if entry is None:
            known = ", ".join(e.name for e in runbook.steps.all())
            raise BadInput(f"no step {name!r} in the catalog; `warroom steps` lists them: {known}, custom")
        try:  # the incident fills what comes from its Deployment and checks its bounds
            parse_params(entry, raw, target=None, runbook=runbook, service="", partial=True)
        except ParamError as exc:
            raise BadInput(str(exc)) from None
        request = {"step": name, "params": raw}

    def after(result: UpdateResult, iid: str) -> None:
        sid = escape(result.step_id or "STEP")
        out.print(f"step id: [bold]{sid}[/]; see what it would change with: warroom preview {escape(iid)} {sid}")

    act(
        ctx,
        as_,
        as_json,
        incident,
        Update.PROPOSE_STEP,
        lambda who: ProposeStep.model_validate({"by": who, "description": description, "evidence": facts, **request}),
        after,
    )


@app.command()
def preview(ctx: typer.Context, incident: IncidentId, step: StepArg, as_json: JsonOpt = False) -> None:
    """What approving a step would change (the dry run's patch and fields, the playbook's --check --diff,
    the rendered request) and the digest `warroom approve --preview` names.

    Example: warroom preview order-api-20250101-140700 s2
    """
    state = run(_state(settings_of(ctx), incident))
    found = next((s for s in state.steps if s.step_id == step), None)
    if found is None:
        known = ", ".join(s.step_id for s in state.steps) or "none"
        raise BadInput(f"no step {step!r} in {state.incident_id} (steps: {known})")
    if as_json:
        print(found.model_dump_json(indent=2))
        return
    render.step_preview(found, state.incident_id)


@app.command()
def approve(
    ctx: typer.Context,
    incident: IncidentId,
    step: StepArg,
    reason: ReasonOpt,
    preview_: Annotated[
        str | None,
        typer.Option("--preview", help="the digest of the preview you approve (`warroom preview`)", show_default=False),
    ] = None,
    as_: AsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Approve a proposed step, naming the preview you saw; the reason is recorded with your name.

    A catalog step is approved on its preview: if it changed since you looked (a fresh dry run after
    the deployment moved on), the approval is refused and you look again.

    Example: warroom approve order-api-20250101-140700 s2 --preview 3f9a0c1b2d4e --reason 'pods wedged' --as alice
    """
    act(
        ctx,
        as_,
        as_json,
        incident,
        Update.APPROVE,
        lambda who: StepDecision(step_id=step, by=who, reason=reason, preview=preview_),
    )


@app.command()
def deny(
    ctx: typer.Context,
    incident: IncidentId,
    step: StepArg,
    reason: ReasonOpt,
    as_: AsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Deny a proposed step (IC only); the denial and its reason stay in the timeline.

    Example: warroom deny order-api-20250101-140700 s1 --reason 'migration already applied' --as alice
    """
    act(ctx, as_, as_json, incident, Update.DENY, lambda who: StepDecision(step_id=step, by=who, reason=reason))


@app.command("cancel-step")
def cancel_step(
    ctx: typer.Context,
    incident: IncidentId,
    step: StepArg,
    reason: ReasonOpt,
    as_: AsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Withdraw a step not yet decided, or stop one running (the IC or whoever proposed it).

    Example: warroom cancel-step order-api-20250101-140700 s2 --reason 'wrong deployment' --as alice
    """
    act(ctx, as_, as_json, incident, Update.CANCEL_STEP, lambda who: CancelStep(step_id=step, by=who, reason=reason))
