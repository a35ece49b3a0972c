"""Ansible activities: allow-listed playbooks through ansible-runner, durable and leaving nothing behind.

Inputs are never trusted: a playbook is chosen by name from `playbooks/` (or from an extra
directory the *worker* is configured with, never from activity input), and its extravars go
through the playbook's pydantic model (vars.py: allow-lists and length limits) before anything
runs. runner.py runs and judges one playbook in a private directory; monitor.py turns
ansible-runner's callbacks into heartbeats, cancellation and the timeout; process.py stops a run's
whole process tree; steps.py makes a playbook a catalog step (a `--check --diff` preview, then the
real run); activities.py registers each activity under its contract's name
(`warroom.contracts.ansible`, which also holds the request and response models and the failure
types, and `warroom.contracts.steps` for the two step activities). Errors (errors.py) carry their retry meaning in their type.
"""

from activities.ansible.activities import PlaybookRunner
from activities.ansible.errors import (
    AnsibleError,
    HostUnreachable,
    PlaybookError,
    PlaybookInvalid,
    PlaybookTimeout,
    TaskFailed,
)
from activities.ansible.settings import AnsibleSettings, default_playbook_dir
from activities.ansible.vars import (
    ExtraVars,
    HostDiagnosticsVars,
    NoopVars,
    PgCancelVars,
    PostgresHealthVars,
    ServiceLogsVars,
)

__all__ = [
    "AnsibleError",
    "AnsibleSettings",
    "ExtraVars",
    "HostDiagnosticsVars",
    "HostUnreachable",
    "NoopVars",
    "PgCancelVars",
    "PlaybookError",
    "PlaybookInvalid",
    "PlaybookRunner",
    "PlaybookTimeout",
    "PostgresHealthVars",
    "ServiceLogsVars",
    "TaskFailed",
    "default_playbook_dir",
]
