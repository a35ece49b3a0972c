"""The report's figures from hand-made records: percentiles, censoring, targets, counts, trends."""

from __future__ import annotations

import html
import json
from datetime import UTC, datetime, timedelta

from rich.console import Console

from warroom.enums import Severity
from warroom.report.collect import IncidentRecord
from warroom.report.figures import CENSORING_NOTE, Figures, StageFigures, duration, figures, percentile, week_of
from warroom.report.html import to_html
from warroom.report.render import human, render_table, to_json, to_markdown
from warroom.runbook import load_runbook

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)  # a Sunday
RUNBOOK = load_runbook()
MIN = timedelta(minutes=1)


def incident(
    name: str,
    opened: datetime,
    severity: Severity | None = Severity.P1,
    service: str = "order-api",
    ack: float | None = 2,
    declared: float | None = 5,
    mitigated: float | None = 20,
    resolved: float | None = 60,
    open_: bool = False,
    **fields: object,
) -> IncidentRecord:
    """An incident opened at `opened`, each stage ending so many minutes later (None: not reached)."""

    def at(minutes: float | None) -> datetime | None:
        return None if minutes is None else opened + minutes * MIN

    return IncidentRecord.model_validate(
        dict(
            incident_id=name,
            service=service,
            severity=severity,
            open=open_,
            detected_at=opened,
            impact_started_at=opened - 3 * MIN,
            acknowledged_at=at(ack),
            declared_at=at(declared),
            mitigated_at=at(mitigated),
            resolved_at=at(resolved),
            **fields,
        )
    )


def stage(result: Figures, name: str, group: str = "all incidents") -> StageFigures:
    chosen = next(g for g in [result.overall, *result.by_severity, *result.by_service] if g.name == group)
    return next(s for s in chosen.stages if s.stage == name)


def test_percentile_interpolates_between_ranks_as_numpy_does() -> None:
    assert percentile([], 0.5) is None
    assert percentile([7.0], 0.9) == 7.0
    assert percentile([1, 2, 3, 4], 0.5) == 2.5
    assert percentile(range(1, 11), 0.9) == 9.1
    assert percentile([10, 0, 5], 0.5) == 5


def test_p50_p90_and_share_met_against_the_p1_mitigation_target() -> None:
    opened = NOW - timedelta(days=2)
    records = [incident(f"i{m}", opened, mitigated=m) for m in (10, 20, 25, 40, 90)]
    result = figures(records, RUNBOOK, NOW, NOW - timedelta(days=30))
    mitigate = stage(result, "mitigate")
    assert mitigate.count == 5 and mitigate.censored == 0
    assert mitigate.p50_seconds == 25 * 60
    assert mitigate.p90_seconds == 70 * 60  # 40 + 0.6 * (90 - 40)
    assert mitigate.target_seconds == 30 * 60
    assert (mitigate.met, mitigate.missed, mitigate.undecided) == (3, 2, 0)
    assert mitigate.share_met == 0.6
    triage = stage(result, "triage")
    assert triage.target_seconds == 10 * 60 and triage.share_met == 1.0
    detect = stage(result, "detect")
    assert detect.p50_seconds == 180 and detect.share_met == 1.0


def test_an_open_incident_counts_as_a_censored_lower_bound() -> None:
    under = incident("under", NOW - 10 * MIN, mitigated=None, resolved=None, open_=True)
    over = incident("over", NOW - 50 * MIN, mitigated=None, resolved=None, open_=True)
    done = incident("done", NOW - timedelta(days=1), mitigated=20)
    assert duration(under, "mitigate", NOW) is not None
    measured = duration(under, "mitigate", NOW)
    assert measured is not None and measured.censored and measured.seconds == 600
    result = figures([under, over, done], RUNBOOK, NOW, NOW - timedelta(days=7))
    mitigate = stage(result, "mitigate")
    assert mitigate.count == 3 and mitigate.censored == 2
    # under its 30-minute target and still running: neither met nor missed; 50 minutes is already a miss
    assert (mitigate.met, mitigate.missed, mitigate.undecided) == (1, 1, 1)
    assert mitigate.share_met == 0.5
    assert mitigate.p50_seconds == 20 * 60
    assert result.overall.counts.open == 2 and result.overall.counts.closed == 1
    # a closed incident that never reached a stage is left out, not censored
    dismissed = incident("gone", NOW - timedelta(days=1), ack=None, declared=None, mitigated=None, resolved=None)
    assert duration(dismissed, "mitigate", NOW) is None


def test_every_format_says_open_incidents_are_censored() -> None:
    records = [incident("open", NOW - 10 * MIN, mitigated=None, resolved=None, open_=True)]
    result = figures(records, RUNBOOK, NOW, NOW - timedelta(days=7))
    assert json.loads(to_json(result))["note"] == CENSORING_NOTE
    assert CENSORING_NOTE in to_markdown(result)
    assert "≥ 10m 00s" in to_markdown(result)  # the censored p50 is shown as a lower bound
    console = Console(record=True, width=200)
    render_table(result, console)
    assert "Open incidents count as censored durations" in console.export_text()
    assert html.escape(CENSORING_NOTE) in to_html(result)


def test_targets_differ_by_severity_so_a_mixed_group_has_none_but_each_incident_is_judged() -> None:
    opened = NOW - timedelta(days=1)
    records = [
        incident("p1", opened, Severity.P1, mitigated=40),
        incident("p2", opened, Severity.P2, mitigated=40),
    ]
    result = figures(records, RUNBOOK, NOW, NOW - timedelta(days=7))
    mixed = stage(result, "mitigate")
    assert mixed.target_seconds is None and mixed.target_varies
    assert (mixed.met, mixed.missed) == (0, 1)  # the seed runbook sets a mitigation target for P1 only
    assert stage(result, "mitigate", "P1").target_seconds == 1800
    p2 = stage(result, "mitigate", "P2")
    assert p2.target_seconds is None and not p2.target_varies and (p2.met, p2.missed) == (0, 0)
    assert "| mitigate (opened → mitigated) | 1 | 0 | 40m 00s | 40m 00s | none | - |" in to_markdown(result)
    assert [g.name for g in result.by_severity] == ["P1", "P2"]


def test_counts_per_service_busiest_first() -> None:
    opened = NOW - timedelta(days=1)
    records = [
        incident("a", opened, service="search", escalations=2, rolled_back=True, approvals_denied=1),
        incident("b", opened, service="order-api", pir_due=NOW - MIN, action_items_open=2),
        incident("c", opened, service="order-api", pir_due=NOW - MIN, pir_done_at=NOW - 2 * MIN),
        incident("d", opened, None, service="order-api", ack=None, declared=None, mitigated=None, resolved=None),
    ]
    result = figures(records, RUNBOOK, NOW, NOW - timedelta(days=7))
    assert [g.name for g in result.by_service] == ["order-api", "search"]
    counts = result.overall.counts
    assert (counts.incidents, counts.declared, counts.escalated, counts.rolled_back) == (4, 3, 1, 1)
    assert (counts.approvals_denied, counts.pirs_overdue, counts.pirs_done, counts.action_items_open) == (1, 1, 1, 2)
    assert [g.name for g in result.by_severity] == ["P1", "unassessed"]


def test_week_over_week_trend_includes_empty_weeks() -> None:
    this_week = week_of(NOW)
    assert this_week == datetime(2026, 11, 30, tzinfo=UTC) and this_week.weekday() == 0
    records = [
        incident("w1a", this_week - timedelta(days=13), mitigated=40),
        incident("w1b", this_week - timedelta(days=12), mitigated=50),
        incident("w3", this_week + timedelta(hours=5), mitigated=10),
    ]
    result = figures(records, RUNBOOK, NOW, this_week - timedelta(days=14))
    assert [w.start for w in result.weeks] == [this_week - timedelta(days=14), this_week - timedelta(days=7), this_week]
    assert [w.counts.incidents for w in result.weeks] == [2, 0, 1]
    assert [w.incidents_change for w in result.weeks] == [None, -2, 1]
    assert result.weeks[0].stages[3].p50_seconds == 45 * 60
    assert result.weeks[2].mitigate_p50_change_seconds is None  # nothing to compare with: the week before is empty


def test_an_empty_fleet_reports_zeros_in_every_format() -> None:
    result = figures([], RUNBOOK, NOW, NOW - timedelta(days=30))
    assert result.overall.counts.incidents == 0 and result.by_service == [] and result.by_severity == []
    assert all(s.count == 0 and s.p50_seconds is None and s.share_met is None for s in result.overall.stages)
    assert len(result.weeks) == 5
    assert "incidents 0" in to_markdown(result)
    page = to_html(result)
    assert page.count("<svg") == 3 and "<text" not in page  # text is drawn as paths: no font to fetch
    assert 'id="mark-empty"' in page


def test_html_is_self_contained() -> None:
    opened = NOW - timedelta(days=3)
    records = [incident("a", opened), incident("b", opened, Severity.P2, service="search", mitigated=50)]
    page = to_html(figures(records, RUNBOOK, NOW, NOW - timedelta(days=30)))
    assert page.startswith("<!doctype html>")
    assert "http://" not in page and "https://" not in page and "<script" not in page
    assert page.count("<svg") == 3
    for mark in ("mark-mttx-mitigate", "mark-services-closed-0", "mark-services-closed-1", "mark-attainment-0-3"):
        assert f'id="{mark}"' in page


def test_human_durations() -> None:
    assert [human(s) for s in (None, 45, 252, 3900, 2 * 86400 + 3 * 3600)] == ["-", "45s", "4m 12s", "1h 05m", "2d 3h"]


def test_a_record_reads_what_the_state_says_happened() -> None:
    from warroom.models import ActionItem, IncidentState, PirState, TimelineEntry
    from warroom.report.collect import record_of
    from warroom.step_models import Step

    opened = NOW - timedelta(hours=3)
    state = IncidentState(
        incident_id="order-api-1",
        service="order-api",
        summary="503s",
        severity=Severity.P1,
        opened_at=opened,
        acknowledged_at=opened + MIN,
        escalated_to=["engineering-team-lead", "executive-team"],
        steps=[
            Step(step_id="s1", action="custom", target="cdn", proposed_by="bob", proposed_at=opened, status="denied"),
            Step(step_id="s2", action="custom", target="db", proposed_by="bob", proposed_at=opened, status="done"),
        ],
        timeline=[TimelineEntry(at=opened + 5 * MIN, kind="rolled_back", message="rolled back to v2.14.2")],
        pir=PirState(
            due=NOW - MIN,
            action_items=[
                ActionItem(title="alert on pool", owner="bob", due=NOW),
                ActionItem(title="load test", owner="carol", due=NOW, done_at=NOW - MIN),
            ],
        ),
    )
    record = record_of(state, open_=True)
    assert (record.escalations, record.rolled_back, record.approvals_denied) == (2, True, 1)
    assert (record.pir_due, record.pir_done_at, record.action_items_open) == (NOW - MIN, None, 1)
    assert record.detected_at == opened and record.acknowledged_at == opened + MIN and record.open
    counts = figures([record], RUNBOOK, NOW, NOW - timedelta(days=1)).overall.counts
    assert (counts.escalated, counts.rolled_back, counts.pirs_overdue, counts.action_items_open) == (1, 1, 1, 1)
