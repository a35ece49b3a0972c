"""One playbook run: validated, run through ansible-runner in a private directory, judged.

Each run gets a fresh private directory (a `TemporaryDirectory`, removed afterwards, also after a
cancel) with `suppress_env_files=True`, so nothing of one run leaks into the next and no variable
is written to `env/`. Ansible's own temp dirs (`ANSIBLE_LOCAL_TEMP`, `ANSIBLE_REMOTE_TEMP` for
local hosts, `TMPDIR`) point inside it. Secrets (a PostgreSQL password, named by the request, held
by the worker's settings) reach the child only through its environment; ansible-runner's `command`
artifact, which records that environment, is deleted as soon as the child starts.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from temporalio import activity
from temporalio.exceptions import CancelledError

from activities.ansible.errors import (
    AnsibleError,
    HostUnreachable,
    PlaybookInvalid,
    PlaybookTimeout,
    TaskFailed,
    describe,
)
from activities.ansible.inventory import is_local, prepare_inventory
from activities.ansible.monitor import EXCERPT, Change, RunMonitor
from activities.ansible.process import terminate
from activities.ansible.settings import AnsibleSettings
from activities.ansible.vars import EXTRA_SPEC, PLAYBOOK_NAME, SPECS, PgConnectionVars, ServiceLogsVars, Spec
from warroom.contracts.ansible import PlaybookRequest, PlaybookResult
from warroom.telemetry import tracing


@dataclass(frozen=True)
class Prepared:
    """A validated run, before it starts: what `_execute` needs, and what a preview may show."""

    name: str
    project_dir: Path
    target: str
    extravars: dict[str, Any]
    secrets: dict[str, str] = field(repr=False)
    timeout: float


class Runner:
    """Runs allow-listed playbooks with the worker's settings; `PlaybookRunner` adds the activities."""

    def __init__(self, settings: AnsibleSettings | None = None) -> None:
        self.settings = settings or AnsibleSettings()
        self._inventory, self._hosts = prepare_inventory(self.settings.inventory)

    def playbooks(self) -> list[str]:
        """Names a request may ask for: the public playbooks, then the worker's extra ones."""
        return sorted(SPECS) + sorted(n for n in self._extra_playbooks() if n not in SPECS)

    def run(self, req: PlaybookRequest) -> PlaybookResult:
        """Validate, run and judge one playbook. Raises a `PlaybookError` or `CancelledError`.

        Usable outside an activity too (no heartbeats, no cancellation then), e.g. by the benchmark.
        """
        return self.execute(self.prepare(req))[0]

    def execute(self, prepared: Prepared, *, check: bool = False) -> tuple[PlaybookResult, list[Change]]:
        """Run a prepared playbook, and the tasks that changed; `check` runs it with `--check --diff`."""
        if activity.in_activity() and activity.is_cancelled():
            raise CancelledError("cancelled before the playbook started")
        p = prepared
        with tracing.span("ansible playbook " + p.name, _span_attributes(p, check)) as span:
            result, changes = self._execute(p.name, p.project_dir, p.target, p.extravars, p.secrets, p.timeout, check)
            span.set_attribute("ansible.rc", result.rc if result.rc is not None else -1)
            span.set_attribute("ansible.tasks", len(result.tasks))
            span.set_attribute("ansible.changed", len(changes))
            return result, changes

    def prepare(self, req: PlaybookRequest) -> Prepared:
        """Everything checked (name, target, extravars, credential, timeout); raises `PlaybookInvalid`."""
        project_dir, spec = self._resolve(req.playbook)
        target = self._check_target(req.target, spec)
        try:
            checked = spec.vars_model.model_validate(req.extravars)
        except ValidationError as exc:
            raise PlaybookInvalid(f"extravars for {req.playbook!r} refused: {describe(exc)}") from None
        timeout = req.timeout_seconds if req.timeout_seconds is not None else spec.timeout(checked)
        if not 0 < timeout <= self.settings.max_timeout_seconds:
            raise PlaybookInvalid(f"timeout_seconds must be in (0, {self.settings.max_timeout_seconds:g}]")
        extravars, secrets = self._extravars(checked)
        extravars["warroom_target"] = target
        return Prepared(req.playbook, project_dir, target, extravars, secrets, timeout)

    def _extra_playbooks(self) -> dict[str, Path]:
        root = self.settings.extra_playbook_dir
        if root is None or not root.is_dir():
            return {}
        return {p.stem: root for p in root.glob("*.yml") if PLAYBOOK_NAME.fullmatch(p.stem)}

    def _resolve(self, name: str) -> tuple[Path, Spec]:
        if not isinstance(name, str) or not PLAYBOOK_NAME.fullmatch(name):
            raise PlaybookInvalid("a playbook is named by lower-case letters, digits and '_' (no path, no .yml)")
        if name in SPECS:
            project_dir, spec = self.settings.playbook_dir, SPECS[name]
        elif name in (extra := self._extra_playbooks()):
            project_dir, spec = extra[name], EXTRA_SPEC
        else:
            raise PlaybookInvalid(f"unknown playbook {name!r}; known: {', '.join(self.playbooks())}")
        if not (project_dir / f"{name}.yml").is_file():
            raise PlaybookInvalid(f"playbook {name!r} is not installed in {project_dir}")
        return project_dir, spec

    def _check_target(self, target: str, spec: Spec) -> str:
        if not isinstance(target, str) or target not in self._hosts:
            raise PlaybookInvalid(f"target must be a host of the worker's inventory ({', '.join(sorted(self._hosts))})")
        if spec.local_only and not is_local(target, self._hosts[target]):
            raise PlaybookInvalid("this playbook runs on the worker's own host only (target 'localhost')")
        return target

    def _extravars(self, checked: BaseModel) -> tuple[dict[str, Any], dict[str, str]]:
        extravars = checked.model_dump(mode="json")
        secrets: dict[str, str] = {}
        if isinstance(checked, ServiceLogsVars):
            extravars["log_file"] = checked.log_file or f"{checked.service}.log"
            extravars["warroom_log_root"] = str(self.settings.log_root)
        elif isinstance(checked, PgConnectionVars):
            credential = extravars.pop("credential")
            if credential is not None:
                if credential not in self.settings.credentials:
                    raise PlaybookInvalid(f"no credential {credential!r} in the worker's settings")
                secrets["PGPASSWORD"] = self.settings.credentials[credential].get_secret_value()
        return extravars, secrets

    def _execute(
        self,
        name: str,
        project_dir: Path,
        target: str,
        extravars: dict[str, Any],
        secrets: dict[str, str],
        timeout: float,
        check: bool = False,
    ) -> tuple[PlaybookResult, list[Change]]:
        import ansible_runner  # here, not at import: a worker that runs no playbook never loads it

        started = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="warroom-ansible-", dir=self.settings.temp_root) as tmp:
            run_dir = Path(tmp)
            for sub in ("tmp", "local", "remote", "async", "env"):
                (run_dir / sub).mkdir()
            # With suppress_env_files=True, ansible-runner 2.4 drops the `settings` argument unless
            # env/settings exists (RunnerConfig.prepare_env), so write the (secret-free) file ourselves.
            (run_dir / "env" / "settings").write_text(
                json.dumps({"pexpect_timeout": self.settings.poll_seconds, "suppress_ansible_output": True})
            )
            envvars = {
                "PATH": f"{self.settings.ansible_bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
                "TMPDIR": str(run_dir / "tmp"),
                "ANSIBLE_LOCAL_TEMP": str(run_dir / "local"),
                "ANSIBLE_REMOTE_TEMP": str(run_dir / "remote"),
                "ANSIBLE_ASYNC_DIR": str(run_dir / "async"),
                "ANSIBLE_NOCOLOR": "1",
                # No ControlPersist master outliving the run; no prompt that would hang it.
                "ANSIBLE_SSH_ARGS": "-o ControlMaster=no -o BatchMode=yes",
                "ANSIBLE_TIMEOUT": "10",
                "PYTHONDONTWRITEBYTECODE": "1",
                **secrets,
            }
            monitor = RunMonitor(run_dir, timeout, self.settings.cancel_grace_seconds)
            try:
                runner = ansible_runner.run(
                    private_data_dir=tmp,
                    project_dir=str(project_dir),
                    playbook=f"{name}.yml",
                    inventory=self._inventory,
                    extravars=extravars,
                    envvars=envvars,
                    ident="run",
                    suppress_env_files=True,
                    quiet=True,
                    event_handler=monitor.on_event,
                    cancel_callback=monitor.poll,
                    status_handler=_drop_command_file,
                    cmdline="--check --diff" if check else None,
                )
            except BaseException:
                terminate(run_dir, self.settings.cancel_grace_seconds)  # never leave a run behind us
                raise
            if monitor.stop_reason is not None and not monitor.terminated:
                terminate(run_dir, self.settings.cancel_grace_seconds)
        result = monitor.result(name, target, runner.rc, time.monotonic() - started)
        return _judge(result, monitor.stop_reason, runner.rc, timeout), monitor.changes


def _span_attributes(p: Prepared, check: bool) -> dict[str, Any]:
    """The run's span: the playbook, its target, the mode and the names of its extravars; never their
    values (a target's log file, a host name are harmless, but a value is not ours to judge) nor secrets."""
    return {
        "ansible.playbook": p.name,
        "ansible.target": p.target,
        "ansible.check_mode": check,
        "ansible.extravars": sorted(p.extravars),
        "ansible.timeout_seconds": p.timeout,
    }


def _drop_command_file(status: dict[str, Any], runner_config: Any) -> None:
    """ansible-runner writes `artifacts/<ident>/command` with the child's full environment (the
    worker's own variables, PGPASSWORD) just before it reports `running`: remove it at once."""
    if status.get("status") == "running":
        try:
            os.unlink(os.path.join(runner_config.artifact_dir, "command"))
        except OSError:
            pass


def _judge(result: PlaybookResult, stop_reason: str | None, rc: int | None, timeout: float) -> PlaybookResult:
    if stop_reason == "cancelled":
        raise CancelledError(f"playbook {result.playbook} cancelled; its processes are gone")
    if stop_reason == "timeout":
        raise PlaybookTimeout(f"playbook {result.playbook} exceeded {timeout:g}s and was stopped", result)
    if stop_reason is not None:
        raise AnsibleError(f"playbook {result.playbook} stopped: {stop_reason}", result)
    unreachable = [t for t in result.tasks if t.status == "unreachable"]
    if unreachable:
        first = unreachable[0]
        raise HostUnreachable(f"{first.host} unreachable at task {first.task!r}: {first.message}", result)
    failed = [t for t in result.tasks if t.status == "failed" and not t.ignored]
    if failed:
        first = failed[0]
        raise TaskFailed(f"task {first.task!r} failed on {first.host}: {first.message}", result)
    if rc == 0:
        return result
    errors = [m for m in result.messages if m.startswith(("[ERROR]", "ERROR!"))]
    tail = " | ".join(
        errors[-1:] + [m for m in result.messages[-3:] if m.startswith("Origin:")] or result.messages[-5:]
    )[:EXCERPT]
    if rc in (4, 5):  # ansible-playbook: parser error, bad or incomplete options
        raise PlaybookInvalid(f"playbook {result.playbook} refused by ansible (rc {rc}): {tail}", result)
    raise AnsibleError(f"ansible-playbook ended with rc {rc}: {tail}", result)
