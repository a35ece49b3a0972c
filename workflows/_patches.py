"""`patched`: `workflow.patched` with the patch bundle (warroom.patches), the only way workflows ask.

A new run asks for the bundle the first time it asks for a bundled id: one marker, and every
bundled id is on. A history recorded before the bundle replays with the bundle off (the SDK answers
False for a marker the history lacks, and keeps that answer for the run), so each id is asked for
on its own, command for command as it was written. A run recorded before the bundle that asks for
its first bundled id only now, live, takes the bundle: every id it has not asked for yet is new to
it, so it would have taken each one anyway.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from warroom.patches import BUNDLE, BUNDLED


def patched(patch_id: str) -> bool:
    """Whether this run follows the change `patch_id` names (see the module docstring)."""
    if patch_id in BUNDLED and workflow.patched(BUNDLE):
        return True
    return workflow.patched(patch_id)
