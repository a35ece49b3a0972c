"""The report in words: a Rich table for people, JSON for scripts, Markdown for a wiki or a pull request.

Pure: each reads `Figures`, never Temporal. Every format carries the censoring note: open incidents
are measured so far, so their durations (and percentiles over them) are lower bounds.
"""

from __future__ import annotations

from collections.abc import Iterator

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from warroom.report.figures import LABELS, Counts, Figures, Group, StageFigures

COUNT_LABELS: dict[str, str] = {
    "incidents": "incidents",
    "open": "open",
    "closed": "closed",
    "declared": "declared",
    "dismissed": "dismissed",
    "escalated": "escalated",
    "rolled_back": "rolled back",
    "approvals_denied": "approvals denied",
    "pirs_done": "PIRs done",
    "pirs_overdue": "PIRs overdue",
    "action_items_open": "action items open",
}
STAGE_COLUMNS = ("stage", "n", "open (censored)", "p50", "p90", "target", "met target")
WEEK_COLUMNS = ("week of", "incidents", "Δ", "MTTA p50", "mitigate p50", "Δ mitigate p50", "mitigate met")


def human(seconds: float | None) -> str:
    """A duration as people read it: 45s, 4m 12s, 1h 05m, 2d 3h; '-' for none."""
    if seconds is None:
        return "-"
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h"


def signed(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return ("+" if seconds >= 0 else "-") + human(abs(seconds))


def share(stage: StageFigures) -> str:
    if stage.share_met is None:
        return "-" if not stage.undecided else f"- ({stage.undecided} still running)"
    text = f"{stage.share_met:.0%} ({stage.met}/{stage.met + stage.missed})"
    return text + (f" +{stage.undecided} running" if stage.undecided else "")


def _no_target(stage: StageFigures) -> str:
    return "by severity" if stage.target_varies else "none"


def stage_row(stage: StageFigures) -> list[str]:
    bound = "≥ " if stage.censored else ""
    return [
        LABELS[stage.stage],
        str(stage.count),
        str(stage.censored),
        bound + human(stage.p50_seconds) if stage.p50_seconds is not None else "-",
        bound + human(stage.p90_seconds) if stage.p90_seconds is not None else "-",
        human(stage.target_seconds) if stage.target_seconds is not None else _no_target(stage),
        share(stage),
    ]


def count_line(counts: Counts) -> str:
    return ", ".join(f"{COUNT_LABELS[name]} {value}" for name, value in counts.model_dump().items())


def week_rows(figures: Figures) -> Iterator[list[str]]:
    for week in figures.weeks:
        change = week.incidents_change
        yield [
            f"{week.start:%Y-%m-%d}",
            str(week.counts.incidents),
            "-" if change is None else f"{change:+d}",
            human(week.stages[0].p50_seconds),
            human(week.stages[3].p50_seconds),
            signed(week.mitigate_p50_change_seconds),
            share(week.stages[3]),
        ]


def heading(figures: Figures) -> str:
    chosen = "".join(f", {name} {value}" for name, value in figures.filters.items())
    return (
        f"warroom report: incidents opened since {figures.since:%Y-%m-%d %H:%M} UTC{chosen} "
        f"(as of {figures.generated_at:%Y-%m-%d %H:%M} UTC)"
    )


def groups(figures: Figures) -> list[Group]:
    return [figures.overall, *figures.by_severity, *figures.by_service]


def _title(group: Group) -> str:
    return group.name if group.kind == "all" else f"{group.kind} {group.name}"


# --- table -----------------------------------------------------------------------------------


def _table(*columns: str) -> Table:
    return Table(*columns, box=None, header_style="dim", padding=(0, 1), pad_edge=False)


def render_table(figures: Figures, console: Console) -> None:
    console.print(f"[bold]{escape(heading(figures))}[/]")
    console.print(f"[dim]{escape(figures.note)}[/]")
    for chosen in groups(figures):
        console.print(f"\n[bold]{escape(_title(chosen))}[/]: {escape(count_line(chosen.counts))}")
        if not chosen.counts.incidents:
            continue
        table = _table(*STAGE_COLUMNS)
        for stage in chosen.stages:
            table.add_row(*(escape(cell) for cell in stage_row(stage)))
        console.print(table)
    console.print("\n[bold]week over week[/] (by the week each incident opened)")
    table = _table(*WEEK_COLUMNS)
    for row in week_rows(figures):
        table.add_row(*(escape(cell) for cell in row))
    console.print(table)
    for line in figures.unread:
        console.print(f"[yellow]not read: {escape(line)}[/]")


# --- json ------------------------------------------------------------------------------------


def to_json(figures: Figures) -> str:
    return figures.model_dump_json(indent=2)


# --- md --------------------------------------------------------------------------------------


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _md_table(columns: tuple[str, ...], rows: Iterator[list[str]] | list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_md_cell(cell) for cell in row) + " |" for row in rows]
    return lines


def to_markdown(figures: Figures) -> str:
    lines = [f"# {heading(figures)}", "", f"> {figures.note}", ""]
    for chosen in groups(figures):
        lines += [f"## {_title(chosen)}", "", count_line(chosen.counts), ""]
        if chosen.counts.incidents:
            lines += [*_md_table(STAGE_COLUMNS, [stage_row(stage) for stage in chosen.stages]), ""]
    lines += ["## Week over week", "", *_md_table(WEEK_COLUMNS, week_rows(figures)), ""]
    if figures.unread:
        lines += ["## Not read", "", *(f"- {line}" for line in figures.unread), ""]
    return "\n".join(lines)
