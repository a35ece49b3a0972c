"""`warroom drill` end to end: real Prometheus, Alertmanager, Temporal dev server, emulator, intake, worker."""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        shutil.which("prometheus") is None or shutil.which("prometheus-alertmanager") is None,
        reason="needs Debian's prometheus and prometheus-alertmanager (.ci/run installs them)",
    ),
]


async def test_the_drill_runs_the_runbook_from_alert_to_resolution(tmp_path: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "warroom.cli",
        "drill",
        "--time-scale",
        "30",
        "--data-dir",
        str(tmp_path),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 300)
    text = out.decode()
    assert proc.returncode == 0, text
    assert "runbook time compressed ×30" in text and "drill complete" in text
    summary = json.loads((tmp_path / "drills" / "last.json").read_text())
    timeline = summary["timeline"]
    kinds = [e["kind"] for e in timeline]
    for kind in (
        "alert_firing",
        "declared",
        "channel_opened",
        "status_page_initial",
        "diagnosis",
        "rollback_rule",
        "rollback_proposed",
        "rollback_auto_approved",
        "rolled_back",
        "rollout_status",
        "mitigated",
        "resolved",
    ):
        assert kind in kinds, (kind, kinds)
    diagnosis = next(e for e in timeline if e["kind"] == "diagnosis")
    assert "recent deployment: yes" in diagnosis["data"]["path"]
    rule = next(e for e in timeline if e["kind"] == "rollback_rule")
    assert rule["message"].startswith("rollback rule holds")
    assert summary["rollback_patches"] == 1, "exactly one rollback reached the cluster"
    mitigated = next(e for e in timeline if e["kind"] == "mitigated")
    assert "error ratio at baseline" in mitigated["message"]
    assert any("DRILL: runbook time compressed" in e["message"] for e in timeline), (
        "the timeline says time is compressed"
    )
    assert Path(summary["pir_draft"]).read_text().startswith("# Post-incident review")
    print(
        f"\n[drill] alert → mitigated {summary['alert_to_mitigated_seconds']:.1f}s real "
        f"(×30 runbook time); whole drill output:\n{text[-1500:]}"
    )
