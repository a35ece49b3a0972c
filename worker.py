"""The warroom worker, as the design card's entry point: `python worker.py` is exactly `warroom worker`.

What it registers lives in `workflows/registry.py` and `activities/registry.py`; how it is built
from the settings and run, in `warroom/worker.py`.
"""

from __future__ import annotations

from warroom.worker import build_worker, prepare, run_worker

__all__ = ["build_worker", "prepare", "run_worker"]

if __name__ == "__main__":
    # Exactly `warroom worker`: a bad WARROOM_* value is one line naming it (exit 2), an unreachable
    # Temporal exit 3; never a traceback, which would also print the value, secrets included.
    import sys

    from warroom.cli import main

    sys.argv[1:1] = ["worker"]
    main()
