#!/usr/bin/python
"""Ansible module: run one acting command (argv, no shell), or under `--check` only say what it would do.

`ansible.builtin.command` is skipped under `--check` and reports no diff, so a preview could not tell
"would act" from "nothing to do". This module takes the playbook's own account of the change
(`before`/`after`, rendered from a read that ran with `check_mode: false`) and reports it as the
task's `diff`, `changed` when `act` is true: the `--check --diff` run shows the change, the real run
makes it. With `act: false` it does nothing and reports `ok`.
"""

from __future__ import annotations

DOCUMENTATION = r"""
module: warroom_act
short_description: Run an acting command, or describe it under check mode
options:
  argv: {type: list, elements: str, required: true, description: the command, no shell}
  stdin: {type: str, default: '', description: fed to the command's standard input}
  act: {type: bool, default: true, description: false means there is nothing to do}
  before: {type: str, default: '', description: the diff's before text}
  after: {type: str, default: '', description: the diff's after text}
"""

from ansible.module_utils.basic import AnsibleModule


def main():
    module = AnsibleModule(
        argument_spec={
            "argv": {"type": "list", "elements": "str", "required": True},
            "stdin": {"type": "str", "default": ""},
            "act": {"type": "bool", "default": True},
            "before": {"type": "str", "default": ""},
            "after": {"type": "str", "default": ""},
        },
        supports_check_mode=True,
    )
    params = module.params
    if not params["act"]:
        module.exit_json(changed=False, msg="nothing to do")
    diff = {"before": params["before"], "after": params["after"]}
    if module.check_mode:
        module.exit_json(changed=True, diff=diff, msg="would run (check mode)", rc=0, stdout="")
    rc, stdout, stderr = module.run_command(params["argv"], data=params["stdin"] or None)
    if rc != 0:
        module.fail_json(msg=(stderr or stdout).strip()[:500] or f"rc {rc}", rc=rc, stdout=stdout, stderr=stderr)
    module.exit_json(changed=True, diff=diff, rc=rc, stdout=stdout, stderr=stderr)


if __name__ == "__main__":
    main()
