"""Runbook backtesting: replay past incidents under a changed runbook and show what would differ.

Every past incident is a Temporal history holding every input its runbook saw: the alerts and the
people's updates with their times and identities, and every activity's result (Prometheus and
Kubernetes readings, playbook runs). A backtest re-runs the incident's workflows on the
time-skipping test server under the new runbook, sends the recorded inputs at their recorded
offsets, and answers each activity with its recorded result (sending nothing anywhere). What it
needs that was never recorded is answered "not recorded" and reported, never guessed.

    models     Recording, Decision, Difference, Divergence, IncidentBacktest, BacktestReport
    recording  histories → Recording (the inputs) and → decisions (what the runbook did, when)
    replay     Recording + runbook → the backtest's histories, on the time-skipping server
    compare    decisions before/after → differences; the aggregate; formats; --fail-on
"""
