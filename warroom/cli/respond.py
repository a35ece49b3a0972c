"""Commands of the response and after it: the 15-minute update,
mitigation, resolution, the post-incident review and its action items."""

from __future__ import annotations

from typing import Annotated

import typer

from warroom.cli.app import app
from warroom.cli.incident import act
from warroom.cli.parsing import (
    PUBLIC,
    AsOpt,
    IncidentId,
    JsonOpt,
    action_item,
)
from warroom.enums import Update
from warroom.models import (
    ActionItem,
    CompleteActionItem,
    CompletePir,
    MarkMitigated,
    Resolve,
    StatusUpdate,
)
from warroom.policy.checklist import CONFIRMABLE

CONFIRMS = {item.replace("_", "-"): item for item in CONFIRMABLE}
"""`--confirm` words: errors-at-baseline, synthetic-monitors-green, no-customer-reports."""


def _confirmable(text: str) -> str:
    key = text.strip().lower().replace("_", "-")
    if key not in CONFIRMS:
        raise typer.BadParameter(f"{text!r} is not one of {', '.join(CONFIRMS)}")
    return CONFIRMS[key]


@app.command()
def update(
    ctx: typer.Context,
    incident: IncidentId,
    error_rate: Annotated[
        float | None, typer.Option(help="percent of requests failing, e.g. 8", show_default=False)
    ] = None,
    hypothesis: Annotated[str, typer.Option(help="current theory")] = "",
    next_action: Annotated[str, typer.Option(help="what happens next")] = "",
    owner: Annotated[str | None, typer.Option(help="who does the next action", show_default=False)] = None,
    eta: Annotated[str, typer.Option(help="when, e.g. 14:40")] = "",
    public: Annotated[
        str | None,
        typer.Option(
            parser=PUBLIC,
            metavar="STATUS",
            help="also post to the status page: investigating, identified or monitoring",
            show_default=False,
        ),
    ] = None,
    public_message: Annotated[str, typer.Option(help="the status page text (no names, no blame)")] = "",
    confirm: Annotated[
        list[str] | None,
        typer.Option(
            parser=_confirmable,
            metavar="ITEM",
            help="confirm a post-mitigation checklist item (repeatable): " + ", ".join(CONFIRMS),
            show_default=False,
        ),
    ] = None,
    as_: AsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Post the 15-minute update: error rate, hypothesis, next action by whom, ETA.

    With only --confirm, it confirms post-mitigation checklist items and is not the 15-minute update.

    Example: warroom update order-api-20250101-140700 --error-rate 8 --hypothesis 'pool leak in v2.14.3' --next-action rollback --owner bob --eta 14:40 --as alice

    Example: warroom update order-api-20250101-140700 --confirm no-customer-reports --as carol
    """
    act(
        ctx,
        as_,
        as_json,
        incident,
        Update.POST_UPDATE,
        lambda who: StatusUpdate(
            by=who,
            error_rate=error_rate,
            hypothesis=hypothesis,
            next_action=next_action,
            owner=owner,
            eta=eta,
            public_status=public,
            public_message=public_message,
            confirm=list(confirm or []),  # the parser returns only the checklist words; pydantic checks them
        ),
    )


@app.command()
def mitigated(
    ctx: typer.Context,
    incident: IncidentId,
    action: Annotated[str, typer.Option(help="what stopped the bleeding", show_default=False)],
    as_: AsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Mitigation applied (IC only); the clean-metrics window starts before it counts as mitigated.

    Example: warroom mitigated order-api-20250101-140700 --action 'rolled back to v2.14.2' --as alice
    """
    act(ctx, as_, as_json, incident, Update.MARK_MITIGATED, lambda who: MarkMitigated(by=who, action=action))


@app.command()
def resolve(
    ctx: typer.Context,
    incident: IncidentId,
    summary: Annotated[str, typer.Option(help="what was wrong and what fixed it", show_default=False)],
    pir_owner: Annotated[
        str | None, typer.Option(help="who files the post-incident review (default: the IC)", show_default=False)
    ] = None,
    override: Annotated[
        str | None,
        typer.Option(
            metavar="REASON",
            help="resolve before the monitoring period has run (or with the checklist open); the reason is recorded",
            show_default=False,
        ),
    ] = None,
    as_: AsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Declare resolution (IC only, after verified mitigation and the monitoring period); sets the PIR owner and due date.

    Refused with the list of what is still open until it is closed, unless --override gives a reason.

    Example: warroom resolve order-api-20250101-140700 --summary 'pool leak in v2.14.3, rolled back' --pir-owner bob --as alice
    """
    act(
        ctx,
        as_,
        as_json,
        incident,
        Update.RESOLVE,
        lambda who: Resolve(by=who, summary=summary, pir_owner=pir_owner, override=override),
    )


@app.command("pir-complete")
def pir_complete(
    ctx: typer.Context,
    incident: IncidentId,
    action_item_: Annotated[
        list[ActionItem] | None,
        typer.Option(
            "--action-item",
            parser=action_item,
            metavar="'TITLE|OWNER|YYYY-MM-DD'",
            help="repeatable; every item needs an owner and a due date",
            show_default=False,
        ),
    ] = None,
    document: Annotated[str, typer.Option(help="link to the review document")] = "",
    as_: AsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Complete the blameless post-incident review with its action items, which are then tracked to done.

    Example: warroom pir-complete order-api-20250101-140700 --action-item 'alert on pool saturation|bob|2025-01-15' --document https://wiki/pir-42 --as bob
    """
    act(
        ctx,
        as_,
        as_json,
        incident,
        Update.COMPLETE_PIR,
        lambda who: CompletePir(by=who, document=document, action_items=list(action_item_ or [])),
    )


@app.command("action-done")
def action_done(
    ctx: typer.Context,
    incident: IncidentId,
    item: Annotated[int, typer.Argument(help="the action item's number, as `warroom status` lists them")],
    note: Annotated[str, typer.Option(help="what was done")] = "",
    as_: AsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Mark a PIR action item done; the incident closes when the last one is.

    Example: warroom action-done order-api-20250101-140700 1 --note 'canary analysis shipped' --as bob
    """
    act(
        ctx,
        as_,
        as_json,
        incident,
        Update.COMPLETE_ACTION_ITEM,
        lambda who: CompleteActionItem(by=who, item=item, note=note),
    )
