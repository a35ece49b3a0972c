"""`KubeGateway`: everything warroom does with a cluster, synchronous and thread-safe, one per worker.

The gateway keeps client-go's client-side budget (5 requests/s, bursts of 10) shared by every
activity of the worker, checks every name before it reaches a path or a selector, and raises
only `KubeError`s.
"""

from __future__ import annotations

from activities.kubernetes.diagnostics import Diagnostics
from activities.kubernetes.rollout import Rollouts
from activities.kubernetes.usage import Usage


class KubeGateway(Diagnostics, Rollouts, Usage):
    """Diagnostics (pods, events, logs), rollouts (status, history, undo, scale) and resource usage
    (`kubectl top`, node allocation) on one ApiClient."""
