"""Run the intake with uvicorn: `serve(settings)` blocks (the `warroom intake` command);
`serve_async` and `running` embed it in an event loop that already runs (`make run`, tests, bench).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import uvicorn
from fastapi import FastAPI

from warroom.intake.app import create_app
from warroom.intake.recorder import ClientFactory
from warroom.intake.settings import IntakeSettings

if TYPE_CHECKING:
    from warroom.settings import Settings

log = logging.getLogger("warroom.intake")


class _EmbeddedServer(uvicorn.Server):
    """Leaves signal handling to the host process (the stack stops us by cancelling)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Any:
        yield


def default_client_factory(settings: IntakeSettings) -> ClientFactory:
    async def connect() -> Any:
        from warroom.client import connect as connect_temporal

        return await connect_temporal(settings.temporal, identity="warroom-intake")

    return connect


def _config(app: FastAPI, settings: IntakeSettings, **overrides: Any) -> uvicorn.Config:
    options: dict[str, Any] = dict(
        host=settings.host,
        port=settings.port,
        log_level="info",
        access_log=False,
        proxy_headers=False,
        server_header=False,
        lifespan="off",
    )
    options.update(overrides)
    return uvicorn.Config(app, **options)


def serve(settings: IntakeSettings) -> None:
    """Serve until SIGINT/SIGTERM. A bad runbook or setting fails here, before listening."""
    app = create_app(settings, default_client_factory(settings))
    log.info(
        "warroom intake on http://%s:%d (Temporal %s, task queue %s); sources with credentials: %s",
        settings.host,
        settings.port,
        settings.temporal.temporal_address,
        settings.temporal.task_queue,
        ", ".join(s for s in ("alertmanager", "pagerduty", "opsgenie", "grafana", "generic") if settings.configured(s))
        or "none (every endpoint answers 403)",
    )
    from warroom.telemetry import tracing

    with tracing.traced("warroom-intake"):  # flushed once uvicorn has stopped
        uvicorn.Server(_config(app, settings)).run()


async def serve_async(
    settings: IntakeSettings, client_factory: ClientFactory | None = None, ready: asyncio.Event | None = None
) -> None:
    """Serve in the running loop until cancelled; sets `ready` once listening."""
    from warroom.telemetry import tracing

    app = create_app(settings, client_factory or default_client_factory(settings))
    with tracing.traced("warroom-intake"):
        async with running(app, settings.host, settings.port):
            if ready is not None:
                ready.set()
            await asyncio.Event().wait()


@contextlib.asynccontextmanager
async def running(app: FastAPI, host: str = "127.0.0.1", port: int = 0, **overrides: Any) -> AsyncIterator[str]:
    """Serve `app` on host:port (0 = any free port) for the duration; yields its base URL."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    # log_config=None: the host process (stack, tests) owns logging configuration.
    options: dict[str, Any] = {"log_config": None, **overrides}
    server = _EmbeddedServer(_config(app, IntakeSettings.model_construct(host=host, port=port), **options))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("the intake server stopped during start-up")
            await asyncio.sleep(0.01)
        bound_host, bound_port = sock.getsockname()[:2]
        yield f"http://{'[' + bound_host + ']' if ':' in bound_host else bound_host}:{bound_port}"
    finally:
        server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 10)
        sock.close()


def main(temporal: Settings | None = None, host: str | None = None, port: int | None = None) -> None:
    """`warroom intake` and `python -m warroom.intake.server`: settings from WARROOM_* (and the
    options given), then serve. A bad value raises ConfigInvalid naming the variable, before
    anything listens or connects."""
    from pydantic import ValidationError

    from warroom.errors import ConfigInvalid, RunbookError, invalid_settings
    from warroom.settings import Settings

    if temporal is None:
        try:
            temporal = Settings()
        except ValidationError as exc:
            raise invalid_settings(exc) from None
    overrides: dict[str, Any] = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    try:
        settings = IntakeSettings(temporal=temporal, **overrides)
        serve(settings)
    except RunbookError as exc:
        raise ConfigInvalid(f"WARROOM_RUNBOOK: {exc}") from None
    except ValidationError as exc:
        raise invalid_settings(exc, "intake settings", "WARROOM_INTAKE_") from None


if __name__ == "__main__":
    # Like `warroom intake`: a bad WARROOM_* value is one line naming it (exit 2), never a
    # traceback, which would also print the value, tokens included.
    import argparse

    from warroom.errors import exit_with

    parser = argparse.ArgumentParser(prog="python -m warroom.intake.server", description=__doc__)
    parser.add_argument("--host", help="listen address (env WARROOM_INTAKE_HOST, default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="listen port (env WARROOM_INTAKE_PORT, default 8088)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    exit_with(lambda: main(host=args.host, port=args.port))
