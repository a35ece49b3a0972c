"""`warroom report`: fleet MTTx against the runbook's targets, from visibility queries and histories (#17)."""
