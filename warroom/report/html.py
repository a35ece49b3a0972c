"""The report as ONE self-contained HTML file: tables, and charts drawn by matplotlib as inline SVG.

Nothing is fetched when it opens: no scripts, no fonts (matplotlib draws text as paths), no
stylesheets, and the SVG prolog (its DTD URL) and metadata are left out. The charts: MTTx over
time (p50 per week), incidents per service (closed and open), target attainment (share met per
stage and severity). Each chart's drawn marks carry an id beginning `mark-`, so a browser test
can find them.
"""

from __future__ import annotations

import html
import io
import re

from matplotlib import rc_context
from matplotlib.container import BarContainer
from matplotlib.figure import Figure

from warroom.report.figures import STAGES, Figures
from warroom.report.render import (
    STAGE_COLUMNS,
    WEEK_COLUMNS,
    count_line,
    groups,
    heading,
    stage_row,
    week_rows,
)

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 70rem; color: #1d2330; }
h1 { font-size: 1.4rem; } h2 { font-size: 1.1rem; margin-top: 2rem; }
.note { background: #fff7e0; border-left: 4px solid #e0a800; padding: .5rem .8rem; }
table { border-collapse: collapse; margin: .5rem 0 1rem; } th, td { padding: .2rem .6rem; text-align: left; }
th { color: #5a6275; font-weight: 600; border-bottom: 1px solid #d5d9e2; }
figure.chart { margin: 1rem 0; } figure.chart svg { max-width: 100%; height: auto; }
figcaption { color: #5a6275; }
"""
COLORS = {
    "acknowledge": "#8e6bbf",
    "detect": "#7a8597",
    "triage": "#e0a800",
    "mitigate": "#d9534f",
    "resolve": "#2b7bb9",
}
_PROLOG = re.compile(r"^.*?(?=<svg)", re.S)
_METADATA = re.compile(r"<metadata>.*?</metadata>\s*", re.S)
_XMLNS = re.compile(r'\s+xmlns(:\w+)?="[^"]*"')


def _svg(figure: Figure, name: str) -> str:
    """The figure as an `<svg>` element for inline HTML: no prolog, DTD, metadata or namespace URLs
    (the HTML parser places inline SVG and `xlink:href` in their namespaces itself)."""
    buffer = io.StringIO()
    with rc_context({"svg.fonttype": "path", "svg.hashsalt": f"warroom-{name}"}):
        figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None, "Creator": None})
    text = _PROLOG.sub("", buffer.getvalue(), count=1)
    text = _METADATA.sub("", text)
    return _XMLNS.sub("", text)


def _empty(axes: object, text: str) -> None:
    axes.text(0.5, 0.5, text, ha="center", va="center", color="#5a6275", transform=axes.transAxes, gid="mark-empty")  # type: ignore[attr-defined]


def _marks(bars: BarContainer, prefix: str) -> None:
    """A unique id on each bar: `<prefix>-<n>`."""
    for number, patch in enumerate(bars.patches):
        patch.set_gid(f"{prefix}-{number}")


def mttx_chart(figures: Figures) -> Figure:
    """p50 minutes per stage, week by week (weeks with no incidents leave a gap)."""
    figure = Figure(figsize=(9, 3.6))
    axes = figure.add_subplot()
    starts = list(range(len(figures.weeks)))
    drawn = False
    for index, stage in enumerate(STAGES):
        medians = [week.stages[index].p50_seconds for week in figures.weeks]
        values = [m / 60 if m is not None else float("nan") for m in medians]
        if all(v != v for v in values):  # all NaN: no incident reached this stage
            continue
        axes.plot(starts, values, marker="o", label=stage, color=COLORS[stage], gid=f"mark-mttx-{stage}")
        drawn = True
    axes.set_ylabel("p50, minutes")
    axes.set_title("MTTx over time (p50 by week opened)")
    axes.grid(alpha=0.3)
    if drawn:
        axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small", frameon=False)
    else:
        _empty(axes, "no incidents in this period")
    every = max(1, len(starts) // 12)  # at most a dozen labels
    axes.set_xticks(starts[::every], [f"{w.start:%b %d}" for w in figures.weeks][::every])
    axes.set_xlabel("week of (Monday, UTC)")
    return figure


def services_chart(figures: Figures) -> Figure:
    """Incidents per service, closed and still open, busiest on top."""
    services = list(reversed(figures.by_service[:20]))
    figure = Figure(figsize=(9, max(2.4, 0.45 * len(services) + 1.2)))
    axes = figure.add_subplot()
    names = [group.name for group in services]
    closed = [group.counts.closed for group in services]
    opened = [group.counts.open for group in services]
    if services:
        _marks(axes.barh(names, closed, color="#2b7bb9", label="closed"), "mark-services-closed")
        _marks(axes.barh(names, opened, left=closed, color="#e0a800", label="open"), "mark-services-open")
        axes.legend(loc="lower right", fontsize="small", frameon=False)
    else:
        _empty(axes, "no incidents in this period")
    axes.set_xlabel("incidents")
    axes.set_title("Incidents per service")
    return figure


def attainment_chart(figures: Figures) -> Figure:
    """Share of decided incidents that met each stage's target, overall and per severity (no bar: no
    target, or nothing decided yet)."""
    figure = Figure(figsize=(9, 3.6))
    axes = figure.add_subplot()
    rows = [figures.overall, *figures.by_severity]
    width = 0.8 / max(len(rows), 1)
    drawn = False
    for offset, group in enumerate(rows):
        shares = [s.share_met * 100 if s.share_met is not None else float("nan") for s in group.stages]
        if not any(s.share_met is not None for s in group.stages):
            continue
        positions = [i + offset * width for i in range(len(STAGES))]
        _marks(axes.bar(positions, shares, width=width, label=group.name), f"mark-attainment-{offset}")
        drawn = True
    axes.set_xticks([i + 0.4 - width / 2 for i in range(len(STAGES))], list(STAGES))
    axes.set_ylim(0, 105)
    axes.set_ylabel("% met target")
    axes.set_title("Target attainment (decided incidents)")
    if drawn:
        axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small", frameon=False)
    else:
        _empty(axes, "no incident has reached a target yet")
    return figure


CHARTS = (
    ("mttx", "MTTx over time", mttx_chart),
    ("services", "Incidents per service", services_chart),
    ("attainment", "Target attainment", attainment_chart),
)


def _table(columns: tuple[str, ...], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def to_html(figures: Figures) -> str:
    """One HTML document, nothing external: open it from a mail, a wiki attachment or a file."""
    title = html.escape(heading(figures))
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{title}</title><style>{STYLE}</style></head><body>",
        f"<h1>{title}</h1>",
        f'<p class="note">{html.escape(figures.note)}</p>',
    ]
    for name, caption, draw in CHARTS:
        parts.append(
            f'<figure class="chart" id="chart-{name}">{_svg(draw(figures), name)}'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )
    for chosen in groups(figures):
        title_text = chosen.name if chosen.kind == "all" else f"{chosen.kind} {chosen.name}"
        parts.append(f"<h2>{html.escape(title_text)}</h2><p>{html.escape(count_line(chosen.counts))}</p>")
        if chosen.counts.incidents:
            parts.append(_table(STAGE_COLUMNS, [stage_row(stage) for stage in chosen.stages]))
    parts.append("<h2>Week over week</h2>" + _table(WEEK_COLUMNS, list(week_rows(figures))))
    if figures.unread:
        items = "".join(f"<li>{html.escape(line)}</li>" for line in figures.unread)
        parts.append(f"<h2>Not read</h2><ul>{items}</ul>")
    parts.append("</body></html>")
    return "\n".join(parts)
