"""Playbook steps: the step catalog's preview (`ansible-playbook --check --diff`) and apply (the real run).

Both go through the same `Runner` as every other playbook (allow-listed name, the playbook's strict
extravars model, the worker's credential in PGPASSWORD, a private directory, heartbeats,
cancellation, the timeout), so a hostile parameter is refused as `PlaybookInvalid` before any
process starts, and a failed run raises the family's typed errors (`TaskFailed`, `HostUnreachable`,
`Timeout`, ...). The preview's tasks that "changed" under `--check` are the changes an approver is
shown, with their diffs; the apply reports what the playbook published with `set_stats`.

Idempotency: a catalog playbook must be safe to run twice, because a retry after a worker died
mid-step runs it again. `pg_cancel_long_queries` is: it re-selects on every run and cancels only
queries that are still running past the bound at that moment, so a query it already cancelled is
no longer there to cancel and the retry reports what is left (usually nothing: `no_change`).
"""

from __future__ import annotations

import difflib
import json
import shlex
from collections.abc import Callable
from typing import Any

from activities.ansible.monitor import Change
from activities.ansible.runner import Prepared, Runner
from warroom.contracts.ansible import PlaybookRequest, PlaybookResult
from warroom.contracts.steps import (
    OUTPUT_MAX,
    PREVIEW_TEXT_MAX,
    FieldChange,
    PlaybookStepRequest,
    StepOutcome,
    StepPreview,
)

SUMMARY_MAX = 300
_FIELD_TEXT = 2000
_DETAIL_TEXT = 500


def preview(runner: Runner, req: PlaybookStepRequest) -> StepPreview:
    """The playbook under `--check --diff`: what would change, task by task, and the command line run."""
    prepared = runner.prepare(_request(req))
    result, changes = runner.execute(prepared, check=True)
    summarize = _SUMMARIES.get(prepared.name, _generic_summary)
    return StepPreview(
        summary=_cut(summarize(result, changes, True), SUMMARY_MAX),
        request=_cut(command_line(prepared, check=True), PREVIEW_TEXT_MAX),
        changes=[
            FieldChange(
                path=_cut(c.task, 200),
                before=_cut(c.diff[0], _FIELD_TEXT) if c.diff else None,
                after=_cut(c.diff[1], _FIELD_TEXT) if c.diff else None,
            )
            for c in changes[:50]
        ],
        diff=_cut(render_diff(changes), PREVIEW_TEXT_MAX),
        would_change=bool(changes),
    )


def apply(runner: Runner, req: PlaybookStepRequest) -> StepOutcome:
    """The real run: `applied` when a task changed something, `no_change` otherwise."""
    prepared = runner.prepare(_request(req))
    result, changes = runner.execute(prepared)
    summarize = _SUMMARIES.get(prepared.name, _generic_summary)
    details = _details(result.facts)
    details["duration_seconds"] = f"{result.duration_seconds:g}"
    if req.idempotency_key:
        details["idempotency_key"] = _cut(req.idempotency_key, _DETAIL_TEXT)
    output = "\n".join(
        [f"{t.status:<11} {t.task}" + (f": {t.message}" if t.message else "") for t in result.tasks]
        + [render_diff(changes)]
    ).strip()
    return StepOutcome(
        outcome="applied" if changes else "no_change",
        summary=_cut(summarize(result, changes, False), SUMMARY_MAX),
        output=_cut(output, OUTPUT_MAX),
        details=details,
    )


def command_line(prepared: Prepared, *, check: bool) -> str:
    """The ansible-playbook command the run amounts to: the extravars, never a secret (those are in
    the child's environment only)."""
    argv = ["ansible-playbook", *(["--check", "--diff"] if check else []), "--limit", prepared.target]
    argv += [f"{prepared.name}.yml", "-e", json.dumps(prepared.extravars, sort_keys=True, separators=(",", ":"))]
    line = shlex.join(argv)
    if prepared.secrets:
        line += f"  # with {', '.join(sorted(prepared.secrets))} from the worker's credentials"
    return line


def render_diff(changes: list[Change]) -> str:
    """`--diff`'s account of each changed task, as ansible prints it: a unified diff of the task's
    before and after (from the module's `diff`), else what ansible printed for the task."""
    blocks = []
    for change in changes:
        if change.diff is None:
            body = change.text
        else:
            before, after = change.diff
            lines = difflib.unified_diff(
                before.splitlines(keepends=True), after.splitlines(keepends=True), "before", "after"
            )
            body = "".join(lines).rstrip("\n")
        blocks.append(f"TASK [{change.task}]\n{body}".rstrip("\n"))
    return "\n".join(blocks)


def _request(req: PlaybookStepRequest) -> PlaybookRequest:
    return PlaybookRequest(
        playbook=req.playbook, extravars=req.extravars, target=req.target, timeout_seconds=req.timeout_seconds
    )


def _generic_summary(result: PlaybookResult, changes: list[Change], check: bool) -> str:
    tasks = sorted({c.task for c in changes})
    if not tasks:
        ran = len(result.tasks)
        return f"{result.playbook}: {'would change' if check else 'changed'} nothing ({ran} task{'s' if ran != 1 else ''} ran)"
    verb = "would change" if check else "changed"
    return f"{result.playbook}: {verb} {len(tasks)} task{'s' if len(tasks) != 1 else ''}: {', '.join(tasks)}"


def _pg_cancel_summary(result: PlaybookResult, changes: list[Change], check: bool) -> str:
    facts = result.facts.get("pg_cancel")
    if not isinstance(facts, dict):  # e.g. dropped for size: say so rather than "nothing to cancel"
        return _generic_summary(result, changes, check) + " (no pg_cancel result published)"
    minutes = facts.get("older_than_minutes", "?")
    candidates: list[dict[str, Any]] = facts.get("candidates") or []
    bound = f"running > {minutes} min"
    if not candidates:
        return f"no query {bound}: nothing to cancel"
    if check:
        chosen = candidates
    else:
        cancelled = {int(p) for p in facts.get("cancelled") or []}
        chosen = [q for q in candidates if int(q.get("pid", -1)) in cancelled]
        if not chosen:
            return f"found {_queries(len(candidates))} {bound}, none still running to cancel"
    listed = ", ".join(f"pid {q.get('pid')} ({q.get('duration', '?')})" for q in chosen)
    return f"{'would cancel' if check else 'cancelled'} {_queries(len(chosen))} {bound}: {listed}"


def _queries(n: int) -> str:
    return f"{n} quer{'y' if n == 1 else 'ies'}"


_SUMMARIES: dict[str, Callable[[PlaybookResult, list[Change], bool], str]] = {
    "pg_cancel_long_queries": _pg_cancel_summary,
}
"""One-line summaries for playbooks that publish what they did; the others get the changed tasks."""


def _details(facts: dict[str, Any]) -> dict[str, str]:
    """What the playbook published, flattened one level (`pg_cancel.cancelled`), each value bounded."""
    flat: dict[str, str] = {}
    for key, value in facts.items():
        items = value.items() if isinstance(value, dict) else [("", value)]
        for sub, item in items:
            if len(flat) >= 18:
                return flat
            text = item if isinstance(item, str) else json.dumps(item, sort_keys=True, default=str)
            flat[_cut(f"{key}.{sub}" if sub else str(key), 100)] = _cut(text, _DETAIL_TEXT)
    return flat


def _cut(text: str, limit: int) -> str:
    """At most `limit` characters and `limit` UTF-8 bytes, marked when cut."""
    if len(text) <= limit and len(text.encode()) <= limit:
        return text
    data = text.encode()[: limit - 3].decode(errors="ignore")
    return data[: limit - 3] + "..."
