"""warroom: the SRE incident runbook as durable Temporal workflows.

Domain code shared by workflows, activities and the CLI: models, the runbook config, the
runbook's policies as pure functions, message templates and the Temporal client settings.
"""

__version__ = "0.1.0"
