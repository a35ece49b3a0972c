"""Commands that open an incident and take command of it: declare, ack, assign, severity, flags.

Every command that acts is a workflow update: the incident's validators decide, so the CLI
stays thin and a rejection ("only the Incident Commander (alice) may ...") reaches you before
anything is recorded.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated

import typer
from pydantic import BaseModel, ValidationError
from rich.markup import escape

from warroom.cli import parsing, render
from warroom.cli.app import app, invalid_input, out, run, settings_of, who_of
from warroom.cli.parsing import ROLE, SEVERITY, AsOpt, IncidentId, JsonOpt
from warroom.enums import Severity, Update
from warroom.errors import BadInput
from warroom.ids import incident_id_of, workflow_id_for
from warroom.incidents import Incidents
from warroom.models import (
    Acknowledge,
    AssignRole,
    Declare,
    DeploymentTarget,
    ImpactSignals,
    IncidentInput,
    SetFlags,
    SetSeverity,
    UpdateResult,
)
from warroom.runbook import load_runbook
from warroom.settings import Settings


def act(
    ctx: typer.Context,
    as_: str | None,
    as_json: bool,
    incident: str,
    update: Update,
    build: Callable[[str], BaseModel],
    after: Callable[[UpdateResult, str], None] | None = None,
) -> None:
    """The shape of every acting command: who, a validated request, the update, its message."""
    settings = settings_of(ctx)
    who = who_of(ctx, as_, settings)
    try:
        request = build(who)
    except ValidationError as exc:
        raise invalid_input(exc) from None
    result = run(_send(settings, who, incident, update, request))
    if as_json:
        print(result.model_dump_json(indent=2))
        return
    out.print(escape(result.message))
    if after:
        after(result, incident_id_of(workflow_id_for(incident)))


async def _send(settings: Settings, who: str, incident: str, update: Update, request: BaseModel) -> UpdateResult:
    incidents = await Incidents.connect(settings, identity=f"warroom-cli:{who}")
    return await incidents.act(incident, update, request)


@app.command()
def declare(
    ctx: typer.Context,
    service: Annotated[
        str | None, typer.Option(help="the service that hurts, e.g. order-api", show_default=False)
    ] = None,
    severity: Annotated[
        Severity | None,
        typer.Option(
            parser=SEVERITY,
            metavar="P1|P2|P3",
            help="P1, P2 or P3 (declare early, downgrade later)",
            show_default=False,
        ),
    ] = None,
    summary: Annotated[str | None, typer.Option(help="the observable symptom, one line", show_default=False)] = None,
    from_alert: Annotated[
        str | None,
        typer.Option(
            "--from-alert",
            metavar="ID",
            help="declare the incident an alert opened (still in Detection)",
            show_default=False,
        ),
    ] = None,
    deployment: Annotated[
        str | None,
        typer.Option(
            metavar="NAMESPACE/NAME",
            help="the Deployment behind the service: diagnosis and the rollback rule use it",
            show_default=False,
        ),
    ] = None,
    data_loss: Annotated[
        bool, typer.Option("--data-loss", help="data loss suspected: legal/privacy are notified at once")
    ] = False,
    security: Annotated[
        bool, typer.Option("--security", help="security incident suspected: hand off to security")
    ] = False,
    vendor: Annotated[bool, typer.Option("--vendor", help="a third-party vendor is involved")] = False,
    commander: Annotated[
        str | None, typer.Option(help="the Incident Commander, if already known", show_default=False)
    ] = None,
    on_call: Annotated[str | None, typer.Option(help="the on-call engineer who got paged", show_default=False)] = None,
    started: Annotated[
        str | None,
        typer.Option(
            metavar="WHEN",
            help="when the symptom began: 14:02 (UTC), 20m (ago) or an ISO time; detection is measured from it",
            show_default=False,
        ),
    ] = None,
    reason: Annotated[str, typer.Option(help="with --from-alert: why declare now")] = "",
    as_: AsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Declare an incident now: opens the channel, pages the IC and starts every runbook timer.

    Example: warroom declare --service order-api --severity P1 --summary '8% of API requests return 503' --as alice
    Example: warroom declare --service order-api --severity P2 --summary 'slow checkout' --started 20m --as bob
    Example: warroom declare --from-alert alertmanager-... --severity P2 --reason 'customers calling' --as alice
    """
    if from_alert:
        act(
            ctx,
            as_,
            as_json,
            from_alert,
            Update.DECLARE,
            lambda who: Declare(by=who, severity=severity, reason=reason or "declared by a person"),
        )
        return
    missing = [
        flag for flag, value in (("--service", service), ("--severity", severity), ("--summary", summary)) if not value
    ]
    if missing:
        raise BadInput(f"declare needs {', '.join(missing)} (or --from-alert ID for an incident an alert opened)")
    settings = settings_of(ctx)
    who = who_of(ctx, as_, settings)
    runbook = load_runbook(settings.runbook)
    now = datetime.now(UTC)
    impact_started_at = parsing.started_at(started, now) if started else None
    try:
        target = None
        if deployment:
            namespace, _, name = deployment.partition("/")
            target = DeploymentTarget(namespace=namespace, deployment=name)
        inp = IncidentInput(
            incident_id=f"{(service or '').strip().lower()}-{now:%Y%m%d-%H%M%S}",
            service=service,
            summary=summary,
            runbook=runbook,
            severity=severity,
            declared=True,
            declared_by=who,
            commander=commander,
            on_call=on_call,
            target=target,
            impact_started_at=impact_started_at,
            signals=ImpactSignals(data_loss=data_loss, security=security, third_party_vendor=vendor),
            history_limit=settings.incident_history_limit,
        )
    except ValidationError as exc:
        raise invalid_input(exc) from None
    workflow_id = run(_start(settings, who, inp))
    render.declared(settings, inp, workflow_id, as_json)


async def _start(settings: Settings, who: str, inp: IncidentInput) -> str:
    incidents = await Incidents.connect(settings, identity=f"warroom-cli:{who}")
    return await incidents.start(inp, settings.task_queue)


@app.command("declare-now")
def declare_now(
    ctx: typer.Context,
    incident: IncidentId,
    severity: Annotated[
        Severity | None,
        typer.Option(
            parser=SEVERITY,
            metavar="P1|P2|P3",
            help="else the runbook assesses it from the signals",
            show_default=False,
        ),
    ] = None,
    reason: Annotated[str, typer.Option(help="why declare now")] = "",
    as_: AsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Declare an incident still in Detection (opened by an alert) without waiting for the criteria.

    Example: warroom declare-now payments-20250101-140700 --severity P2 --reason 'customers calling' --as alice
    """
    act(ctx, as_, as_json, incident, Update.DECLARE, lambda who: Declare(by=who, severity=severity, reason=reason))


@app.command()
def ack(
    ctx: typer.Context,
    incident: IncidentId,
    take_command: Annotated[
        bool,
        typer.Option(
            "--take-command", help="also take command as Incident Commander (nobody commands yet; not the Ops Lead)"
        ),
    ] = False,
    as_: AsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Acknowledge the page. The IC is its own role: you take command only with --take-command.

    Example: warroom ack order-api-20250101-140700 --as carol
    Example: warroom ack order-api-20250101-140700 --take-command --as alice
    """
    act(ctx, as_, as_json, incident, Update.ACKNOWLEDGE, lambda who: Acknowledge(by=who, take_command=take_command))


@app.command()
def assign(
    ctx: typer.Context,
    incident: IncidentId,
    role: Annotated[str, typer.Argument(parser=ROLE, metavar="ROLE", help="ic, ops, comms or pir", show_default=False)],
    person: Annotated[str, typer.Argument(metavar="PERSON", help="who takes the role", show_default=False)],
    as_: AsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Give a role to someone (the IC assigns; anyone may name the first IC).

    Example: warroom assign order-api-20250101-140700 ops bob --as alice
    """
    act(ctx, as_, as_json, incident, Update.ASSIGN_ROLE, lambda who: AssignRole(role=role, person=person, by=who))


@app.command()
def severity(
    ctx: typer.Context,
    incident: IncidentId,
    level: Annotated[
        Severity, typer.Argument(parser=SEVERITY, metavar="P1|P2|P3", help="the new severity", show_default=False)
    ],
    reason: Annotated[str, typer.Option(help="why (recorded in the timeline)", show_default=False)],
    as_: AsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Change the severity (IC only); every pending timer is re-planned.

    Example: warroom severity order-api-20250101-140700 P2 --reason 'only internal tools affected' --as alice
    """
    act(
        ctx,
        as_,
        as_json,
        incident,
        Update.SET_SEVERITY,
        lambda who: SetSeverity(severity=level, by=who, reason=reason),
    )


@app.command()
def flags(
    ctx: typer.Context,
    incident: IncidentId,
    data_loss: Annotated[
        bool | None,
        typer.Option("--data-loss/--no-data-loss", help="data loss suspected (or ruled out)", show_default=False),
    ] = None,
    security: Annotated[
        bool | None, typer.Option("--security/--no-security", help="security incident suspected", show_default=False)
    ] = None,
    vendor: Annotated[
        bool | None,
        typer.Option("--vendor/--no-vendor", help="a third-party vendor is involved", show_default=False),
    ] = None,
    vendor_ticket: Annotated[
        str | None, typer.Option(help="the vendor's support ticket reference", show_default=False)
    ] = None,
    as_: AsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Raise a special case mid-incident, or record the vendor ticket.

    Example: warroom flags order-api-20250101-140700 --vendor --vendor-ticket ZD-4711 --as bob
    """
    if data_loss is None and security is None and vendor is None and not vendor_ticket:
        raise BadInput(
            "nothing to change: pass --data-loss, --security, --vendor (or their --no- forms) or --vendor-ticket"
        )
    act(
        ctx,
        as_,
        as_json,
        incident,
        Update.SET_FLAGS,
        lambda who: SetFlags(
            by=who, data_loss=data_loss, security=security, third_party_vendor=vendor, vendor_ticket=vendor_ticket
        ),
    )
