"""deploy/grafana/warroom.json is a dashboard Grafana imports: the shape its import needs, and a
panel for each of warroom's metrics (which the drill test then finds series for)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from warroom.telemetry import metrics

DASHBOARD = json.loads((Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "warroom.json").read_text())


def test_the_dashboard_has_what_an_import_needs() -> None:
    assert DASHBOARD["uid"] == "warroom" and DASHBOARD["schemaVersion"] >= 36
    variables = {v["name"]: v for v in DASHBOARD["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    ids = [p["id"] for p in DASHBOARD["panels"]]
    assert len(ids) == len(set(ids)), "panel ids are unique"
    for panel in DASHBOARD["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        refs = [t["refId"] for t in panel["targets"]]
        assert refs and len(refs) == len(set(refs)), panel["title"]
        for target in panel["targets"]:
            used = set(re.findall(r"\$(\w+)", target["expr"])) - {"__rate_interval"}
            assert used <= set(variables), (panel["title"], used)


def test_every_warroom_metric_has_a_panel() -> None:
    exprs = " ".join(t["expr"] for p in DASHBOARD["panels"] if p["type"] != "row" for t in p["targets"])
    for family in metrics.REGISTRY.collect():
        if family.name.startswith("warroom_"):
            assert family.name in exprs, f"no panel shows {family.name}"
    for sdk in ("temporal_workflow_task_execution_latency", "temporal_activity_execution_failed_total", "up{"):
        assert sdk in exprs, sdk
