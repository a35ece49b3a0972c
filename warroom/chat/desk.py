"""The chat core: a verified chat request becomes one incident update, sent as a roster person.

Every act goes through `Incidents.act`, so the incident's validators decide exactly as for the
CLI and the Web UI; a refusal comes back as the validator's sentence and leaves no event.

Each act carries a Temporal update id derived from the chat action (the adapter's `key`: for a
button, the message, the button and the user; for a command, its trigger), so a double click or a
platform retry is the same update: the server runs it once and answers the repeat with the first
result. The id also names the chat user (`chat-slack-U0123ABC-…`), so the history records who
acted from where beside the roster name in `by`.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from pydantic import BaseModel, ValidationError

from warroom.chat.commands import ParsedCommand, help_text, parse
from warroom.chat.identity import ChatRoster
from warroom.config import RunbookConfig
from warroom.contracts.chat import ChatAction, ChatInputError, ChatOutcome, ChatUser
from warroom.enums import Severity, Update
from warroom.errors import IncidentExists, WarroomError
from warroom.incidents import Incidents, list_query
from warroom.models import Acknowledge, Declare, IncidentInput, IncidentState, StepDecision, UpdateResult

IncidentsFactory = Callable[[], Awaitable[Incidents]]
CHANNEL_CACHE_SECONDS = 15.0
"""How long the channel → incident map is trusted before a miss reads the open incidents again."""
OPEN_INCIDENTS_SCANNED = 200


def update_id(user: ChatUser, key: str) -> str:
    """`chat-<platform>-<user>-<24 hex>`: the same chat action always gives the same id."""
    digest = hashlib.sha256(f"{user.platform}\0{user.team_id or ''}\0{user.user_id}\0{key}".encode()).hexdigest()
    return f"chat-{user.platform}-{user.user_id}-{digest[:24]}"


def chat_origin(update_id: str) -> str | None:
    """`slack:U0123ABC` from an update id `update_id` made, for the audit; None for any other id."""
    parts = update_id.split("-", 3)
    if len(parts) == 4 and parts[0] == "chat" and parts[1] in ("slack", "mattermost"):
        return f"{parts[1]}:{parts[2]}"
    return None


class ChannelIndex:
    """Channel name → the open incident it belongs to (`state.channel`), read from the incidents
    themselves and cached briefly, so `/incident ack` in `#incident-2026-12-06-001` needs no id."""

    def __init__(self, incidents: IncidentsFactory, ttl: float = CHANNEL_CACHE_SECONDS) -> None:
        self._incidents = incidents
        self._ttl = ttl
        self._map: dict[str, str] = {}
        self._read_at = float("-inf")
        self._lock = asyncio.Lock()

    async def incident_in(self, channel_name: str) -> str | None:
        name = channel_name.strip().lstrip("#").lower()
        if not name:
            return None
        if name not in self._map or time.monotonic() - self._read_at > self._ttl:
            await self._refresh()
        return self._map.get(name)

    async def _refresh(self) -> None:
        async with self._lock:
            if time.monotonic() - self._read_at <= min(self._ttl, 2.0):
                return  # a concurrent miss just read them
            incidents = await self._incidents()
            rows = await incidents.list(list_query(open_=True), limit=OPEN_INCIDENTS_SCANNED)
            states = await asyncio.gather(*(incidents.state(r.incident_id) for r in rows), return_exceptions=True)
            self._map = {
                s.channel.lstrip("#").lower(): s.incident_id
                for s in states
                if isinstance(s, IncidentState) and s.channel
            }
            self._read_at = time.monotonic()


class ChatDesk:
    """Where chat adapters hand over verified requests."""

    def __init__(
        self,
        incidents: IncidentsFactory,
        roster: ChatRoster,
        channels: ChannelIndex | None = None,
        *,
        runbook: RunbookConfig | None = None,
        task_queue: str | None = None,
    ) -> None:
        self._incidents = incidents
        self.roster = roster
        self.channels = channels or ChannelIndex(incidents)
        self.runbook = runbook
        self.task_queue = task_queue

    async def press(self, user: ChatUser, action: ChatAction, key: str, reason: str | None = None) -> ChatOutcome:
        """A button on a warroom message. Deny without `reason` asks for one and sends nothing."""
        person = self.roster.person(user)
        if person is None:
            return ChatOutcome(ok=False, text=self.roster.refusal(user))
        platform = user.platform.title()
        request: BaseModel
        try:
            if action.kind == "ack":
                update, request = Update.ACKNOWLEDGE, Acknowledge(by=person)
            elif action.kind == "declare":
                update, request = (
                    Update.DECLARE,
                    Declare(by=person, severity=action.severity, reason=f"declared from {platform}"),
                )
            elif action.kind in ("approve", "approve_email"):
                update = Update.APPROVE
                request = StepDecision(
                    step_id=_step(action), by=person, reason=f"approved from {platform}", preview=action.digest
                )
            else:
                if not (reason or "").strip():
                    return ChatOutcome(ok=True, text="", needs_reason=True)
                update, request = Update.DENY, StepDecision(step_id=_step(action), by=person, reason=reason or "")
        except ValidationError as exc:
            return ChatOutcome(ok=False, text=f"that cannot be sent: {exc.errors()[0]['msg']}")
        except ChatInputError as exc:
            return ChatOutcome(ok=False, text=str(exc))
        outcome = await self._send(user, action.incident_id, update, request, key)
        if outcome.ok:
            outcome.decided = decided_line(action, person, user)
        return outcome

    async def command(self, user: ChatUser, text: str, key: str, channel_name: str | None = None) -> ChatOutcome:
        """`/incident ...` typed in `channel_name`. Help needs no roster entry; everything else does."""
        try:
            parsed = parse(text)
            if parsed.name == "help":
                return ChatOutcome(ok=True, text=help_text(parsed.positionals[0] if parsed.positionals else None))
        except ChatInputError as exc:
            return ChatOutcome(ok=False, text=str(exc))
        person = self.roster.person(user)
        if person is None:
            return ChatOutcome(ok=False, text=self.roster.refusal(user))
        try:
            if parsed.name == "declare" and parsed.options.get("service"):
                return await self._open(user, person, parsed, key)
            incident = await self._incident_of(parsed, channel_name)
            if parsed.name == "status":
                incidents = await self._incidents()
                return ChatOutcome(ok=True, text=status_text(await incidents.state(incident)))
            assert parsed.spec.update is not None
            request = parsed.request(person)
        except ChatInputError as exc:
            return ChatOutcome(ok=False, text=str(exc))
        except WarroomError as exc:
            return ChatOutcome(ok=False, text=_reason(exc))
        return await self._send(user, incident, parsed.spec.update, request, key)

    async def _open(self, user: ChatUser, person: str, parsed: ParsedCommand, key: str) -> ChatOutcome:
        """`/incident declare --service S --severity P --summary T`: a new incident, as `warroom declare`.
        Its id ends in a digest of the command, so a retried command finds the incident it opened."""
        if self.runbook is None or self.task_queue is None:
            raise ChatInputError("this intake cannot open incidents (no runbook or task queue configured)")
        if parsed.incident:
            raise ChatInputError("declare either an incident by ID, or a new one with --service, not both")
        options = parsed.options
        missing = [f"--{name}" for name in ("severity", "summary") if not options.get(name, "").strip()]
        if missing:
            raise ChatInputError(f"declare --service needs {', '.join(missing)} (usage: /incident {parsed.spec.usage})")
        service = options["service"].strip().lower()
        now = datetime.now(UTC)
        digest = update_id(user, key)[-6:]
        try:
            inp = IncidentInput(
                incident_id=f"{service}-{now:%Y%m%d}-{digest}",
                service=service,
                summary=options["summary"],
                runbook=self.runbook,
                severity=_severity_of(options["severity"]),
                declared=True,
                declared_by=person,
                commander=options.get("commander") or None,
            )
        except ValidationError as exc:
            raise ChatInputError(f"declare: {exc.errors()[0]['loc'][0]}: {exc.errors()[0]['msg']}") from None
        incidents = await self._incidents()
        try:
            await incidents.start(inp, self.task_queue)
        except IncidentExists:
            return ChatOutcome(ok=True, text=f"incident {inp.incident_id} is already declared (this command opened it)")
        return ChatOutcome(
            ok=True,
            text=f"{person} declared {inp.severity} incident {inp.incident_id}: {inp.summary} "
            f"(the channel, the IC page and every runbook timer follow)",
        )

    async def _incident_of(self, parsed: ParsedCommand, channel_name: str | None) -> str:
        if parsed.incident:
            return parsed.incident
        found = await self.channels.incident_in(channel_name) if channel_name else None
        if found is None:
            raise ChatInputError(
                f"name the incident: /incident {parsed.spec.usage} (this channel is not an open incident's)"
            )
        return found

    async def _send(self, user: ChatUser, incident: str, update: Update, request: BaseModel, key: str) -> ChatOutcome:
        try:
            incidents = await self._incidents()
            result: UpdateResult = await incidents.act(incident, update, request, update_id=update_id(user, key))
        except WarroomError as exc:
            return ChatOutcome(ok=False, text=_reason(exc))
        return ChatOutcome(ok=True, text=result.message, result=result)


def _severity_of(word: str) -> Severity:
    try:
        return Severity(word.strip().upper())
    except ValueError:
        raise ChatInputError(f"{word[:20]!r} is not a severity: P1, P2 or P3") from None


def _step(action: ChatAction) -> str:
    if action.step_id is None:
        raise ChatInputError("that button names no step")
    return action.step_id


def _reason(exc: WarroomError) -> str:
    reason = getattr(exc, "reason", None)
    return str(reason) if reason else str(exc)


def decided_line(action: ChatAction, person: str, user: ChatUser, reason: str | None = None) -> str:
    """What replaces a message's buttons once decided: what, by whom (name and chat id), when."""
    at = datetime.now(UTC).strftime("%H:%M UTC")
    what = {
        "ack": "Acknowledged",
        "declare": f"Declared {action.severity.value if action.severity else ''}".rstrip(),
        "approve": f"Step {action.step_id} approved" + (f" (preview {action.digest})" if action.digest else ""),
        "approve_email": f"Customer e-mail ({action.step_id}) approved",
        "deny": f"Step {action.step_id} denied",
    }[action.kind]
    mark = "✖" if action.kind == "deny" else "✔"
    because = f": {reason}" if reason else ""
    return f"{mark} {what} by {person} ({user.handle}) at {at}{because}"


def status_text(state: IncidentState) -> str:
    """`/incident status`: the few lines an IC reads in the channel (the CLI's `status` has the rest)."""
    roles = ", ".join(f"{r.value.replace('_', ' ')}: {p}" for r, p in state.roles.items()) or "no roles yet"
    lines = [
        f"{state.incident_id} · {state.severity.value if state.severity else 'not declared'} · {state.phase.value}"
        f" · {state.service}: {state.summary}",
        roles,
    ]
    pending = [s for s in state.steps if s.status in ("pending", "approved", "running")]
    for step in pending[:5]:
        digest = f" preview {step.preview_digest}" if step.preview_digest else ""
        lines.append(f"step {step.step_id} {step.action} {step.target}: {step.status}{digest}")
    for deadline in sorted(state.deadlines, key=lambda d: d.at)[:3]:
        lines.append(f"next: {deadline.kind} at {deadline.at:%H:%M} UTC")
    return "\n".join(lines)
