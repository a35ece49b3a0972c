"""One trace from the intake to the Kubernetes API and to Ansible: an Alertmanager alert posted over
HTTP to the real intake, recorded on the dev server, run by a real sandboxed worker whose Command
phase asks the sandbox cluster about the Deployment and runs the host playbook. The tree is checked
by parent links (span ids), not by names alone."""

from __future__ import annotations

from pathlib import Path

import pytest
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from activities.kubernetes import KubeActivities, KubeGateway, KubeSettings
from sandbox.cluster import RunningCluster
from tests.helpers import assert_eventually, running_worker
from tests.insight_traces.conftest import NS
from tests.intake.support import open_intake, payload
from warroom.enums import Phase
from warroom.ids import phase_workflow_id
from warroom.telemetry import tracing

pytestmark = pytest.mark.e2e


def lineage(span: ReadableSpan, by_id: dict[int, ReadableSpan]) -> list[ReadableSpan]:
    """`span` and its ancestors up to the root, by parent span id; every parent must have been exported."""
    path = [span]
    while path[-1].parent is not None:
        parent = by_id.get(path[-1].parent.span_id)
        assert parent is not None, f"{path[-1].name}: its parent span was never exported"
        path.append(parent)
    return path


class Started(SpanProcessor):
    """The names of spans started so far (the in-memory exporter sees only ended ones)."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        self.names.append(span.name)

    def assert_has(self, name: str) -> None:
        assert name in self.names, f"{name!r} not started yet"


def attr(span: ReadableSpan, key: str) -> object:
    return (span.attributes or {}).get(key)


async def test_an_alert_is_one_trace_down_to_kubernetes_and_ansible(
    dev_env: WorkflowEnvironment, spans: InMemorySpanExporter, cluster: RunningCluster, tmp_path: Path
) -> None:
    started = Started()
    active = tracing.active()
    assert active is not None
    active.provider.add_span_processor(started)
    traced = Client(**{**dev_env.client.config(), "interceptors": tracing.interceptors()})
    kubeconfig = cluster.write_kubeconfig(tmp_path / "kubeconfig", namespace=NS)
    gateway = KubeGateway.from_settings(KubeSettings(kubeconfig=str(kubeconfig), qps=500, burst=100))

    async def factory() -> Client:
        return traced

    def finished(prefix: str, parent_name: str) -> ReadableSpan:
        by_id = {s.context.span_id: s for s in spans.get_finished_spans()}
        found = [
            s
            for s in by_id.values()
            if s.name.startswith(prefix)
            and s.parent
            and getattr(by_id.get(s.parent.span_id), "name", "") == parent_name
        ]
        assert found, f"no {prefix!r} under {parent_name!r} yet: {sorted({s.name for s in by_id.values()})}"
        return found[0]

    async with (
        running_worker(traced, tmp_path, kube_activities=KubeActivities(gateway).all()) as harness,
        open_intake(dev_env.client, harness.queue, client_factory=factory) as intake,
    ):
        # The workflows run in the SDK's sandbox, the interceptor's workflow half inside it.
        assert isinstance(harness.worker.config()["workflow_runner"], SandboxedWorkflowRunner)
        assert list(harness.worker.config()["client"].config()["interceptors"]) == tracing.interceptors()
        response = await intake.post("alertmanager", payload("alertmanager"))
        assert response.status_code == 200, response.text
        incident = response.json()["workflow_id"]
        pods = await assert_eventually(
            lambda: finished("kubernetes list pod", "RunActivity:kube_pod_health"), timeout=120, interval=0.5
        )
        # The host playbook samples for seconds: once it runs, the incident's end cancels it.
        await assert_eventually(lambda: started.assert_has("ansible playbook host_diagnostics"), timeout=60)
    gateway.close()
    playbook = finished("ansible playbook host_diagnostics", "RunActivity:ansible_host_diagnostics")

    everything = spans.get_finished_spans()
    by_id = {s.context.span_id: s for s in everything}
    command = phase_workflow_id(incident, Phase.COMMAND)

    # Kubernetes API call → the activity → its scheduling in CommandPhase → the phase's start by the
    # incident → the intake's update-with-start → the HTTP request: one chain, one trace.
    chain = lineage(pods, by_id)
    assert [s.name for s in chain] == [
        "kubernetes list pod",
        "RunActivity:kube_pod_health",
        "StartActivity:kube_pod_health",
        "StartChildWorkflow:CommandPhase",
        "StartUpdateWithStartWorkflow:Incident",
        "POST /alerts/alertmanager",
    ], [s.name for s in chain]
    root = chain[-1]
    assert {s.context.trace_id for s in chain} == {root.context.trace_id}
    assert root.kind == SpanKind.SERVER and root.parent is None
    assert attr(root, "http.route") == "/alerts/alertmanager" and attr(root, "http.response.status_code") == 200
    assert chain[4].kind == SpanKind.CLIENT and attr(chain[4], "temporalWorkflowID") == incident
    assert attr(chain[3], "temporalWorkflowID") == incident  # started by the incident's workflow
    assert attr(chain[2], "temporalWorkflowID") == command and attr(chain[1], "temporalWorkflowID") == command
    assert chain[0].kind == SpanKind.CLIENT
    assert dict(chain[0].attributes or {}) | {"k8s.namespace.name": NS} == dict(chain[0].attributes or {})
    assert attr(chain[0], "k8s.resource.kind") == "pod" and attr(chain[0], "warroom.outcome") == "ok"

    # The playbook run hangs off the same phase, in the same trace.
    ansible = lineage(playbook, by_id)
    assert [s.name for s in ansible[:4]] == [
        "ansible playbook host_diagnostics",
        "RunActivity:ansible_host_diagnostics",
        "StartActivity:ansible_host_diagnostics",
        "StartChildWorkflow:CommandPhase",
    ]
    assert ansible[3] is chain[3] and ansible[-1] is root
    assert attr(playbook, "ansible.playbook") == "host_diagnostics" and attr(playbook, "ansible.target") == "localhost"
    assert attr(playbook, "warroom.outcome") in ("ok", "CancelledError"), attr(playbook, "warroom.outcome")

    # The workflows' own spans sit in the tree too: each run under the span that started it, the
    # update's handling under the client's update-with-start.
    def only(name: str, workflow_id: str) -> ReadableSpan:
        [found] = [s for s in everything if s.name == name and attr(s, "temporalWorkflowID") == workflow_id]
        return found

    run_command = only("RunWorkflow:CommandPhase", command)
    assert run_command.parent is not None and run_command.parent.span_id == chain[3].context.span_id
    run_incident = only("RunWorkflow:Incident", incident)
    assert run_incident.parent is not None and by_id[run_incident.parent.span_id].name == (
        "StartUpdateWithStartWorkflow:Incident"
    )
    handled = [
        s for s in everything if s.name == "HandleUpdate:ingest_alerts" and attr(s, "temporalWorkflowID") == incident
    ]
    assert handled and all(s.context.trace_id == root.context.trace_id for s in handled)
    # Every span of this incident (and its phases) is in the intake request's trace.
    ours = [s for s in everything if str(attr(s, "temporalWorkflowID") or "").startswith(incident)]
    assert len(ours) > 20 and {s.context.trace_id for s in ours} == {root.context.trace_id}
