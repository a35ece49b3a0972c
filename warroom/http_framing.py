"""Refuse requests whose body length is ambiguous, on every warroom HTTP server.

A request with both Transfer-Encoding and Content-Length is how requests are smuggled past a
proxy that frames by the other header. h11 (under uvicorn) frames it by Transfer-Encoding and
keeps the connection open, so a request pipelined behind it would be answered; RFC 9112 §6.1
says the server must close the connection. This ASGI middleware answers 400 and closes it.
"""

from __future__ import annotations

import json
from typing import Any

Scope = dict[str, Any]
ASGIApp = Any


class RejectAmbiguousFraming:
    """ASGI middleware: 400 + `Connection: close` for Transfer-Encoding together with Content-Length."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            names = {name.lower() for name, _ in scope.get("headers", ())}
            if b"transfer-encoding" in names and b"content-length" in names:
                body = json.dumps(
                    {"detail": "ambiguous body length: send Content-Length or Transfer-Encoding, not both"}
                ).encode()
                await send(
                    {
                        "type": "http.response.start",
                        "status": 400,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"connection", b"close"),
                            (b"content-length", str(len(body)).encode()),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)
