"""Slack endpoints of the intake (issue #15): filled in on the `chat-slack` branch."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Request

from warroom.chat.desk import ChatDesk
from warroom.chat.settings import ChatSettings


def router(desk: ChatDesk, settings: ChatSettings, body: Callable[[Request], Awaitable[bytes]]) -> APIRouter:
    """The /slack/* routes."""
    return APIRouter(prefix="/slack", tags=["chat"])
