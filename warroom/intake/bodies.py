"""Reading a request body under a size limit and a deadline, and the error every gate raises.

Shared by the alert endpoints (`warroom.intake.app`) and the chat endpoints (`warroom.intake.slack`,
`warroom.intake.mattermost`): a body is read whole, bounded, before anything looks at it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import Request
from starlette.requests import ClientDisconnect


class Problem(Exception):
    def __init__(self, status: int, reason: str, detail: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(str(detail))
        self.status, self.reason, self.detail, self.headers = status, reason, detail, headers or {}


async def read_body(request: Request, limit: int, timeout: float) -> bytes:
    """The body, or 413 (over `limit`), 408 (not all there within `timeout`: a Content-Length
    larger than what is sent would otherwise hold the request open for as long as the sender
    likes), or 400 (the sender went away mid-body)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise Problem(413, "too_large", f"request body over {limit} bytes")
    body = bytearray()
    try:
        async with asyncio.timeout(timeout):
            async for chunk in request.stream():
                body += chunk
                if len(body) > limit:
                    raise Problem(413, "too_large", f"request body over {limit} bytes")
    except TimeoutError:
        raise Problem(
            408,
            "incomplete",
            f"request body not complete within {timeout:g}s ({len(body)} bytes received)",
            {"Connection": "close"},
        ) from None
    except ClientDisconnect:
        raise Problem(400, "incomplete", "the sender disconnected before the body was complete") from None
    return bytes(body)
