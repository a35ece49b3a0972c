"""`warroom drill` end to end: real Prometheus, Alertmanager, Temporal dev server, emulator, intake, worker."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.system("prometheus", "prometheus-alertmanager"),
]


FASTEST = "60"
"""--time-scale beyond which a drill gets no faster: what is left is Prometheus and Alertmanager time."""


async def drill(data_dir: Path, time_scale: str) -> str:
    """`warroom drill` as people run it; its output, once it has passed."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "warroom.cli",
        "drill",
        "--time-scale",
        time_scale,
        "--data-dir",
        str(data_dir),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 300)
    text = out.decode()
    assert proc.returncode == 0, text
    return text


async def test_the_drill_runs_the_runbook_from_alert_to_resolution(tmp_path: Path) -> None:
    text = await drill(tmp_path, "30")
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
        "status_page_identified",
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
    draft = Path(summary["pir_draft"]).read_text()
    assert draft.startswith("# Post-incident review")
    # The review sees the mitigation the phases carried out, and reads the numbers as people do.
    for entry in (e for e in timeline if e["kind"] in ("diagnosis", "rollback_proposed", "rolled_back")):
        assert entry["message"].replace("|", "\\|") in draft, entry
    assert re.search(r"Signals: .*error ratio = \d+\.\d\d %", draft), draft
    posts = "".join(path.read_text() for path in (tmp_path / "channels").glob("*.status.log"))
    assert "\nIDENTIFIED: Elevated Error Rate" in posts and "A deployment at" in posts, posts
    assert "The issue was caused by a deployment at" in posts, posts  # the resolved post states the cause
    first_update = next(e for e in timeline if e["kind"] == "status_update")
    assert re.match(r"update: error rate \d+(\.\d)?%, ", first_update["message"]), first_update
    print(
        f"\n[drill] alert → mitigated {summary['alert_to_mitigated_seconds']:.1f}s real "
        f"(×30 runbook time); whole drill output:\n{text[-1500:]}"
    )


async def test_a_second_drill_in_the_same_directory_opens_an_incident_of_its_own(tmp_path: Path) -> None:
    first_text = await drill(tmp_path, FASTEST)
    first = json.loads((tmp_path / "drills" / "last.json").read_text())
    second_text = await drill(tmp_path, FASTEST)
    second = json.loads((tmp_path / "drills" / "last.json").read_text())
    assert first["incident_id"] != second["incident_id"], "each drill's alert group is its own"
    for text, summary in ((first_text, first), (second_text, second)):
        assert "drill complete" in text and "not recorded" not in text, text
        assert summary["rollback_patches"] == 1
        assert [e["kind"] for e in summary["timeline"]].count("alert_firing") == 1, "its own alert, once"
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == ["channels", "drill-runbook.yaml", "drills", "sandbox.kubeconfig", "tickets"], (
        "no Temporal database or Prometheus/Alertmanager data outlives a drill"
    )


# --- Stopping: every child goes with the drill -------------------------------------------------


@dataclass(frozen=True)
class Proc:
    pid: int
    started: int
    """Clock ticks after boot: a pid used again later is another process."""
    name: str


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, ppid, start time) from /proc/<pid>/stat; None once the pid is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()  # the command name may hold spaces and parentheses
    return fields[0], int(fields[1]), int(fields[19])


def descendants(root: int) -> list[Proc]:
    children: dict[int, list[int]] = {}
    started: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (stat := _stat(int(entry))) is not None and stat[0] != "Z":
            children.setdefault(stat[1], []).append(int(entry))
            started[int(entry)] = stat[2]
    found, todo = [], list(children.get(root, []))
    while todo:
        pid = todo.pop()
        try:
            argv0 = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode()
        except OSError:
            continue
        found.append(Proc(pid, started[pid], Path(argv0).name))
        todo += children.get(pid, [])
    return found


def alive(proc: Proc) -> bool:
    stat = _stat(proc.pid)
    return stat is not None and stat[2] == proc.started and stat[0] != "Z"


@pytest.mark.parametrize(
    "entry", [("warroom.cli", "drill"), ("sandbox.drill",)], ids=["warroom drill", "python -m sandbox.drill"]
)
async def test_sigterm_stops_the_drill_and_every_process_it_started(tmp_path: Path, entry: tuple[str, ...]) -> None:
    log = (tmp_path / "drill.log").open("wb")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", *entry, "--data-dir", str(tmp_path), stdout=log, stderr=asyncio.subprocess.STDOUT
    )
    servers = {"temporal", "prometheus", "prometheus-alertmanager"}
    deadline = time.monotonic() + 120
    tree = descendants(proc.pid)
    while not servers <= {p.name for p in tree}:
        assert proc.returncode is None, (tmp_path / "drill.log").read_text()
        assert time.monotonic() < deadline, f"the drill's servers did not start: {tree}"
        await asyncio.sleep(0.2)
        tree = descendants(proc.pid)

    proc.send_signal(signal.SIGTERM)
    code = await asyncio.wait_for(proc.wait(), 20)
    deadline = time.monotonic() + 20  # stopping takes a few seconds; the drill itself would take a minute
    while running := [p for p in tree if alive(p)]:
        assert time.monotonic() < deadline, f"still running after SIGTERM: {running}"
        await asyncio.sleep(0.2)
    text = (tmp_path / "drill.log").read_text()
    assert "SIGTERM: stopping the drill and everything it started" in text, text
    assert code == 128 + signal.SIGTERM, text  # `warroom drill` execs the drill: the same process either way
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(("drill-prom-", "drill-am-"))]
