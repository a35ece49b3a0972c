"""Running warroom: the embedded stack, a worker, the intake, the drill, the codec server, and the
commands that register the search attributes on your own cluster."""

from __future__ import annotations

import logging
import os
import sys
from typing import Annotated

import typer
from pydantic import ValidationError

from warroom import search
from warroom.cli.app import app, err, run, settings_of
from warroom.cli.parsing import AddressOpt, NamespaceOpt, QueueOpt
from warroom.errors import ConfigInvalid, RunbookError, invalid_settings


@app.command("run")
def run_command(ctx: typer.Context) -> None:
    """Start the embedded stack (dev server, Web UI, worker) for a laptop or a game day.

    Example: warroom run
    """
    from warroom.stack import run_stack

    raise typer.Exit(run_stack(settings_of(ctx)))


@app.command()
def worker(
    ctx: typer.Context, address: AddressOpt = None, namespace: NamespaceOpt = None, task_queue: QueueOpt = None
) -> None:
    """Run only the worker, against any Temporal (your cluster, Temporal Cloud); start more to share the load.

    Example: warroom worker --address temporal.internal:7233 --namespace sre
    """
    from warroom import worker as worker_module

    settings = settings_of(ctx, temporal_address=address, temporal_namespace=namespace, task_queue=task_queue)
    try:  # every setting and file it names, before connecting: a bad value is exit 2, not "unreachable"
        prepared = worker_module.prepare(settings)
    except RunbookError as exc:
        raise ConfigInvalid(f"WARROOM_RUNBOOK: {exc}") from None
    except ValidationError as exc:
        raise invalid_settings(exc) from None
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        run(worker_module.run_worker(settings, prepared=prepared), traced_as=None)
    except KeyboardInterrupt:
        err.print("worker stopped")


@app.command()
def intake(
    ctx: typer.Context,
    host: Annotated[
        str | None,
        typer.Option(help="listen address (env WARROOM_INTAKE_HOST, default 127.0.0.1)", show_default=False),
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="listen port (env WARROOM_INTAKE_PORT, default 8088)", show_default=False)
    ] = None,
) -> None:
    """Serve the alert intake: Alertmanager, PagerDuty, Opsgenie, Grafana and generic JSON webhooks.

    Credentials per source come from WARROOM_INTAKE_* (see docs/intake.md); a source without any
    answers 403. Each alert group becomes one incident; 2xx only once the alert is recorded.

    Example: WARROOM_INTAKE_ALERTMANAGER_TOKEN=s3cret warroom intake --port 8088
    """
    from warroom.intake.server import main as serve_intake

    serve_intake(settings_of(ctx), host=host, port=port)


@app.command(
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    add_help_option=False,  # --help goes to the drill, which lists its own options
)
def drill(ctx: typer.Context) -> None:
    """Rehearse the runbook on a simulated incident: bad deploy → alert → diagnosis → rollback → resolved.

    Starts the sandbox cluster, a simulated order-api under load, a real Prometheus and Alertmanager,
    the intake and a worker (and a Temporal dev server unless --temporal is given), and shows the
    incident live. `warroom drill --help` lists its options.

    Example: warroom drill --approval manual
    """
    # The drill lives with the simulator, apart from production code: it becomes its own program in
    # this process (exec), so Ctrl-C and SIGTERM reach it directly and its clean-up always runs.
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, "-m", "sandbox.drill", *ctx.args])


@app.command("codec-key")
def codec_key() -> None:
    """Print a new AES-256 key for payload encryption.

    Put it first in WARROOM_CODEC_KEYS (id:key,...) on every worker and client; keep old keys after
    it until the histories they encrypted are past retention.

    Example: echo "WARROOM_CODEC_KEYS=k2026:$(warroom codec-key),$WARROOM_CODEC_KEYS"
    """
    from warroom.codec import new_key

    print(new_key())


@app.command("codec-server")
def codec_server(
    ctx: typer.Context,
    port: Annotated[int, typer.Option(help="listen port")] = 8234,
    host: Annotated[str, typer.Option(help="listen address")] = "127.0.0.1",
    ui_origin: Annotated[
        list[str] | None,
        typer.Option("--ui-origin", help="Web UI origin allowed by CORS (repeatable)", show_default=False),
    ] = None,
) -> None:
    """Serve the codec endpoint so the Temporal Web UI (Settings → Codec Server) shows compressed and encrypted payloads.

    Large payloads (state, runbook) are compressed by default; with WARROOM_CODEC_KEYS set it also
    decrypts. Callers must send WARROOM_CODEC_TOKEN as a bearer token when it is set.

    Example: warroom codec-server --port 8234 --ui-origin http://127.0.0.1:8233
    """
    import uvicorn

    from warroom.codec import CodecError, codec_app, parse_key_ring

    settings = settings_of(ctx)
    keys = None
    if settings.codec_keys is not None:
        try:
            keys = parse_key_ring(settings.codec_keys.get_secret_value())
        except CodecError as exc:
            raise ConfigInvalid(str(exc)) from None
    token = os.environ.get("WARROOM_CODEC_TOKEN")
    if token is not None and (len(token) > 4096 or any(ord(c) < 32 or ord(c) == 127 for c in token)):
        raise ConfigInvalid(
            "WARROOM_CODEC_TOKEN: at most 4096 characters, without control characters (it is sent in a header)"
        )
    origins = ui_origin or [f"http://127.0.0.1:{settings.ui_port}", f"http://localhost:{settings.ui_port}"]
    uvicorn.run(codec_app(keys, token, origins), host=host, port=port, log_level="warning")


@app.command("search-attributes")
def search_attributes(ctx: typer.Context) -> None:
    """Print the commands that register warroom's search attributes on your own cluster (`make run` does it for you).

    Example: warroom --namespace sre search-attributes | sh
    """
    settings = settings_of(ctx)  # address and namespace are validated; quoted anyway, as this goes to `| sh`
    for command in search.create_commands(settings.temporal_address, settings.temporal_namespace):
        print(command)
