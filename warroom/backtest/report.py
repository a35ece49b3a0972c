"""What a backtest says to people and to CI: per incident, the decisions that differ and where the
replay left the recording; then the aggregate ("P2 escalation to engineering-team-lead: 3 of 40
incidents, 30 min earlier (median)"); in three formats; and the `--fail-on` conditions.

Pure: it reads the models, never Temporal, so what a pull request's check prints is testable with
hand-made values. Decisions are read by their `kind` and `key` as warroom.backtest.recording writes
them ("escalation:escalation:engineering-team-lead", "page:ic_page:incident-commander",
"kube_step_apply:action=rollback:deployment=order-api:..."): a message's audience is the key's last part.
"""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from warroom.backtest.models import BacktestReport, Decision, Difference, Divergence, IncidentBacktest

FAIL_ON = {"later-escalation", "fewer-pages", "rollback-changed", "any"}
"""The conditions `--fail-on` takes: a later (or lost) escalation, fewer pages, any change to a
rollback (its verdict, its approval, when it ran), any difference or divergence at all."""

FAIL_ON_HELP = {
    "later-escalation": "an escalation happens later than it did, or no longer happens",
    "fewer-pages": "an incident sends fewer pages than it did",
    "rollback-changed": "a rollback's verdict, approval or time changed",
    "any": "any difference or divergence at all",
}

DIVERGENCE_LABELS = {
    "not_recorded": "not recorded",
    "refused_update": "refused updates",
    "failed": "failed",
}


# --- Reading decisions -----------------------------------------------------------------------


def audience(decision: Decision) -> str:
    """Who a message went to: the key's last part ('page:ic_page:incident-commander')."""
    return decision.key.rsplit(":", 1)[-1] if ":" in decision.key else ""


def is_escalation(decision: Decision) -> bool:
    return decision.kind == "escalation" or decision.key.startswith("escalation") or ":escalation:" in decision.key


def is_page(decision: Decision) -> bool:
    return decision.kind == "page"


def is_rollback(decision: Decision) -> bool:
    return "rollback" in decision.key.lower() or "rollback" in decision.detail.lower()


def waits_for_approval(decision: Decision) -> bool:
    """A decision that asks for (or chases) an approval: the IC re-prompted, the step escalated."""
    text = f"{decision.key} {decision.detail}".lower()
    return any(word in text for word in ("approv", "step_reprompt", "step_escalated"))


def _now_waits(incident: IncidentBacktest) -> bool:
    """A rollback that ran and now does not, while the backtest asks for an approval instead
    (a recorded incident holds no approval the old runbook never asked for)."""
    lost = any(
        d.change == "removed" and d.decision.kind == "step" and is_rollback(d.decision) for d in incident.differences
    )
    asked = any(d.change == "added" and waits_for_approval(d.decision) for d in incident.differences)
    return lost and asked


def is_declare(decision: Decision) -> bool:
    return decision.kind == "phase" and "declare" in decision.key


# --- Times -----------------------------------------------------------------------------------


def duration(seconds: float) -> str:
    """A span as people say it: '45 s', '30 min', '1 h 5 min', '2 min 30 s'."""
    total = round(abs(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{hours} h"] if hours else []
    if minutes:
        parts.append(f"{minutes} min")
    if secs and not hours:
        parts.append(f"{secs} s")
    return " ".join(parts) or "0 s"


def offset(seconds: float | None) -> str:
    """An instant of the incident as time since it started: '+0:30:00'."""
    if seconds is None:
        return "-"
    total = round(seconds)
    sign = "-" if total < 0 else "+"
    hours, rest = divmod(abs(total), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{sign}{hours}:{minutes:02}:{secs:02}"


def shift_text(seconds: float | None) -> str:
    if seconds is None or seconds == 0:
        return ""
    return f"{duration(seconds)} {'later' if seconds > 0 else 'earlier'}"


# --- The aggregate ---------------------------------------------------------------------------


MESSAGE_KINDS = {
    "page": "page",
    "status_page": "status page",
    "stakeholders": "stakeholder notice",
    "email": "email",
    "ticket": "ticket",
    "channel": "channel post",
}


def label(decision: Decision, severity: str | None) -> str:
    """What a summary line is about: 'P2 escalation to engineering-team-lead', 'rollback step',
    'page ic_page to incident-commander', 'resolve phase'."""
    parts = decision.key.split(":")
    if is_escalation(decision):
        who = audience(decision)
        return " ".join(part for part in (severity, "escalation", f"to {who}" if who else "") if part)
    if is_rollback(decision) and decision.kind == "step":
        return "rollback step"
    if decision.kind in MESSAGE_KINDS and len(parts) >= 3:
        who = audience(decision)
        return f"{MESSAGE_KINDS[decision.kind]} {parts[1]}" + (f" to {who}" if who else "")
    if decision.kind == "phase":
        return f"{parts[-1]} phase"
    if decision.kind == "update" and len(parts) >= 2:
        return f"update {parts[1]}" + (f" by {parts[2]}" if len(parts) > 2 and parts[2] else "")
    if decision.kind == "severity":
        return "final severity"
    return decision.key


@dataclass
class _Group:
    incidents: set[str] = field(default_factory=set)
    shifts: list[float] = field(default_factory=list)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def summarize(incidents: list[IncidentBacktest]) -> list[str]:
    """The aggregate over every incident: one line per kind of change, then the divergences."""
    total = len(incidents)
    changed = sum(1 for i in incidents if i.differences)
    diverged = sum(1 for i in incidents if i.divergences)
    if total and not changed and not diverged:
        return [f"no differences: every decision of the {_plural(total, 'incident')} reproduced at the same instant"]
    lines = [f"{_plural(total, 'incident')} re-run: {changed} with differences, {diverged} with divergences"]
    lines += _declared(incidents, total)
    groups: dict[tuple[str, str], _Group] = defaultdict(_Group)
    approvals: set[str] = set()
    for incident in incidents:
        waits = _now_waits(incident)
        for diff in incident.differences:
            if is_declare(diff.decision):
                continue
            if waits and diff.change == "removed" and diff.decision.kind == "step" and is_rollback(diff.decision):
                approvals.add(incident.incident_id)
                continue
            if diff.change == "added" and is_rollback(diff.decision) and waits_for_approval(diff.decision):
                approvals.add(incident.incident_id)
                continue
            group = groups[(label(diff.decision, incident.severity), diff.change)]
            group.incidents.add(incident.incident_id)
            if diff.change == "moved" and diff.shift is not None:
                group.shifts.append(diff.shift)
    for (what, change), group in sorted(groups.items(), key=_line_order):
        lines.append(f"{what}: {_change_text(change, group, total)}")
    if approvals:
        lines.append(f"rollback step: {len(approvals)} {_verb(len(approvals))} for an approval")
    lines += _divergence_lines(incidents)
    return lines


def _verb(count: int) -> str:
    return "incident now waits" if count == 1 else "incidents now wait"


def _line_order(item: tuple[tuple[str, str], _Group]) -> tuple[int, str, str]:
    (what, change), _ = item
    rank = 0 if "escalation" in what else 1 if what.startswith("page") else 2 if "rollback" in what else 3
    return rank, what, change


def _change_text(change: str, group: _Group, total: int) -> str:
    count = f"{len(group.incidents)} of {total} incidents"
    if change == "added":
        return f"now in {count}"
    if change == "removed":
        return f"no longer in {count}"
    if not group.shifts:
        return f"{count}, moved"
    median = statistics.median(group.shifts)
    if median == 0:
        return f"{count}, moved (median unchanged)"
    return f"{count}, {shift_text(median)} (median)"


def _declared(incidents: list[IncidentBacktest], total: int) -> list[str]:
    lost = {i.incident_id for i in incidents for d in i.differences if d.change == "removed" and is_declare(d.decision)}
    gained = {i.incident_id for i in incidents for d in i.differences if d.change == "added" and is_declare(d.decision)}
    lines = []
    if lost:
        lines.append(f"declared: {len(lost)} of {total} incidents would not have been declared")
    if gained:
        lines.append(f"declared: {len(gained)} of {total} incidents would have been declared")
    return lines


def _divergence_lines(incidents: list[IncidentBacktest]) -> list[str]:
    lines = []
    for kind, name in DIVERGENCE_LABELS.items():
        found = [(i.incident_id, d) for i in incidents for d in i.divergences if d.kind == kind]
        if not found:
            continue
        where = sorted({incident for incident, _ in found})
        example = found[0][1].detail
        lines.append(f"{name}: {len(found)} in {_plural(len(where), 'incident')} ({', '.join(where)}), e.g. {example}")
    return lines


# --- --fail-on -------------------------------------------------------------------------------


def _later_escalation(incident: IncidentBacktest) -> bool:
    return any(
        is_escalation(d.decision) and (d.change == "removed" or (d.change == "moved" and (d.shift or 0) > 0))
        for d in incident.differences
    )


def _fewer_pages(incident: IncidentBacktest) -> bool:
    balance = sum({"added": 1, "removed": -1}.get(d.change, 0) for d in incident.differences if is_page(d.decision))
    return balance < 0


def _rollback_changed(incident: IncidentBacktest) -> bool:
    return any(is_rollback(d.decision) for d in incident.differences)


def _any(incident: IncidentBacktest) -> bool:
    return bool(incident.differences or incident.divergences)


_CONDITIONS = {
    "later-escalation": _later_escalation,
    "fewer-pages": _fewer_pages,
    "rollback-changed": _rollback_changed,
    "any": _any,
}


def failed_conditions(report: BacktestReport, fail_on: Iterable[str]) -> list[str]:
    """The --fail-on conditions that hold, each with the incidents that trip it; [] when none does.

    Raises ValueError for a condition not in FAIL_ON."""
    chosen = list(dict.fromkeys(fail_on))
    if unknown := [c for c in chosen if c not in FAIL_ON]:
        raise ValueError(f"unknown --fail-on {', '.join(unknown)}: use {', '.join(sorted(FAIL_ON))}")
    held = []
    for condition in chosen:
        tripped = [i.incident_id for i in report.incidents if _CONDITIONS[condition](i)]
        if tripped:
            held.append(f"{condition}: {', '.join(tripped)}")
    return held


# --- Formats ---------------------------------------------------------------------------------


def to_json(report: BacktestReport) -> str:
    """The report as JSON (BacktestReport.model_validate_json reads it back), each difference's shift included."""
    data = report.model_dump(mode="json")
    for incident, dumped in zip(report.incidents, data["incidents"], strict=True):
        for diff, out in zip(incident.differences, dumped["differences"], strict=True):
            out["shift"] = diff.shift
    return json.dumps(data, indent=2)


def _heading(incident: IncidentBacktest) -> str:
    severity = f" ({incident.severity})" if incident.severity else ""
    counts = f"{_plural(len(incident.differences), 'difference')}, {_plural(len(incident.divergences), 'divergence')}"
    return f"{incident.incident_id}{severity}: {counts}"


def _difference_row(diff: Difference) -> list[str]:
    return [
        diff.change,
        diff.decision.kind,
        diff.decision.key,
        offset(diff.original_offset),
        offset(diff.backtest_offset),
        shift_text(diff.shift),
        diff.decision.detail,
    ]


def _divergence_row(div: Divergence) -> list[str]:
    return [DIVERGENCE_LABELS.get(div.kind, div.kind), offset(div.offset), div.detail]


TABLE_ROWS = 40
"""Differences shown per incident in the table; json and md list them all."""


def render_table(report: BacktestReport, console: Console, rows: int = TABLE_ROWS) -> None:
    """Rich tables for people: one per incident that changed (its first `rows` differences), then
    the summary."""
    console.print(f"[bold]backtest under {escape(report.runbook)}[/]: {_plural(len(report.incidents), 'incident')}")
    for incident in report.incidents:
        if not incident.differences and not incident.divergences:
            console.print(f"{escape(incident.incident_id)}: [green]no differences[/]")
            continue
        console.print(f"\n[bold]{escape(_heading(incident))}[/]")
        if incident.differences:
            table = _table("change", "kind", "decision", "original", "backtest", "shift", "detail")
            for diff in incident.differences[:rows]:
                table.add_row(*(escape(cell) for cell in _difference_row(diff)))
            console.print(table)
            if len(incident.differences) > rows:
                more = len(incident.differences) - rows
                console.print(f"[dim]... and {more} more (--format json or md lists them all)[/]")
        if incident.divergences:
            table = _table("divergence", "at", "detail")
            for div in incident.divergences:
                table.add_row(*(escape(cell) for cell in _divergence_row(div)))
            console.print(table)
    console.print("\n[bold]summary[/]")
    for line in report.summary:
        console.print(f"  {escape(line)}")


def _table(*columns: str) -> Table:
    return Table(*columns, box=None, header_style="dim", padding=(0, 1), pad_edge=False)


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ") or " "


def to_markdown(report: BacktestReport) -> str:
    """The report as Markdown, for a pull request comment or the PIR."""
    lines = [f"# Backtest under `{report.runbook}`", "", "## Summary", ""]
    lines += [f"- {line}" for line in report.summary] or ["- (no incidents)"]
    for incident in report.incidents:
        lines += ["", f"## {_heading(incident)}", ""]
        if not incident.differences and not incident.divergences:
            lines.append("No differences: every decision reproduced at the same instant.")
            continue
        if incident.differences:
            lines += [
                "| change | kind | decision | original | backtest | shift | detail |",
                "|---|---|---|---|---|---|---|",
            ]
            lines += ["| " + " | ".join(_md_cell(c) for c in _difference_row(d)) + " |" for d in incident.differences]
        if incident.divergences:
            lines += [""] if incident.differences else []
            lines += ["| divergence | at | detail |", "|---|---|---|"]
            lines += ["| " + " | ".join(_md_cell(c) for c in _divergence_row(d)) + " |" for d in incident.divergences]
    return "\n".join(lines) + "\n"
