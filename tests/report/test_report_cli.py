"""`warroom report` against the dev server: real incidents driven through real updates, then the
command run as a subprocess the way people run it, in every format.

Three incidents on two fresh services: two resolved and closed (one with a denied step), one
acknowledged and still open, which the report must count as censored. The runbook's clean window
is 1 s and no severity needs a PIR, so an incident closes as soon as it resolves.
"""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from pathlib import Path

from tests.cli.test_cli import Cli, cli
from tests.helpers import assert_eventually
from warroom.enums import Phase, Severity, Update
from warroom.incidents import Incidents
from warroom.models import (
    Acknowledge,
    IncidentInput,
    MarkMitigated,
    ProposeStep,
    Resolve,
    StatusUpdate,
    StepDecision,
)
from warroom.runbook import load_runbook

__all__ = ["cli"]  # the fixture, shared with tests/cli


def quick_runbook():  # type: ignore[no-untyped-def]
    base = load_runbook()
    return base.model_copy(
        update={
            "resolve": base.resolve.model_copy(update={"clean_window": timedelta(seconds=1)}),
            "retrospective": base.retrospective.model_copy(update={"required_for": []}),
        }
    )


async def open_incident(cli: Cli, service: str, severity: Severity) -> str:
    """Declared, in command, acknowledged by the IC."""
    incidents = Incidents(cli.client)
    incident_id = f"{service}-{uuid.uuid4().hex[:6]}"
    inp = IncidentInput(
        incident_id=incident_id,
        service=service,
        summary="8% of requests 503",
        runbook=quick_runbook(),
        severity=severity,
        declared=True,
        declared_by="alice",
    )
    await incidents.start(inp, cli.env["WARROOM_TASK_QUEUE"])
    cli.track(incident_id)
    await cli.commanding(incident_id)
    await incidents.act(incident_id, Update.ACKNOWLEDGE, Acknowledge(by="alice", take_command=True))
    return incident_id


async def close_incident(cli: Cli, incident_id: str, deny: bool = False) -> None:
    """Mitigated (the IC confirms errors at baseline: no metrics here), resolved, closed."""
    incidents = Incidents(cli.client)
    if deny:
        proposed = await incidents.act(
            incident_id, Update.PROPOSE_STEP, ProposeStep(by="alice", action="custom", target="flush the CDN")
        )
        assert proposed.step_id
        await incidents.act(incident_id, Update.DENY, StepDecision(step_id=proposed.step_id, by="alice", reason="no"))
    await incidents.act(incident_id, Update.MARK_MITIGATED, MarkMitigated(by="alice", action="feature flag off"))

    async def asked() -> None:
        assert (await incidents.state(incident_id)).checks.cannot_verify

    await assert_eventually(asked)
    await incidents.act(incident_id, Update.POST_UPDATE, StatusUpdate(by="alice", confirm=["errors_at_baseline"]))

    async def mitigated() -> None:
        assert (await incidents.state(incident_id)).mitigated_at is not None

    await assert_eventually(mitigated)
    await incidents.act(
        incident_id, Update.RESOLVE, Resolve(by="alice", summary="flag was bad", override="test: skip monitoring")
    )

    async def closed() -> None:
        described = await cli.client.get_workflow_handle(f"incident-{incident_id}").describe()
        assert described.status is not None and described.status.name == "COMPLETED"

    await assert_eventually(closed, timeout=20)


async def test_report_counts_closed_and_open_incidents_in_every_format(cli: Cli, tmp_path: Path) -> None:
    alpha, beta = f"pay-{uuid.uuid4().hex[:6]}", f"cart-{uuid.uuid4().hex[:6]}"
    first = await open_incident(cli, alpha, Severity.P1)
    second = await open_incident(cli, alpha, Severity.P2)
    still_open = await open_incident(cli, beta, Severity.P1)
    await close_incident(cli, first)
    await close_incident(cli, second, deny=True)

    async def listed() -> None:  # visibility is eventually consistent
        rows = await Incidents(cli.client).list(f"IncidentService = '{alpha}' AND ExecutionStatus = 'Completed'")
        assert len(rows) == 2

    await assert_eventually(listed)

    ran = await cli("report", "--since", "1h", "--service", alpha, "--format", "json")
    assert ran.code == 0, ran.text
    report = json.loads(ran.out)
    assert report["filters"] == {"service": alpha}
    assert "censored" in report["note"]
    counts = report["overall"]["counts"]
    assert (counts["incidents"], counts["closed"], counts["open"], counts["declared"]) == (2, 2, 0, 2)
    assert counts["approvals_denied"] == 1 and counts["rolled_back"] == 0
    assert [g["name"] for g in report["by_severity"]] == ["P1", "P2"]
    stages = {s["stage"]: s for s in report["overall"]["stages"]}
    assert stages["mitigate"]["count"] == 2 and stages["mitigate"]["censored"] == 0
    assert stages["resolve"]["count"] == 2 and stages["mitigate"]["p50_seconds"] > 0
    p1 = {s["stage"]: s for s in report["by_severity"][0]["stages"]}
    assert p1["mitigate"]["target_seconds"] == 1800 and p1["mitigate"]["met"] == 1 and p1["mitigate"]["share_met"] == 1
    assert p1["acknowledge"]["met"] == 1

    ran = await cli("report", "--since", "1h", "--service", beta, "--severity", "p1", "--format", "json")
    assert ran.code == 0, ran.text
    censored = json.loads(ran.out)["overall"]
    assert censored["counts"] == {**censored["counts"], "incidents": 1, "open": 1, "closed": 0}
    mitigate = next(s for s in censored["stages"] if s["stage"] == "mitigate")
    assert mitigate["count"] == 1 and mitigate["censored"] == 1 and mitigate["undecided"] == 1
    assert mitigate["met"] == 0 and mitigate["missed"] == 0

    ran = await cli("report", "--since", "1h", "--service", beta)
    assert ran.code == 0 and "Open incidents count as censored durations" in ran.out, ran.text
    assert "≥ " in ran.out and f"service {beta}" in ran.out

    ran = await cli("report", "--since", "1h", "--service", alpha, "--format", "md")
    assert ran.code == 0 and ran.out.startswith("# warroom report: incidents opened since"), ran.text
    assert "| mitigate (opened → mitigated) | 2 | 0 |" in ran.out

    page = tmp_path / "report.html"
    ran = await cli("report", "--since", "1h", "--service", alpha, "--format", "html", "--output", str(page))
    assert ran.code == 0 and f"wrote {page}" in ran.err, ran.text
    assert page.read_text().count("<svg") == 3

    assert (await Incidents(cli.client).state(still_open)).phase == Phase.COMMAND


async def test_bad_input_exits_2_before_connecting(cli: Cli, tmp_path: Path) -> None:
    for args, says in [
        (("--since", "yesterday"), "--since 'yesterday': write how far back"),
        (("--since", "0s"), "--since '0s'"),
        (("--service", "it's"), "--service"),
        (("--severity", "P9"), "'P9' is not one of P1, P2, P3"),
        (("--format", "pdf"), "pdf"),
        (("--output", str(tmp_path / "missing" / "r.html")), "does not exist"),
    ]:
        ran = await cli("report", *args, WARROOM_TEMPORAL_ADDRESS="127.0.0.1:1")
        assert ran.code == 2 and says in ran.text, (args, ran.text)
