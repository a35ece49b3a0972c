"""deploy/kubernetes as `kubectl kustomize` renders it, and what its RBAC grants the worker.

A grant is a (scope, API group, resource[/subresource], verb) atom: scope is a namespace for a
Role's rules (bound by a RoleBinding there) and "" for a ClusterRole's bound cluster-wide, which
is what a request to a cluster-scoped resource or across all namespaces needs.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from sandbox.cluster.authz import Attributes

ROOT = Path(__file__).resolve().parents[2]
KUSTOMIZATION = ROOT / "deploy" / "kubernetes"
SECRET_EXAMPLE = KUSTOMIZATION / "secret.example.yaml"
APP_NAMESPACE = "warroom"
WORKER_ACCOUNT = "warroom-worker"
TARGET_NAMESPACE = "production"
"""Where rbac-target.yaml binds the worker's Role: the namespace whose Deployments it looks after."""

Obj = dict[str, Any]
Grant = tuple[str, str, str, str]  # (scope, group, resource, verb)


@functools.cache
def _rendered() -> str:
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl is not installed (tests/system.py)"
    return subprocess.run(
        [kubectl, "kustomize", str(KUSTOMIZATION)], capture_output=True, text=True, check=True, timeout=60
    ).stdout


def render() -> list[Obj]:
    """Every object of the kustomization, freshly parsed (callers may change their copy)."""
    return [doc for doc in yaml.safe_load_all(_rendered()) if doc]


def one(docs: list[Obj], kind: str, name: str) -> Obj:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def _binds_worker(binding: Obj) -> bool:
    return any(
        s.get("kind") == "ServiceAccount" and s.get("name") == WORKER_ACCOUNT and s.get("namespace") == APP_NAMESPACE
        for s in binding.get("subjects") or []
    )


def worker_grants(docs: list[Obj]) -> set[Grant]:
    """Every atom the worker's ServiceAccount is granted, through its bindings."""
    roles = {(d["kind"], d["metadata"].get("namespace", ""), d["metadata"]["name"]): d for d in docs}
    grants: set[Grant] = set()
    for binding in docs:
        if binding["kind"] not in ("RoleBinding", "ClusterRoleBinding") or not _binds_worker(binding):
            continue
        scope = binding["metadata"].get("namespace", "") if binding["kind"] == "RoleBinding" else ""
        ref = binding["roleRef"]
        role = roles.get((ref["kind"], scope if ref["kind"] == "Role" else "", ref["name"]))
        assert role is not None, f"{binding['kind']} {binding['metadata']['name']} refers to a missing {ref}"
        for rule in role.get("rules") or []:
            assert not rule.get("resourceNames") and not rule.get("nonResourceURLs"), rule
            for group in rule["apiGroups"]:
                for resource in rule["resources"]:
                    for verb in rule["verbs"]:
                        assert "*" not in (group, resource, verb), f"wildcard in {role['metadata']['name']}: {rule}"
                        grants.add((scope, group, resource, verb))
    return grants


def needed(requests: Iterable[Attributes], target: str) -> set[Grant]:
    """The atoms the requests need, with the namespace the test used (`target`) standing for the
    one the Role is bound in; `default` keeps its own scope (a Node's events live there)."""
    atoms: set[Grant] = set()
    for r in requests:
        scope = TARGET_NAMESPACE if r.namespace == target else r.namespace
        atoms.add((scope, r.group, r.resource, r.verb))
    return atoms


def granted(grants: set[Grant], r: Attributes) -> bool:
    """Whether a request in any namespace would be allowed, the Role being bound there: as the
    authorizer decides (a cluster-wide grant covers every namespace)."""
    atoms = {(scope, r.group, r.resource, r.verb) for scope in ("", TARGET_NAMESPACE)}
    if r.namespace == "default":
        atoms.add(("default", r.group, r.resource, r.verb))
    return bool(atoms & grants) if r.namespace else ("", r.group, r.resource, r.verb) in grants


def describe(atoms: Iterable[Grant]) -> str:
    lines = []
    for scope, group, resource, verb in sorted(atoms):
        where = f"in namespace {scope}" if scope else "cluster-wide"
        lines.append(f"{verb} {resource}{'.' + group if group else ''} {where}")
    return "; ".join(lines)


def differences(used: set[Grant], grants: set[Grant]) -> list[str]:
    """What the Role lacks and what it grants beyond use, each named; [] when they are the same."""
    problems = []
    if used - grants:
        problems.append(f"missing from the worker's RBAC: {describe(used - grants)}")
    if grants - used:
        problems.append(f"granted but never used by an activity: {describe(grants - used)}")
    return problems
