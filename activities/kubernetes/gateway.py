"""`KubeGateway`: everything warroom does with a cluster, synchronous and thread-safe, one per worker.

The gateway keeps client-go's client-side budget (5 requests/s, bursts of 10) shared by every
activity of the worker, checks every name before it reaches a path or a selector, and raises
only `KubeError`s.
"""

from __future__ import annotations

from activities.kubernetes.diagnostics import Diagnostics
from activities.kubernetes.steps import Steps
from activities.kubernetes.usage import Usage


class KubeGateway(Diagnostics, Steps, Usage):
    """Diagnostics (pods, events, logs), rollouts (status, history, undo, scale), the step catalog's
    steps (preview, apply) and resource usage (`kubectl top`, node allocation) on one ApiClient."""
