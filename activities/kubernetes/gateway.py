"""`KubeGateway`: everything warroom does with a cluster, synchronous and thread-safe, one per worker.

The gateway keeps client-go's client-side budget (5 requests/s, bursts of 10) shared by every
activity of the worker, checks every name before it reaches a path or a selector, and raises
only `KubeError`s.
"""

from __future__ import annotations

from activities.kubernetes.diagnostics import Diagnostics
from activities.kubernetes.rollout import Rollouts


class KubeGateway(Diagnostics, Rollouts):
    """Diagnostics (pods, events, logs) and rollouts (status, history, undo, scale) on one ApiClient."""
