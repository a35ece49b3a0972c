"""`warroom mitigated`, `update --confirm` and `resolve` as the IC types them, against the dev server.

The incident runs a runbook with a 1-second clean window (the dev server keeps real time) and the
seed's 10-minute monitoring period, so `resolve` meets everything still open.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import yaml

from tests.cli.test_cli import Cli, cli, service
from tests.helpers import assert_eventually
from warroom.incidents import Incidents
from warroom.runbook import load_runbook

__all__ = ["cli"]  # the fixture, shared with test_cli.py


def short_window_runbook(root: Path) -> str:
    base = load_runbook()
    runbook = base.model_copy(
        update={"resolve": base.resolve.model_copy(update={"clean_window": timedelta(seconds=1)})}
    )
    path = root / "runbook.yaml"
    path.write_text(yaml.safe_dump(runbook.model_dump(mode="json"), sort_keys=False))
    return str(path)


async def test_resolve_prints_what_is_still_open_and_an_override_resolves(cli: Cli, tmp_path: Path) -> None:
    runbook = short_window_runbook(tmp_path)
    declared = await cli(
        "declare",
        "--service",
        service(),
        "--severity",
        "P2",
        "--summary",
        "8% of requests 503",
        "--commander",
        "alice",
        "--json",
        WARROOM_RUNBOOK=runbook,
    )
    assert declared.code == 0, declared.text
    incident_id = cli.track(json.loads(declared.out)["incident_id"])
    await cli.commanding(incident_id)
    ran = await cli("mitigated", incident_id, "--action", "feature flag off")
    assert ran.code == 0, ran.text
    incidents = Incidents(cli.client)

    async def asked() -> None:
        assert (await incidents.state(incident_id)).checks.cannot_verify

    await assert_eventually(asked)
    early = await cli("update", incident_id, "--confirm", "no-customer-reports")
    assert early.code == 1 and "rejected (NotMitigated): the post-mitigation checklist starts" in early.err, early.text
    ran = await cli("update", incident_id, "--confirm", "errors-at-baseline")
    assert ran.code == 0 and "alice confirms: errors at baseline" in ran.out, ran.text

    async def mitigated() -> None:
        assert (await incidents.state(incident_id)).mitigated_at is not None

    await assert_eventually(mitigated)
    refused = await cli("resolve", incident_id, "--summary", "flag was bad")
    assert refused.code == 1, refused.text
    lines = [line.strip() for line in refused.err.splitlines()]
    assert lines[0] == "rejected (NotReadyToResolve): not ready to resolve:"
    assert lines[1].startswith("□ monitoring: ") and lines[1].endswith(" UTC)")
    assert lines[2:] == [
        "□ Synthetic monitors green: no synthetic monitor reports to this incident: a person confirms "
        f"(warroom update {incident_id} --confirm synthetic-monitors-green)",
        f"□ No new customer reports: a person confirms (warroom update {incident_id} --confirm no-customer-reports)",
        f"resolve anyway with a reason: warroom resolve {incident_id} --override 'REASON' ...",
    ]

    bogus = await cli("update", incident_id, "--confirm", "all-good")
    assert bogus.code == 2 and "'all-good' is not one of errors-at-baseline, synthetic-monitors-green" in bogus.text
    ran = await cli("update", incident_id, "--confirm", "no-customer-reports", "--confirm", "synthetic-monitors-green")
    assert ran.code == 0 and "confirms: no new customer reports; synthetic monitors green" in ran.out, ran.text
    resolved = await cli("resolve", incident_id, "--summary", "flag was bad", "--override", "flag removed for good")
    assert resolved.code == 0 and "resolved: flag was bad" in resolved.out, resolved.text
    state = await incidents.state(incident_id)
    [entry] = [e for e in state.timeline if e.kind == "resolve_override"]
    assert entry.message.startswith("resolved with monitoring: ") and entry.message.endswith(
        "open, by override: flag removed for good"
    )
