"""The worker's inventory: local hosts get the playbook's own interpreter, remote ones their own temp dir."""

from __future__ import annotations

import json
from typing import Any


def prepare_inventory(inventory: dict[str, Any]) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """A copy with the local interpreter set on local hosts, and every host's effective vars."""
    inventory = json.loads(json.dumps(inventory))
    hosts: dict[str, dict[str, Any]] = {}

    def walk(group: dict[str, Any], inherited: dict[str, Any]) -> None:
        group_vars = {**inherited, **(group.get("vars") or {})}
        for name, host_vars in (group.get("hosts") or {}).items():
            if host_vars is None:
                host_vars = group["hosts"][name] = {}
            merged = {**group_vars, **host_vars}
            if is_local(name, merged):
                # Interpreter discovery on localhost can pick a pyenv shim that does not exist.
                host_vars.setdefault("ansible_python_interpreter", "{{ ansible_playbook_python }}")
            else:
                # ANSIBLE_REMOTE_TEMP points into the local run directory; remote hosts keep their own.
                host_vars.setdefault("ansible_remote_tmp", "~/.ansible/tmp")
            hosts[name] = {**hosts.get(name, {}), **merged}
        for child in (group.get("children") or {}).values():
            walk(child or {}, group_vars)

    for group in inventory.values():
        walk(group or {}, {})
    return inventory, hosts


def is_local(name: str, host_vars: dict[str, Any]) -> bool:
    connection = host_vars.get("ansible_connection")
    return connection == "local" or (connection is None and name in ("localhost", "127.0.0.1", "::1"))
