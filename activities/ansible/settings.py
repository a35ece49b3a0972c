"""How the worker runs playbooks. Paths and secrets live here, never in activity input."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr


def default_playbook_dir() -> Path:
    """The checkout's playbooks/ (editable install, tests), else ./playbooks (the image's /app)."""
    beside = Path(__file__).resolve().parents[2] / "playbooks"
    return beside if beside.is_dir() else Path.cwd() / "playbooks"


class AnsibleSettings(BaseModel):
    """Worker configuration, never activity input: where playbooks are, the inventory, credentials."""

    model_config = ConfigDict(extra="forbid")

    playbook_dir: Path = Field(default_factory=default_playbook_dir)
    extra_playbook_dir: Path | None = Field(None, description="more playbooks by name (tests, site-specific)")
    inventory: dict[str, Any] = Field(
        default_factory=lambda: {"all": {"hosts": {"localhost": {"ansible_connection": "local"}}}},
        description="ansible-runner's dict form; targets must be hosts in it",
    )
    log_root: Path = Path("/var/log")
    temp_root: Path | None = Field(None, description="parent of each run's private directory (default: TMPDIR)")
    credentials: dict[str, SecretStr] = Field(default_factory=dict, description="PostgreSQL passwords by name")
    max_timeout_seconds: float = 3600.0
    cancel_grace_seconds: float = 3.0
    poll_seconds: float = 1.0
    ansible_bin_dir: Path = Field(default_factory=lambda: Path(sys.executable).parent)
