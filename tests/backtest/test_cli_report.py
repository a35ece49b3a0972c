"""The backtest report from hand-made results: the aggregate's lines, the --fail-on conditions on both
sides of each, and the three formats (pure and fast: no Temporal)."""

from __future__ import annotations

import json

import pytest
from rich.console import Console

from warroom.backtest.models import BacktestReport, Decision, Difference, Divergence, IncidentBacktest
from warroom.backtest.report import (
    FAIL_ON,
    duration,
    failed_conditions,
    offset,
    render_table,
    summarize,
    to_json,
    to_markdown,
)

TEAM_LEAD = Decision(
    offset=3600, workflow="command", kind="escalation", key="escalation:escalation:engineering-team-lead"
)
IC_PAGE = Decision(offset=60, workflow="declare", kind="page", key="page:ic_page:incident-commander")
ROLLBACK_RAN = Decision(
    offset=300,
    workflow="incident",
    kind="step",
    key="kube_step_apply:action=rollback:deployment=order-api:namespace=shop",
)
ROLLBACK_WAITS = Decision(
    offset=240, workflow="command", kind="step", key="step:rollback:awaiting_approval", detail="waits for the IC"
)
DECLARED = Decision(offset=30, workflow="incident", kind="phase", key="phase:declare")


def moved(incident: str, decision: Decision, by: float) -> Difference:
    return Difference(
        incident_id=incident,
        change="moved",
        decision=decision,
        original_offset=decision.offset,
        backtest_offset=decision.offset + by,
    )


def changed(incident: str, change: str, decision: Decision) -> Difference:
    at = {"original_offset": decision.offset} if change == "removed" else {"backtest_offset": decision.offset}
    return Difference.model_validate({"incident_id": incident, "change": change, "decision": decision, **at})


def incident(
    name: str, *diffs: Difference, divergences: tuple[Divergence, ...] = (), severity: str = "P2"
) -> IncidentBacktest:
    return IncidentBacktest(incident_id=name, severity=severity, differences=list(diffs), divergences=list(divergences))


def unchanged(count: int) -> list[IncidentBacktest]:
    return [incident(f"same-{n}") for n in range(count)]


def report_of(*incidents: IncidentBacktest) -> BacktestReport:
    return BacktestReport(runbook="new.yaml", incidents=list(incidents), summary=summarize(list(incidents)))


def test_an_identical_backtest_says_every_decision_reproduced() -> None:
    assert summarize(unchanged(3)) == [
        "no differences: every decision of the 3 incidents reproduced at the same instant"
    ]


def test_earlier_escalations_are_counted_with_their_median_shift() -> None:
    incidents = [
        incident("a", moved("a", TEAM_LEAD, -1800)),
        incident("b", moved("b", TEAM_LEAD, -1800)),
        incident("c", moved("c", TEAM_LEAD, -1200)),
        *unchanged(37),
    ]
    lines = summarize(incidents)
    assert lines[0] == "40 incidents re-run: 3 with differences, 0 with divergences"
    assert "P2 escalation to engineering-team-lead: 3 of 40 incidents, 30 min earlier (median)" in lines


def test_escalations_by_severity_are_separate_lines() -> None:
    lines = summarize(
        [incident("a", moved("a", TEAM_LEAD, 600), severity="P1"), incident("b", moved("b", TEAM_LEAD, -60))]
    )
    assert "P1 escalation to engineering-team-lead: 1 of 2 incidents, 10 min later (median)" in lines
    assert "P2 escalation to engineering-team-lead: 1 of 2 incidents, 1 min earlier (median)" in lines


ROLLBACK_APPLIED = Decision(
    offset=220,
    workflow="incident",
    kind="step",
    key="kube_step_apply:action=rollback:deployment=order-api:namespace=shop",
)
REPROMPT = Decision(offset=1420, workflow="incident", kind="page", key="page:step_reprompt:incident-commander")


def test_a_rollback_that_no_longer_runs_while_the_ic_is_reprompted_now_waits_for_an_approval() -> None:
    waits = incident("a", changed("a", "removed", ROLLBACK_APPLIED), changed("a", "added", REPROMPT))
    gone = incident("b", changed("b", "removed", ROLLBACK_APPLIED))
    lines = summarize([waits, gone, *unchanged(1)])
    assert "rollback step: 1 incident now waits for an approval" in lines
    assert "rollback step: no longer in 1 of 3 incidents" in lines
    assert "page step_reprompt to incident-commander: now in 1 of 3 incidents" in lines
    assert failed_conditions(report_of(waits, gone), ["rollback-changed"]) == ["rollback-changed: a, b"]


def test_rollbacks_that_now_wait_for_an_approval() -> None:
    lines = summarize(
        [
            incident("a", changed("a", "added", ROLLBACK_WAITS), moved("a", ROLLBACK_RAN, 600)),
            incident("b", changed("b", "added", ROLLBACK_WAITS)),
            *unchanged(2),
        ]
    )
    assert "rollback step: 2 incidents now wait for an approval" in lines
    assert "rollback step: 1 of 4 incidents, 10 min later (median)" in lines


def test_an_incident_that_would_not_have_been_declared() -> None:
    lines = summarize(
        [incident("a", changed("a", "removed", DECLARED), changed("a", "removed", IC_PAGE)), *unchanged(39)]
    )
    assert "declared: 1 of 40 incidents would not have been declared" in lines
    assert "page ic_page to incident-commander: no longer in 1 of 40 incidents" in lines


def test_divergences_are_listed_with_their_incidents_and_an_example() -> None:
    missing = Divergence(incident_id="a", offset=900, kind="not_recorded", detail="metrics.error_ratio at +0:15:00")
    refused = Divergence(incident_id="b", offset=1200, kind="refused_update", detail="approve s1 by bob: not the IC")
    lines = summarize(
        [
            incident("a", divergences=(missing, missing)),
            incident("b", divergences=(refused,)),
        ]
    )
    assert "not recorded: 2 in 1 incident (a), e.g. metrics.error_ratio at +0:15:00" in lines
    assert "refused updates: 1 in 1 incident (b), e.g. approve s1 by bob: not the IC" in lines


@pytest.mark.parametrize(
    ("shift", "trips"), [(1.0, True), (0.0, False), (-1.0, False)], ids=["1s-later", "same", "1s-earlier"]
)
def test_later_escalation_trips_on_a_second_later_and_not_earlier(shift: float, trips: bool) -> None:
    report = report_of(incident("a", moved("a", TEAM_LEAD, shift)), *unchanged(1))
    assert failed_conditions(report, ["later-escalation"]) == (["later-escalation: a"] if trips else [])


def test_an_escalation_that_no_longer_happens_is_a_later_one() -> None:
    report = report_of(
        incident("a", changed("a", "removed", TEAM_LEAD)), incident("b", changed("b", "added", TEAM_LEAD))
    )
    assert failed_conditions(report, ["later-escalation"]) == ["later-escalation: a"]


def test_fewer_pages_counts_pages_lost_against_pages_gained() -> None:
    later_page = IC_PAGE.model_copy(update={"key": "page:repage:on-call-engineer"})
    report = report_of(
        incident("lost", changed("lost", "removed", IC_PAGE)),
        incident("swapped", changed("swapped", "removed", IC_PAGE), changed("swapped", "added", later_page)),
        incident("moved", moved("moved", IC_PAGE, 300)),
    )
    assert failed_conditions(report, ["fewer-pages"]) == ["fewer-pages: lost"]


def test_rollback_changed_and_any_name_the_incidents_that_trip_them() -> None:
    missing = Divergence(incident_id="c", offset=1, kind="not_recorded", detail="kubernetes.rollout_status")
    report = report_of(
        incident("a", changed("a", "added", ROLLBACK_WAITS)),
        incident("b", moved("b", IC_PAGE, 60)),
        incident("c", divergences=(missing,)),
        *unchanged(2),
    )
    assert failed_conditions(report, ["rollback-changed", "any", "any"]) == ["rollback-changed: a", "any: a, b, c"]
    assert failed_conditions(report_of(*unchanged(3)), sorted(FAIL_ON)) == []


def test_an_unknown_condition_is_refused_with_the_ones_there_are() -> None:
    with pytest.raises(
        ValueError, match="unknown --fail-on sooner: use any, fewer-pages, later-escalation, rollback-changed"
    ):
        failed_conditions(report_of(), ["sooner"])


def test_json_reads_back_as_the_report_and_carries_each_shift() -> None:
    report = report_of(incident("a", moved("a", TEAM_LEAD, -1800)), *unchanged(1))
    text = to_json(report)
    assert BacktestReport.model_validate_json(text) == report
    assert json.loads(text)["incidents"][0]["differences"][0]["shift"] == -1800


def test_markdown_has_the_summary_and_one_table_per_changed_incident() -> None:
    missing = Divergence(incident_id="a", offset=900, kind="not_recorded", detail="a | pipe")
    report = report_of(incident("a", moved("a", TEAM_LEAD, -1800), divergences=(missing,)), *unchanged(1))
    text = to_markdown(report)
    assert text.startswith("# Backtest under `new.yaml`\n\n## Summary\n\n- 2 incidents re-run: 1 with differences")
    assert "## a (P2): 1 difference, 1 divergence" in text
    assert (
        "| moved | escalation | escalation:escalation:engineering-team-lead | +1:00:00 | +0:30:00 | 30 min earlier |"
        in text
    )
    assert "| not recorded | +0:15:00 | a \\| pipe |" in text
    assert "## same-0 (P2): 0 differences, 0 divergences\n\nNo differences" in text


def test_the_table_shows_each_changed_incident_then_the_summary() -> None:
    console = Console(record=True, width=200, highlight=False)
    render_table(report_of(incident("a", moved("a", TEAM_LEAD, -1800)), *unchanged(1)), console)
    text = console.export_text()
    assert "backtest under new.yaml: 2 incidents" in text
    assert "a (P2): 1 difference, 0 divergences" in text
    assert "+1:00:00" in text and "30 min earlier" in text
    assert "same-0: no differences" in text
    assert text.index("summary") > text.index("30 min earlier")
    assert "P2 escalation to engineering-team-lead: 1 of 2 incidents, 30 min earlier (median)" in text


@pytest.mark.parametrize(
    ("seconds", "said"), [(45, "45 s"), (1800, "30 min"), (150, "2 min 30 s"), (3900, "1 h 5 min"), (0, "0 s")]
)
def test_durations_read_as_people_say_them(seconds: float, said: str) -> None:
    assert duration(seconds) == said


def test_offsets_count_from_the_incidents_start() -> None:
    assert [offset(0), offset(3725.4), offset(-5), offset(None)] == ["+0:00:00", "+1:02:05", "-0:00:05", "-"]


def test_the_table_shows_the_first_differences_and_says_how_many_more() -> None:
    many = [moved("a", TEAM_LEAD.model_copy(update={"offset": float(n)}), 60) for n in range(5)]
    console = Console(record=True, width=200, highlight=False)
    render_table(report_of(incident("a", *many)), console, rows=3)
    text = console.export_text()
    assert text.split("\nsummary")[0].count("1 min later") == 3
    assert "... and 2 more (--format json or md lists them all)" in text
    assert to_markdown(report_of(incident("a", *many))).count("1 min later |") == 5
