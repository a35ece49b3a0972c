"""What the CLI prints for people: borderless Rich tables (a status pasted into the incident
channel stays readable), times as the IC script says them, and the next commands to type."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from rich.markup import escape
from rich.table import Column, Table

from warroom import search
from warroom.catalog import Param, StepEntry
from warroom.cli.app import out
from warroom.config import RunbookConfig
from warroom.enums import Role, format_duration
from warroom.models import IncidentInput, IncidentState, Step
from warroom.policy.mttx import mttx

if TYPE_CHECKING:
    from warroom.audit import AuditRow
    from warroom.incidents import IncidentRow
    from warroom.settings import Settings

TIMELINE_ROWS = 15


def table(title: str | None, *columns: str | Column) -> Table:
    """Borderless, so a status pasted into the incident channel stays readable."""
    result = Table(
        *columns,
        title=title,
        title_justify="left",
        title_style="bold",
        box=None,
        header_style="dim",
        padding=(0, 1),
        pad_edge=False,
    )
    if title:
        result.title = f"\n{title}"
    return result


# --- declare ---------------------------------------------------------------------------------


def web_ui_url(settings: Settings, workflow_id: str) -> str:
    return (
        f"http://127.0.0.1:{settings.ui_port}/namespaces/{quote(settings.temporal_namespace, safe='')}"
        f"/workflows/{quote(workflow_id, safe='')}"
    )


def declared(settings: Settings, inp: IncidentInput, workflow_id: str, as_json: bool) -> None:
    """The new incident, the commands to type next and its Web UI link."""
    url = web_ui_url(settings, workflow_id)
    if as_json:
        print(
            json.dumps(
                {
                    "incident_id": inp.incident_id,
                    "workflow_id": workflow_id,
                    "severity": str(inp.severity),
                    "web_ui": url,
                },
                indent=2,
            )
        )
        return
    iid = inp.incident_id
    out.print(f"[bold]declared {inp.severity} incident {escape(iid)}[/] ({escape(inp.service)}: {escape(inp.summary)})")
    out.print(f"workflow {escape(workflow_id)}")
    steps = [] if inp.commander else [(f"warroom ack {iid} --take-command", "take command as IC (or assign ic)")]
    steps += [
        (f"warroom assign {iid} ops PERSON", "name the Operations Lead (and comms for P1)"),
        (f"warroom status {iid}", "roles, pending steps, next deadlines, timeline"),
    ]
    width = max(len(command) for command, _ in steps)
    out.print("next:")
    for command, why in steps:
        out.print(f"  {escape(command):<{width}}  # {why}")
    out.print(f"web UI: {escape(url)}")


# --- status ----------------------------------------------------------------------------------


def _at(moment: datetime | None, now: datetime) -> str:
    """A time as the IC script says it (14:07 UTC) plus how long ago, so nobody does arithmetic."""
    if moment is None:
        return "—"
    return f"{moment:%H:%M:%S} UTC ({_ago(now - moment)})"


def _ago(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds >= 0:
        return f"{format_duration(timedelta(seconds=seconds))} ago"
    return f"in {format_duration(timedelta(seconds=-seconds))}"


def state(state: IncidentState, now: datetime, runbook: RunbookConfig) -> None:
    """`warroom status`: header, MTTx so far against the targets, roles, pending steps, deadlines, timeline."""
    _header(state, now)
    out.print(_mttx_table(state, runbook, now))
    out.print(_roles_table(state))
    if any(s.is_open for s in state.steps):
        out.print(_steps_table(state))
        out.print(
            f"  IC: warroom preview {escape(state.incident_id)} STEP, then "
            f"warroom approve {escape(state.incident_id)} STEP --preview DIGEST --reason '...'   (or deny)"
        )
    if state.deadlines:
        out.print(_deadlines_table(state, now))
    out.print(_timeline_table(state))


def _header(state: IncidentState, now: datetime) -> None:
    severity = state.severity.value if state.severity else search.UNASSESSED
    out.print(
        f"[bold]{escape(state.incident_id)}[/]  {severity}  phase [bold]{state.phase.value}[/]  "
        f"{escape(state.service)}: {escape(state.summary)}"
    )
    out.print(f"  {'channel':<13}{escape(state.channel or '— (not declared yet)')}")
    out.print(f"  {'opened':<13}{state.opened_at:%Y-%m-%d} {_at(state.opened_at, now)}")
    ack = _at(state.acknowledged_at, now) + (f" by {escape(state.acknowledged_by)}" if state.acknowledged_by else "")
    for label, value in (
        ("declared", _at(state.declared_at, now)),
        ("acknowledged", ack),
        ("mitigated", _at(state.mitigated_at, now)),
        ("resolved", _at(state.resolved_at, now)),
    ):
        out.print(f"  {label:<13}{value}")
    if state.mitigation_applied_at and not state.mitigated_at:
        out.print(
            f"  {'mitigating':<13}{escape(state.mitigation_action or '')} since {_at(state.mitigation_applied_at, now)}; "
            "waiting for clean metrics"
        )
    special = [
        name
        for name, on in (
            ("data loss", state.signals.data_loss),
            ("security", state.signals.security),
            ("vendor", state.signals.third_party_vendor),
        )
        if on
    ]
    if special:
        ticket = f", vendor ticket {escape(state.vendor_ticket)}" if state.vendor_ticket else ""
        out.print(f"  [yellow]{'special':<13}{', '.join(special)}{ticket}[/]")


def _mttx_table(state: IncidentState, runbook: RunbookConfig, now: datetime) -> Table:
    result = table("MTTx against the runbook's targets", "stage", "from → to", "measured", "target", "met")
    for row in mttx(state, runbook, now):
        measured = format_duration(row.measured) if row.measured is not None else "—"
        if row.running:
            measured += " so far"
        met = {True: "yes", False: "[red]no[/]", None: "—"}[row.met]
        target = format_duration(row.target) if row.target is not None else "—"
        result.add_row(row.stage, f"{row.since} → {row.until}", measured, target, met)
    return result


def _roles_table(state: IncidentState) -> Table:
    result = table("roles", "role", "who")
    for role in Role:
        result.add_row(role.value, escape(state.roles.get(role, "—")))
    return result


def _steps_table(state: IncidentState) -> Table:
    result = table("open steps", "step", "action", "status", "target", "proposed by", "preview")
    for step in (s for s in state.steps if s.is_open):
        shown = (
            f"{step.preview_digest}: {step.preview.summary}"
            if step.preview
            else "being previewed"
            if step.entry
            else ""
        )
        approvals = f" ({len(step.approvals)} of 2)" if step.policy == "two_person" and step.status == "pending" else ""
        result.add_row(
            step.step_id,
            step.action,
            step.status + approvals,
            escape(step.target),
            escape(step.proposed_by),
            escape(shown or step.description),
        )
    return result


def catalog(entries: list[StepEntry]) -> Table:
    """`warroom steps`: each entry, its kind, its parameters with their types and bounds, its approval."""
    result = table("step catalog", "step", "kind", "parameters", "approval", "what it does")
    for entry in entries:
        params = "\n".join(_param(p) for p in entry.params) or "—"
        overrides = {**{str(k): v for k, v in entry.approval.severities.items()}, **entry.approval.services}
        approval = entry.approval.default + "".join(f"; {k}: {v}" for k, v in overrides.items())
        result.add_row(entry.name, entry.kind, escape(params), approval, escape(entry.description))
    return result


def _param(p: Param) -> str:
    """`replicas:int 0..1000`, `namespace:dns_label=incident` (the incident's), `to_revision:int=0`."""
    kind = "|".join(p.choices) if p.type == "enum" else p.type
    if p.min is not None or p.max is not None:
        kind += f" {'' if p.min is None else p.min}..{'' if p.max is None else p.max}"
    default = "incident" if p.from_target else p.default
    return f"{p.name}:{kind}" + (f"={default}" if default is not None else "" if p.required else "?")


def step_preview(step: Step, incident_id: str) -> None:
    """`warroom preview`: what approving the step would change, and how to approve exactly that."""
    out.print(f"[bold]{escape(step.step_id)}[/] {escape(step.action)} ({escape(step.target)}): {step.status}")
    params = " ".join(f"{k}={v}" for k, v in step.params.items())
    out.print(f"  proposed by {escape(step.proposed_by)}" + (f"; parameters: {escape(params)}" if params else ""))
    if step.preview is None:
        out.print("  no preview yet" if step.entry else "  a manual step: nothing to preview")
        return
    p = step.preview
    out.print(f"  preview [bold]{step.preview_digest}[/]: {escape(p.summary)}")
    if not p.would_change:
        out.print("  applying it would change nothing as things stand")
    if p.changes:
        changes = table(None, "field", "before", "after")
        for c in p.changes:
            changes.add_row(escape(c.path), escape(c.before or "—"), escape(c.after or "—"))
        out.print(changes)
    if p.request:
        out.print("  request:")
        out.print(escape(p.request), markup=False)
    if p.diff:
        out.print("  diff:")
        out.print(escape(p.diff), markup=False)
    if step.status == "pending":
        out.print(
            f"  approve exactly this: warroom approve {escape(incident_id)} {step.step_id} "
            f"--preview {step.preview_digest} --reason '...'"
        )
    if step.result:
        out.print(
            f"  result: {escape(step.result)}"
            + (f"; verification: {escape(step.verification)}" if step.verification else "")
        )


def _deadlines_table(state: IncidentState, now: datetime) -> Table:
    result = table("next deadlines", "kind", "at", "in", "audience")
    for deadline in sorted(state.deadlines, key=lambda d: d.at):
        left = int((deadline.at - now).total_seconds())
        when = (
            f"overdue {format_duration(timedelta(seconds=-left))}"
            if left < 0
            else format_duration(timedelta(seconds=left))
        )
        result.add_row(deadline.kind, f"{deadline.at:%H:%M:%S} UTC", when, escape(", ".join(deadline.audience) or "—"))
    return result


def _timeline_table(state: IncidentState) -> Table:
    shown = state.timeline[-TIMELINE_ROWS:]
    result = table(f"timeline (last {len(shown)} of {len(state.timeline)})", "time", "actor", "kind", "message")
    for entry in shown:
        result.add_row(f"{entry.at:%H:%M:%S}", escape(entry.actor), entry.kind, escape(entry.message))
    return result


# --- list and audit --------------------------------------------------------------------------


def list_json(rows: Sequence[IncidentRow]) -> list[dict[str, Any]]:
    """Rows for `warroom list --json`: `started` in isoformat, as scripts have always read it."""
    return [{**row.model_dump(), "started": row.started.isoformat()} for row in rows]


def incidents(rows: Sequence[IncidentRow], query: str) -> None:
    if not rows:
        out.print(f"no incidents match {escape(query)}")
        return
    today = datetime.now(UTC).date()
    # the id is the one thing people copy: never cut it
    result = table(None, Column("id", no_wrap=True), "sev", "service", "phase", "IC", "started", "status")
    for row in rows:
        when = f"{row.started:%H:%M}" if row.started.date() == today else f"{row.started:%Y-%m-%d}"
        result.add_row(
            *(
                escape(str(value or "—"))
                for value in (row.incident_id, row.severity, row.service, row.phase, row.commander)
            ),
            when,
            row.status or "?",
        )
    out.print(result)


def audit(rows: Sequence[AuditRow]) -> None:
    from warroom.audit import short_event

    result = table(
        None,
        Column("time", no_wrap=True),
        Column("phase", no_wrap=True),
        Column("event", no_wrap=True),
        Column("actor", max_width=18, overflow="ellipsis", no_wrap=True),
        Column("what", overflow="fold", ratio=1),
    )
    for row in rows:
        result.add_row(
            f"{row.at:%H:%M:%S}", row.workflow, short_event(row.event), escape(row.actor), escape(row.summary)
        )
    out.print(result)
