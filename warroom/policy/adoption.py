"""What moving an open incident to another runbook does to its pending deadlines.

Deadlines are a pure function of the state and the runbook (`warroom.policy.timers`), so the
difference between two runbooks is two calls and a comparison: `warroom runbook preview` shows it
for every open incident, and the `adopt_runbook` update records how many deadlines it moved.
A deadline is matched by its key (the same escalation, the same reminder in its series).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict

from warroom.config import RunbookConfig
from warroom.models import Deadline, IncidentState
from warroom.policy.timers import pending_deadlines


class DeadlineMove(BaseModel):
    """One pending deadline under the incident's runbook and under another: either side may be None
    (a deadline the other runbook drops or adds)."""

    model_config = ConfigDict(frozen=True)

    key: str
    kind: str
    now_due_at: datetime | None
    would_be_due_at: datetime | None

    @property
    def difference(self) -> timedelta | None:
        """Positive: later under the other runbook; None when only one side has it."""
        if self.now_due_at is None or self.would_be_due_at is None:
            return None
        return self.would_be_due_at - self.now_due_at

    @property
    def moved(self) -> bool:
        return self.now_due_at != self.would_be_due_at


def deadline_moves(now: list[Deadline], would: list[Deadline]) -> list[DeadlineMove]:
    """Every deadline of either list, paired by key, in the order they fall due (whichever side first)."""
    current = {d.key: d for d in now}
    other = {d.key: d for d in would}
    moves = [
        DeadlineMove(
            key=key,
            kind=(current.get(key) or other[key]).kind,
            now_due_at=current[key].at if key in current else None,
            would_be_due_at=other[key].at if key in other else None,
        )
        for key in current.keys() | other.keys()
    ]
    return sorted(moves, key=lambda m: (min(t for t in (m.now_due_at, m.would_be_due_at) if t is not None), m.key))


def moves_under(state: IncidentState, current: RunbookConfig, new: RunbookConfig) -> list[DeadlineMove]:
    """The incident's pending deadlines under its runbook and under `new`."""
    return deadline_moves(pending_deadlines(state, current), pending_deadlines(state, new))


def moved(moves: list[DeadlineMove]) -> list[DeadlineMove]:
    """Only the deadlines whose time changed (or that one runbook has and the other has not)."""
    return [m for m in moves if m.moved]


__all__ = ["DeadlineMove", "deadline_moves", "moved", "moves_under"]
