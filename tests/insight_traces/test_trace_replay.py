"""The committed histories replay with the tracing interceptor on the worker (sandboxed and not),
and a replay makes no span: the interceptor adds headers and spans, never commands."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from tests.test_replay import HISTORIES, history_of
from warroom.telemetry import tracing
from workflows.registry import WORKFLOWS


@pytest.mark.parametrize("sandboxed", [True, False], ids=["sandboxed", "unsandboxed"])
async def test_every_history_replays_traced_without_a_span(spans: InMemorySpanExporter, sandboxed: bool) -> None:
    assert len(HISTORIES) >= 10
    histories = [history_of(p) for p in HISTORIES]
    replayer = Replayer(
        workflows=WORKFLOWS,
        data_converter=pydantic_data_converter,
        workflow_runner=SandboxedWorkflowRunner() if sandboxed else UnsandboxedWorkflowRunner(),
        interceptors=tracing.interceptors(),
    )
    assert len(replayer.config()["interceptors"]) == 1
    for history in histories:
        await replayer.replay_workflow(history)  # raises on any nondeterminism
    assert spans.get_finished_spans() == (), [s.name for s in spans.get_finished_spans()]
