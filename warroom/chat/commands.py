"""`/incident <command> [ID] [args] [--option value]`: the CLI's commands, typed in chat.

The arguments and option names are the CLI's (`warroom approve ID STEP --reason ... --preview ...`),
and so are the requests they build: the same pydantic models, so the same bounds. In an incident's
channel the incident id may be left out. Parsing is pure and strict: an unknown command, option or
extra word is an error that says what was expected, and nothing is sent.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass, field

from pydantic import BaseModel, ValidationError

from warroom.contracts.chat import ChatInputError
from warroom.enums import Role, Severity, Update
from warroom.models import (
    Acknowledge,
    AssignRole,
    Declare,
    MarkMitigated,
    Resolve,
    StatusUpdate,
    StepDecision,
)

TEXT_LIMIT = 3000
"""Longer than any command people type; Slack sends at most 4,000 characters of command text."""
_QUOTES = str.maketrans({"“": '"', "”": '"', "‘": "'", "’": "'"})
"""Chat clients turn quotes into typographic ones; shlex needs plain ones."""


@dataclass(frozen=True)
class Spec:
    """One command: its positional words (after the optional incident id), options and flags."""

    positionals: tuple[str, ...] = ()
    options: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()
    required: tuple[str, ...] = ()
    usage: str = ""
    help: str = ""
    update: Update | None = None
    build: Callable[[str, dict[str, str], dict[str, bool], list[str]], BaseModel] | None = field(default=None)


def _role(word: str) -> Role:
    try:
        return Role.parse(word)
    except ValueError:
        raise ChatInputError(f"{word[:40]!r} is not a role: ic, ops, comms or pir") from None


def _severity(word: str | None) -> Severity | None:
    if word is None:
        return None
    try:
        return Severity(word.strip().upper())
    except ValueError:
        raise ChatInputError(f"{word!r} is not a severity: P1, P2 or P3") from None


def _float(name: str, word: str | None) -> float | None:
    if word is None:
        return None
    try:
        return float(word.rstrip("%"))
    except ValueError:
        raise ChatInputError(f"--{name} takes a number, e.g. 8 (percent), not {word!r}") from None


COMMANDS: dict[str, Spec] = {
    "help": Spec(positionals=("command?",), usage="help [COMMAND]", help="what each command does"),
    "status": Spec(usage="status [ID]", help="the incident's phase, roles, steps and next deadlines"),
    "declare": Spec(
        options=("severity", "reason", "service", "summary", "commander"),
        usage="declare [ID] [--severity P1|P2|P3] [--reason TEXT]  or  declare --service S --severity P --summary TEXT",
        help="declare an incident an alert opened (still in Detection), or open a new one",
        update=Update.DECLARE,
        build=lambda who, o, f, p: Declare(
            by=who, severity=_severity(o.get("severity")), reason=o.get("reason") or "declared from chat"
        ),
    ),
    "ack": Spec(
        flags=("take-command",),
        usage="ack [ID] [--take-command]",
        help="acknowledge the page (--take-command: also take command as IC)",
        update=Update.ACKNOWLEDGE,
        build=lambda who, o, f, p: Acknowledge(by=who, take_command=f.get("take-command", False)),
    ),
    "assign": Spec(
        positionals=("ROLE", "PERSON"),
        usage="assign [ID] ROLE PERSON",
        help="give a role (ic, ops, comms, pir) to someone",
        update=Update.ASSIGN_ROLE,
        build=lambda who, o, f, p: AssignRole(role=_role(p[0]), person=p[1], by=who),
    ),
    "update": Spec(
        options=("error-rate", "hypothesis", "next-action", "owner", "eta", "public", "public-message"),
        usage="update [ID] [--error-rate N] [--hypothesis T] [--next-action T] [--owner P] [--eta T] "
        "[--public STATUS --public-message T]",
        help="post the 15-minute update",
        update=Update.POST_UPDATE,
        build=lambda who, o, f, p: StatusUpdate(
            by=who,
            error_rate=_float("error-rate", o.get("error-rate")),
            hypothesis=o.get("hypothesis", ""),
            next_action=o.get("next-action", ""),
            owner=o.get("owner"),
            eta=o.get("eta", ""),
            public_status=o.get("public", "").strip().lower() or None,
            public_message=o.get("public-message", ""),
        ),
    ),
    "approve": Spec(
        positionals=("STEP",),
        options=("reason", "preview"),
        usage="approve [ID] STEP [--preview DIGEST] [--reason TEXT]",
        help="approve a proposed step on the preview you saw",
        update=Update.APPROVE,
        build=lambda who, o, f, p: StepDecision(
            step_id=p[0], by=who, reason=o.get("reason") or "approved from chat", preview=o.get("preview")
        ),
    ),
    "deny": Spec(
        positionals=("STEP",),
        options=("reason",),
        required=("reason",),
        usage="deny [ID] STEP --reason TEXT",
        help="deny a proposed step; the reason stays in the timeline",
        update=Update.DENY,
        build=lambda who, o, f, p: StepDecision(step_id=p[0], by=who, reason=o["reason"]),
    ),
    "mitigated": Spec(
        options=("action",),
        required=("action",),
        usage="mitigated [ID] --action TEXT",
        help="mitigation applied (IC only); the clean-metrics window starts",
        update=Update.MARK_MITIGATED,
        build=lambda who, o, f, p: MarkMitigated(by=who, action=o["action"]),
    ),
    "resolve": Spec(
        options=("summary", "pir-owner", "override"),
        required=("summary",),
        usage="resolve [ID] --summary TEXT [--pir-owner P] [--override REASON]",
        help="declare resolution (IC only)",
        update=Update.RESOLVE,
        build=lambda who, o, f, p: Resolve(
            by=who, summary=o["summary"], pir_owner=o.get("pir-owner"), override=o.get("override")
        ),
    ),
}


@dataclass(frozen=True)
class ParsedCommand:
    """A command read from chat: which, about which incident (None: the channel's), and its words."""

    name: str
    spec: Spec
    incident: str | None
    positionals: list[str]
    options: dict[str, str]
    flags: dict[str, bool]

    def request(self, person: str) -> BaseModel:
        """The update's request as `person`; raises ChatInputError naming the bad argument."""
        assert self.spec.build is not None, "only acting commands build requests"
        try:
            return self.spec.build(person, self.options, self.flags, self.positionals)
        except ValidationError as exc:
            raise ChatInputError(f"{self.name}: {_problems(exc)} (usage: /incident {self.spec.usage})") from None


def _problems(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors()[:3]:
        where = ".".join(str(p) for p in error["loc"]) or "input"
        where = {"by": "you", "person": "PERSON", "step_id": "STEP", "public_status": "--public"}.get(
            where, "--" + where.replace("_", "-")
        )
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)


def parse(text: str) -> ParsedCommand:
    """`/incident`'s text → a ParsedCommand; raises ChatInputError with what was expected."""
    if len(text) > TEXT_LIMIT:
        raise ChatInputError(f"that command is over {TEXT_LIMIT} characters")
    if "\x00" in text:
        raise ChatInputError("that command contains a NUL character")
    try:
        words = shlex.split(text.translate(_QUOTES))
    except ValueError as exc:
        raise ChatInputError(f"could not read that command: {exc} (close your quotes)") from None
    if not words:
        words = ["help"]
    name, rest = words[0].lower(), words[1:]
    spec = COMMANDS.get(name)
    if spec is None:
        raise ChatInputError(f"unknown command {name[:40]!r}; one of: {', '.join(COMMANDS)} (try `/incident help`)")
    positionals: list[str] = []
    options: dict[str, str] = {}
    flags: dict[str, bool] = {}
    i = 0
    while i < len(rest):
        word = rest[i]
        if word.startswith("--"):
            key, eq, value = word[2:].partition("=")
            key = key.lower()
            if key in spec.flags and not eq:
                flags[key] = True
            elif key in spec.options:
                if not eq:
                    i += 1
                    if i >= len(rest):
                        raise ChatInputError(f"--{key} needs a value (usage: /incident {spec.usage})")
                    value = rest[i]
                options[key] = value
            else:
                raise ChatInputError(f"{name} has no option --{key[:40]} (usage: /incident {spec.usage})")
        else:
            positionals.append(word)
        i += 1
    if name == "help":
        return ParsedCommand(name, spec, None, positionals[:1], options, flags)
    wanted = len(spec.positionals)
    if len(positionals) == wanted + 1:
        incident: str | None = positionals[0]
        positionals = positionals[1:]
    elif len(positionals) == wanted:
        incident = None
    else:
        raise ChatInputError(f"{name} takes {' '.join(('[ID]', *spec.positionals))} (usage: /incident {spec.usage})")
    if missing := [f"--{r}" for r in spec.required if not options.get(r, "").strip()]:
        raise ChatInputError(f"{name} needs {', '.join(missing)} (usage: /incident {spec.usage})")
    return ParsedCommand(name, spec, incident, positionals, options, flags)


def help_text(command: str | None = None) -> str:
    """The `/incident help` text: every command with its usage, or one command's."""
    if command:
        spec = COMMANDS.get(command.lower())
        if spec is None:
            raise ChatInputError(f"unknown command {command[:40]!r}; one of: {', '.join(COMMANDS)}")
        return f"/incident {spec.usage}\n{spec.help}"
    lines = ["/incident COMMAND ... (in an incident's channel the ID may be left out)"]
    lines += [f"• /incident {spec.usage} — {spec.help}" for spec in COMMANDS.values()]
    return "\n".join(lines)
