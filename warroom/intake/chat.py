"""The chat endpoints on the intake app: `/slack/*` and `/mattermost/*`, one `ChatDesk` behind both.

The desk reaches Temporal through the intake's own client (connected on first use), and knows
people through the roster file (WARROOM_ONCALL): read once at start, so a bad file stops start-up.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request

from warroom.chat.desk import ChatDesk
from warroom.chat.identity import ChatRoster
from warroom.config import RunbookConfig
from warroom.errors import ConfigInvalid, ConnectionFailed
from warroom.incidents import Incidents
from warroom.intake import mattermost, slack
from warroom.intake.bodies import read_body
from warroom.intake.recorder import Recorder, TemporalUnavailable
from warroom.intake.settings import IntakeSettings
from warroom.oncall.load import OncallError

BodyReader = Callable[[Request], Awaitable[bytes]]


def desk_for(settings: IntakeSettings, recorder: Recorder, runbook: RunbookConfig | None = None) -> ChatDesk:
    try:
        roster = ChatRoster.from_file(settings.temporal.oncall)
    except (OncallError, OSError) as exc:
        raise ConfigInvalid(f"WARROOM_ONCALL: {exc}") from None

    async def incidents() -> Incidents:
        try:
            return Incidents(await recorder.client(), timeout=settings.temporal_timeout)
        except TemporalUnavailable as exc:
            raise ConnectionFailed(f"Temporal is unavailable ({exc}); try again in a minute") from None

    return ChatDesk(incidents, roster, runbook=runbook, task_queue=settings.temporal.task_queue)


def mount(app: FastAPI, settings: IntakeSettings, recorder: Recorder, runbook: RunbookConfig) -> ChatDesk:
    """Add the chat routes; each platform's routes refuse (403) until its secret is configured."""
    desk = desk_for(settings, recorder, runbook)

    async def body(request: Request) -> bytes:
        return await read_body(request, settings.body_limit, settings.body_timeout)

    app.include_router(slack.router(desk, settings.chat, body))
    app.include_router(mattermost.router(desk, settings.chat, body))
    return desk
