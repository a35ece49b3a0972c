"""Activity contracts: what a workflow may ask of the world, apart from how it is done.

One module per family (`kubernetes`, `ansible`, `metrics`, `notify`) holds the request and
response models and one `ActivityContract` per activity: its wire name, types, timeouts and retry
policy, written once. Workflows import only these modules (no client library behind them) and call
through `workflows._activities.call`; the implementations in `activities/` register under
`contract.name`. `errors.ActivityFailure` is the one root of every activity's typed failures.
"""

from warroom.contracts.base import ActivityContract
from warroom.contracts.errors import ActivityFailure, NotConfigured, boundary

__all__ = ["ActivityContract", "ActivityFailure", "NotConfigured", "boundary"]
