"""warroom_open_incidents{severity,phase}: counted from visibility, beside the worker.

The incident workflow keeps its search attributes (IncidentSeverity, IncidentPhase) current;
one visibility listing of the running incidents every ~15 s is cheaper than a count per
(severity, phase) pair and sees values no list here names. A failed listing keeps the last
counts (and the refreshed timestamp says how old they are).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from typing import Any

from warroom.search import PHASE, SEVERITY, UNASSESSED
from warroom.telemetry.metrics import set_open_incidents

log = logging.getLogger("warroom.telemetry")
OPEN_INCIDENTS_QUERY = "WorkflowType = 'Incident' AND ExecutionStatus = 'Running'"


async def count_open_incidents(client: Any) -> Counter[tuple[str, str]]:
    """(severity, phase) → running incidents, from one visibility listing."""
    counts: Counter[tuple[str, str]] = Counter()
    async for wf in client.list_workflows(OPEN_INCIDENTS_QUERY):
        attributes = wf.typed_search_attributes
        counts[(attributes.get(SEVERITY) or UNASSESSED, attributes.get(PHASE) or "detection")] += 1
    return counts


async def keep_open_incidents(client: Any, every: float = 15.0) -> None:
    """Refresh the gauge every `every` seconds until cancelled."""
    while True:
        try:
            set_open_incidents(await count_open_incidents(client))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # visibility down: the last counts stay, their timestamp ages
            log.warning("open incidents not counted: %s", exc)
        await asyncio.sleep(every)
