"""The runbook's vocabulary: severities, phases, roles, public statuses, step actions, the
incident's update and query names, and the duration type used in config."""

from __future__ import annotations

import re
from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer


class Severity(StrEnum):
    P1 = "P1"
    P2 = "P2"
    P3 = "P3"

    @property
    def rank(self) -> int:
        """1 is the most severe; used to tell an upgrade from a downgrade."""
        return int(self.value[1])


class Phase(StrEnum):
    DETECTION = "detection"
    DECLARE = "declare"
    COMMAND = "command"
    RESOLVE = "resolve"
    RETROSPECTIVE = "retrospective"
    CLOSED = "closed"


class Role(StrEnum):
    INCIDENT_COMMANDER = "incident_commander"
    OPERATIONS_LEAD = "operations_lead"
    COMMUNICATIONS_LEAD = "communications_lead"
    PIR_OWNER = "pir_owner"

    @classmethod
    def parse(cls, text: str) -> Role:
        """Accept the short names people type: ic, ops, comms, pir."""
        aliases = {
            "ic": cls.INCIDENT_COMMANDER,
            "ops": cls.OPERATIONS_LEAD,
            "comms": cls.COMMUNICATIONS_LEAD,
            "pir": cls.PIR_OWNER,
        }
        key = text.strip().lower().replace("-", "_")
        if key in aliases:
            return aliases[key]
        return cls(key)


class _Wire(StrEnum):
    """A closed set of strings on the wire. Its repr is the bare value, so a pydantic error about a
    `Literal` of members reads "Input should be 'investigating', 'identified' or 'monitoring'"."""

    def __repr__(self) -> str:
        return repr(self.value)


class PublicStatus(_Wire):
    """What the status page announces. People post the first three (`warroom update --public`);
    `resolved` goes out with the resolution."""

    INVESTIGATING = "investigating"
    IDENTIFIED = "identified"
    MONITORING = "monitoring"
    RESOLVED = "resolved"


class StepAction(_Wire):
    """What a step does. People propose the first four; warroom itself proposes `customer_email`
    (the Comms lead approves it)."""

    ESCALATE = "escalate"
    PAGE = "page"
    ROLLBACK = "rollback"
    CUSTOM = "custom"
    CUSTOMER_EMAIL = "customer_email"


class Update(StrEnum):
    """The incident workflow's updates, by wire name (pinned by tests/test_wire_names.py): what
    `warroom.incidents` sends and the Web UI's "Send an Update" lists."""

    ACKNOWLEDGE = "acknowledge"
    DECLARE = "declare"
    ASSIGN_ROLE = "assign_role"
    SET_SEVERITY = "set_severity"
    SET_FLAGS = "set_flags"
    POST_UPDATE = "post_update"
    PROPOSE_STEP = "propose_step"
    CANCEL_STEP = "cancel_step"
    APPROVE = "approve"
    DENY = "deny"
    MARK_MITIGATED = "mark_mitigated"
    RESOLVE = "resolve"
    COMPLETE_PIR = "complete_pir"
    COMPLETE_ACTION_ITEM = "complete_action_item"
    INGEST_ALERT = "ingest_alert"
    INGEST_ALERTS = "ingest_alerts"
    ADOPT_RUNBOOK = "adopt_runbook"


class Query(StrEnum):
    """The incident workflow's queries, by wire name."""

    STATE = "state"


_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def parse_duration(value: Any) -> Any:
    """Read "1h30m", "5m", "45s", "2d" or a number of seconds; leave timedeltas and ISO strings to pydantic."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return timedelta(seconds=value)
    if isinstance(value, str):
        text = value.strip().lower().replace(" ", "")
        match = _DURATION.match(text)
        if match and any(match.groups()):
            days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
            return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
        if not text.startswith("p"):
            raise ValueError(f"{value!r} is not a duration: write e.g. 30s, 5m, 4h, 1h30m or 2d")
    return value


def format_duration(value: timedelta) -> str:
    """The inverse of parse_duration, for people: 5400s -> "1h30m"."""
    total = int(value.total_seconds())
    if total == 0:
        return "0s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if total >= size:
            parts.append(f"{total // size}{unit}")
            total %= size
    return "".join(parts)


def spell_duration(value: timedelta) -> str:
    """A duration as the runbook's scripts say it: 900s -> "15 minutes", 5400s -> "1 hour 30 minutes"."""
    total = int(value.total_seconds())
    if total == 0:
        return "0 seconds"
    parts = []
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        count, total = divmod(total, size)
        if count:
            parts.append(f"{count} {unit}{'' if count == 1 else 's'}")
    return " ".join(parts)


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
]
