"""`warroom`: the runbook from the terminal, for the people on call.

Every command that acts is a workflow update: the incident's validators decide, so the CLI
stays thin and a rejection ("only the Incident Commander (alice) may ...") reaches you before
anything is recorded. Errors people cause are one readable line and an exit code, never a
traceback: 1 rejected, 2 bad input or unknown incident, 3 Temporal unreachable.

One module per group of commands, registered on the app in the order `warroom --help` lists them:
`serve` (run, worker, intake, drill, codec, search attributes), `incident` (declare, ack, assign,
severity, flags), `respond` (update, mitigation, resolution, PIR), `steps` (the catalog: steps, propose,
preview, approve, deny, cancel-step), `read` (status, list, audit, PIR draft), `oncall` (who is on call, gaps, overrides),
`runbook_cmd` (`runbook preview`, `runbook adopt`: another runbook for the incidents open now). `app` holds the app, settings and the error-to-exit-code mapping; `parsing`
and `render` what people type and read.
"""

from __future__ import annotations

from warroom.cli.app import app, main

# isort: off
# Each module registers its commands; `warroom --help` lists them in this order.
from warroom.cli import serve, incident, respond, steps, read, oncall, runbook_cmd, backtest, report  # noqa: F401

# isort: on
from warroom.cli.helptext import reflow_help

reflow_help(app)  # after every command is registered

__all__ = ["app", "main"]
