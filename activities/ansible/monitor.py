"""One run's ansible-runner callbacks: outcomes collected, heartbeats sent, cancellation and the timeout.

Progress goes out as heartbeats `{counter, event, task, host, failed}` (never module results, which
may hold secrets), from ansible-runner's `event_handler` and, during silent tasks, from its
`cancel_callback`, polled every `poll_seconds`.
"""

from __future__ import annotations

import json
import logging
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from temporalio import activity

from activities.ansible.process import terminate
from warroom.contracts.ansible import HostTotals, PlaybookResult, TaskOutcome

log = logging.getLogger("warroom.ansible")

EXCERPT = 300
CHANGE_TEXT = 8000
"""Characters of a changed task's diff and printed text a preview may use (steps.PREVIEW_TEXT_MAX)."""
_OUTCOMES: dict[str, Literal["ok", "failed", "unreachable", "skipped"]] = {
    "runner_on_ok": "ok",
    "runner_on_failed": "failed",
    "runner_on_unreachable": "unreachable",
    "runner_on_skipped": "skipped",
}
_QUIET_EVENTS = {"verbose", "debug", "deprecated", "warning", "system_warning", "error"}


@dataclass(frozen=True)
class Change:
    """A task that changed (or, under `--check`, would): its name, its diff, what ansible printed (with --diff)."""

    task: str
    diff: tuple[str, str] | None
    text: str


def _diff(value: Any) -> tuple[str, str] | None:
    """A module's `diff` (a dict, or a list of them) as one (before, after) text pair, each bounded."""
    parts = value if isinstance(value, list) else [value]
    pairs = [p for p in parts if isinstance(p, dict) and ("before" in p or "after" in p)]
    if not pairs:
        return None
    before = "".join(str(p.get("before", "")) for p in pairs)
    after = "".join(str(p.get("after", "")) for p in pairs)
    return before[:CHANGE_TEXT], after[:CHANGE_TEXT]


class RunMonitor:
    """ansible-runner's callbacks for one run: collects outcomes, heartbeats, decides when to stop."""

    def __init__(self, run_dir: Path, timeout: float, grace: float) -> None:
        self.run_dir = run_dir
        self.grace = grace
        self.deadline = time.monotonic() + timeout
        self.stop_reason: str | None = None
        self.terminated = False
        self.progress: dict[str, Any] = {"counter": 0, "event": "starting", "task": "", "host": "", "failed": False}
        self.outcomes: list[TaskOutcome] = []
        self.totals: dict[str, HostTotals] = {}
        self.facts: dict[str, Any] = {}
        self.changes: list[Change] = []
        self.messages: deque[str] = deque(maxlen=20)
        self.in_activity = activity.in_activity()

    def on_event(self, event: dict[str, Any]) -> bool:
        try:
            self._collect(event)
        except Exception:  # an exception here would escape ansible-runner with the child still running
            log.exception("could not read an ansible event")
        return False  # nothing to job_events/: results stay in memory, the run dir is deleted anyway

    def _collect(self, event: dict[str, Any]) -> None:
        name = event.get("event", "")
        data = event.get("event_data") or {}
        stdout = (event.get("stdout") or "").replace("\r", "").strip()
        if name in _QUIET_EVENTS:
            if stdout:
                self.messages.extend(line[:EXCERPT] for line in stdout.splitlines() if line.strip())
            return
        outcome = _OUTCOMES.get(name)
        if outcome is not None and len(self.outcomes) < 500:
            res: dict[str, Any] = data["res"] if isinstance(data.get("res"), dict) else {}
            status: Literal["ok", "changed", "failed", "unreachable", "skipped"] = outcome
            if status == "ok" and res.get("changed"):
                status = "changed"
            message = res.get("msg", "") if status in ("failed", "unreachable") else ""
            if status == "changed" and len(self.changes) < 50:
                self.changes.append(Change(str(data.get("task", "")), _diff(res.get("diff")), stdout[:CHANGE_TEXT]))
            self.outcomes.append(
                TaskOutcome(
                    task=str(data.get("task", "")),
                    host=str(data.get("host", "")),
                    action=str(data.get("task_action", "")),
                    status=status,
                    ignored=bool(data.get("ignore_errors")) and status == "failed",
                    message=str(message)[:EXCERPT],
                    stdout=stdout[:EXCERPT],
                )
            )
        if name == "playbook_on_stats":
            self._stats(data)
        self.progress = {
            "counter": int(event.get("counter", 0)),
            "event": name,
            "task": str(data.get("task", "")),
            "host": str(data.get("host", "")),
            "failed": name in ("runner_on_failed", "runner_on_unreachable"),
        }
        self._beat()

    def _stats(self, data: dict[str, Any]) -> None:
        fields = {
            "ok": "ok",
            "changed": "changed",
            "failures": "failed",
            "dark": "unreachable",
            "skipped": "skipped",
            "rescued": "rescued",
            "ignored": "ignored",
        }
        hosts: set[str] = set()
        for key in fields:
            hosts.update((data.get(key) or {}).keys())
        self.totals = {
            h: HostTotals(**{f: int((data.get(k) or {}).get(h, 0)) for k, f in fields.items()}) for h in sorted(hosts)
        }
        facts = data.get("artifact_data") or {}
        size = len(json.dumps(facts, default=str))
        if size > 256 * 1024:
            self.messages.append(f"published facts dropped: {size} bytes is over the 256 KiB limit")
            facts = {}
        self.facts = facts

    def _beat(self) -> None:
        if self.in_activity:
            activity.heartbeat(dict(self.progress))

    def poll(self) -> bool:
        """ansible-runner's cancel_callback, every `pexpect_timeout` s: heartbeat, then stop or not."""
        try:
            self._beat()  # a long silent task sends no event; this keeps the heartbeat timeout satisfied
            if self.stop_reason is None:
                if self.in_activity and activity.is_cancelled():
                    self.stop_reason = "cancelled"
                elif time.monotonic() > self.deadline:
                    self.stop_reason = "timeout"
        except Exception as exc:  # raising here would leave the child running
            log.exception("cancel check failed; stopping the run")
            self.stop_reason = self.stop_reason or f"cancel check failed: {exc}"
        if self.stop_reason is None:
            return False
        if not self.terminated:
            terminate(self.run_dir, self.grace)
            self.terminated = True
        return True

    def result(self, name: str, target: str, rc: int | None, duration: float) -> PlaybookResult:
        status: Literal["successful", "failed", "timeout", "canceled"]
        if self.stop_reason == "timeout":
            status = "timeout"
        elif self.stop_reason is not None:
            status = "canceled"
        else:
            status = "successful" if rc == 0 else "failed"
        return PlaybookResult(
            playbook=name,
            target=target,
            status=status,
            rc=rc,
            duration_seconds=round(duration, 3),
            tasks=self.outcomes,
            hosts=self.totals,
            facts=self.facts,
            messages=list(self.messages),
        )
