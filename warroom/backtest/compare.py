"""Decisions before and after → differences; one incident's backtest from its histories.

Decisions are matched by (kind, key) in order of their offsets: the n-th escalation to the team
lead in the original is compared with the n-th in the backtest, whichever phase sent it (a later
escalation threshold can move the escalation from Command into Resolve: it moved, it was not
removed and another added). Within `tolerance`
seconds they are the same decision (activities complete instantly on the time-skipping server
where the originals took milliseconds); further apart it "moved"; without a partner it was
"added" (only the backtest made it) or "removed" (only the original did).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Sequence
from contextlib import AsyncExitStack

from temporalio.client import WorkflowHistory
from temporalio.converter import DataConverter

from warroom.backtest.models import Decision, Difference, IncidentBacktest
from warroom.backtest.recording import decisions, record, waited
from warroom.backtest.replay import Backtester
from warroom.config import RunbookConfig

DecisionKey = tuple[str, str]


def _grouped(found: list[Decision]) -> dict[DecisionKey, list[Decision]]:
    groups: dict[DecisionKey, list[Decision]] = {}
    for decision in sorted(found, key=lambda d: d.offset):
        groups.setdefault((decision.kind, decision.key), []).append(decision)
    return groups


TOLERANCE = 2.0
"""Seconds within which a decision counts as made at the same instant. A recorded activity's duration is
replayed as a retry backoff on the test server, whose timers land up to about a second later than asked."""


def differences(
    incident_id: str,
    original: list[Decision],
    backtest: list[Decision],
    tolerance: float = TOLERANCE,
    busy: Callable[[float], float] | None = None,
) -> list[Difference]:
    """What the backtest decided differently, in order of when it happened (or would have). A decision
    within `tolerance` seconds is the same; `busy` (see `waited`) lets it come earlier by the time the
    original spent waiting on activities before it."""
    before, after = _grouped(original), _grouped(backtest)
    found: list[Difference] = []
    for key in sorted(before.keys() | after.keys()):
        old, new = before.get(key, []), after.get(key, [])
        for was, now in zip(old, new, strict=False):
            earliest = was.offset - tolerance - (busy(was.offset) if busy else 0.0)
            if not earliest <= now.offset <= was.offset + tolerance:
                found.append(
                    Difference(
                        incident_id=incident_id,
                        change="moved",
                        decision=now,
                        original_offset=was.offset,
                        backtest_offset=now.offset,
                    )
                )
        found += [
            Difference(incident_id=incident_id, change="removed", decision=was, original_offset=was.offset)
            for was in old[len(new) :]
        ]
        found += [
            Difference(incident_id=incident_id, change="added", decision=now, backtest_offset=now.offset)
            for now in new[len(old) :]
        ]
    found.sort(key=lambda d: d.decision.offset)
    return found


async def backtest_incident(
    backtester: Backtester, histories: list[WorkflowHistory], runbook: RunbookConfig, converter: DataConverter
) -> IncidentBacktest:
    """Record the incident, run it under `runbook`, and compare what both runs decided. The severity
    is the original's (its input's, or the final one when it closed)."""
    recording = await record(histories, converter)
    ran, divergences = await backtester.run(recording, runbook)
    original = await decisions(histories, converter)
    backtest = await decisions(ran, converter)
    final = next((d.key.split(":", 1)[1] for d in original if d.kind == "severity"), None)
    severity = final if final not in (None, "None") else recording.input.get("severity")
    return IncidentBacktest(
        incident_id=recording.incident_id,
        severity=severity,
        original=original,
        backtest=backtest,
        differences=differences(recording.incident_id, original, backtest, busy=waited(recording.activities)),
        divergences=divergences,
    )


def default_servers() -> int:
    """Test servers to run at once: one per core, at most 4. Each is a process of its own, and the
    worker that answers them shares this one: two on two cores came out ~1.7x faster than one."""
    return max(1, min(4, os.cpu_count() or 1))


async def backtest_many(
    incidents: Sequence[tuple[list[WorkflowHistory], RunbookConfig]],
    converter: DataConverter,
    servers: int = 1,
    progress: Callable[[int, int, str], None] | None = None,
    seconds: dict[int, float] | None = None,
) -> list[IncidentBacktest]:
    """Each (histories, runbook) backtested on one of `servers` time-skipping servers at once; the
    results come back in the order given. `progress(done, total, incident_id)` is called as each finishes;
    `seconds`, when given, receives each incident's own wall time by its index (for benchmarks)."""
    servers = max(1, min(servers, len(incidents)))
    results: list[IncidentBacktest | None] = [None] * len(incidents)
    pending: asyncio.Queue[int] = asyncio.Queue()
    for index in range(len(incidents)):
        pending.put_nowait(index)
    done = 0

    async def work(backtester: Backtester) -> None:
        nonlocal done
        while not pending.empty():
            index = pending.get_nowait()
            histories, runbook = incidents[index]
            started = time.perf_counter()
            result = results[index] = await backtest_incident(backtester, histories, runbook, converter)
            if seconds is not None:
                seconds[index] = time.perf_counter() - started
            done += 1
            if progress is not None:
                progress(done, len(incidents), result.incident_id)

    async with AsyncExitStack() as stack:
        backtesters = await asyncio.gather(*(stack.enter_async_context(Backtester.start()) for _ in range(servers)))
        await asyncio.gather(*(work(b) for b in backtesters))
    return [r for r in results if r is not None]
