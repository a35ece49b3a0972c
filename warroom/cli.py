"""`warroom`: the runbook from the terminal, for the people on call.

Every command that acts is a workflow update: the incident's validators decide, so the CLI
stays thin and a rejection ("only the Incident Commander (alice) may ...") reaches you before
anything is recorded. Errors people cause are one readable line and an exit code, never a
traceback: 1 rejected, 2 bad input or unknown incident, 3 Temporal unreachable.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import traceback
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar
from urllib.parse import quote

import typer
from pydantic import BaseModel, ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Column, Table

from warroom import search
from warroom.client import ConnectionFailed, connect
from warroom.enums import Phase, Role, Severity, format_duration
from warroom.ids import incident_id_of, incident_workflow_id, workflow_id_for
from warroom.models import (
    Acknowledge,
    ActionItem,
    AssignRole,
    CompleteActionItem,
    CompletePir,
    Declare,
    DeploymentTarget,
    ImpactSignals,
    IncidentInput,
    IncidentState,
    MarkMitigated,
    ProposeStep,
    Resolve,
    SetFlags,
    SetSeverity,
    StatusUpdate,
    StepDecision,
    UpdateResult,
)
from warroom.runbook import RunbookError, load_runbook
from warroom.settings import Settings

T = TypeVar("T")

TIMEOUT_SECONDS = 30
"""How long to wait for an incident to answer: long enough for a busy worker, short enough for a human."""
TIMELINE_ROWS = 15

out = Console(highlight=False, soft_wrap=True)  # soft wrap: ids, commands and URLs stay whole for copy-paste
err = Console(stderr=True, highlight=False, soft_wrap=True)

app = typer.Typer(
    name="warroom",
    help=(
        "Run the SRE incident runbook from the terminal: declare, take command, approve steps, resolve.\n\n"
        "Start here: warroom declare --service order-api --severity P1 --summary '503s on checkout' --as alice"
    ),
    epilog="Who you are comes from --as NAME or $WARROOM_USER; where Temporal is, from --address or $WARROOM_TEMPORAL_ADDRESS.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


class Failed(Exception):
    """An outcome people cause (rejected, unknown incident): one line on stderr and an exit code."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class Globals:
    """Options given before the command; a command's own option wins over these."""

    who: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)


# --- Shared options --------------------------------------------------------------------------

IncidentId = Annotated[
    str,
    typer.Argument(
        metavar="ID",
        help="incident id, e.g. order-api-20250101-140700 (the incident- prefix is optional)",
        show_default=False,
    ),
]
AsOpt = Annotated[
    str | None,
    typer.Option("--as", help="who you are (else the global --as, else $WARROOM_USER)", show_default=False),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="print the result as JSON, for scripts")]
AddressOpt = Annotated[
    str | None,
    typer.Option("--address", help="Temporal host:port (env WARROOM_TEMPORAL_ADDRESS)", show_default=False),
]
NamespaceOpt = Annotated[
    str | None,
    typer.Option("--namespace", help="Temporal namespace (env WARROOM_TEMPORAL_NAMESPACE)", show_default=False),
]
QueueOpt = Annotated[
    str | None,
    typer.Option("--task-queue", help="task queue of the warroom worker (env WARROOM_TASK_QUEUE)", show_default=False),
]


class PublicStatus(StrEnum):
    INVESTIGATING = "investigating"
    IDENTIFIED = "identified"
    MONITORING = "monitoring"


class StepKind(StrEnum):
    ESCALATE = "escalate"
    PAGE = "page"
    ROLLBACK = "rollback"
    CUSTOM = "custom"


def _word(parse: Callable[[str], Any], hint: str) -> Callable[[Any], Any]:
    """A closed vocabulary in any case, with an error that lists the words people may type."""

    def parser(value: Any) -> Any:
        if not isinstance(value, str):
            return value
        try:
            return parse(value.strip())
        except ValueError:
            raise typer.BadParameter(f"{value!r} is not one of {hint}") from None

    return parser


ROLE = _word(Role.parse, "ic, ops, comms, pir (or " + ", ".join(r.value for r in Role) + ")")
SEVERITY = _word(lambda v: Severity(v.upper()), "P1, P2, P3")
PHASE = _word(lambda v: Phase(v.lower()), ", ".join(p.value for p in Phase))
STEP_KIND = _word(lambda v: StepKind(v.lower()), ", ".join(k.value for k in StepKind))
PUBLIC = _word(lambda v: PublicStatus(v.lower()), ", ".join(k.value for k in PublicStatus))


def _evidence(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise typer.BadParameter(f"{text!r} is not key=value, e.g. --evidence deploy=v2.14.3")
    return key.strip(), value.strip()


def _action_item(text: str) -> ActionItem:
    """ "title|owner|YYYY-MM-DD": one string per item so a shell history line reads like the PIR."""
    parts = [p.strip() for p in text.split("|")]
    try:
        if len(parts) != 3:
            raise ValueError('write it as "title|owner|YYYY-MM-DD"')
        due = datetime.combine(date.fromisoformat(parts[2]), time(), tzinfo=UTC)
        return ActionItem(title=parts[0], owner=parts[1], due=due)
    except ValidationError as exc:
        raise typer.BadParameter(f"{text!r}: {_problems(exc, '; ', name_of=str)}") from None
    except ValueError as exc:
        raise typer.BadParameter(f"{text!r}: {exc}") from None


# --- Settings, identity, errors --------------------------------------------------------------


def _globals(ctx: typer.Context) -> Globals:
    root = ctx.find_root()
    if not isinstance(root.obj, Globals):
        root.obj = Globals()
    return root.obj


def _settings(ctx: typer.Context, **overrides: Any) -> Settings:
    """Env (WARROOM_*) first, then global options, then the command's own options."""
    chosen = {**_globals(ctx).overrides, **{k: v for k, v in overrides.items() if v is not None}}
    try:
        return Settings(**chosen)
    except ValidationError as exc:
        _die(f"invalid settings:\n{_problems(exc, name_of=_env_var)}", 2)


def _who(ctx: typer.Context, as_: str | None, settings: Settings) -> str:
    """Everything that acts is recorded with a name: the timeline and the IC checks need one."""
    who = as_ or _globals(ctx).who or settings.user
    if not who:
        _die("who are you? pass --as NAME or set WARROOM_USER", 2)
    return who


def _die(message: str, code: int) -> NoReturn:
    err.print(escape(message), style="red" if code else None)
    raise typer.Exit(code)


_OPTION_NAMES = {
    "by": "--as",
    "declared_by": "--as",
    "step_id": "STEP",
    "person": "PERSON",
    "role": "ROLE",
    "incident_id": "ID",
    "third_party_vendor": "--vendor",
    "public_status": "--public",
    "pir_owner": "--pir-owner",
}


def _option(field: str) -> str:
    return _OPTION_NAMES.get(field, f"--{field.replace('_', '-')}")


def _env_var(field: str) -> str:
    return f"WARROOM_{field.upper()}"


def _problems(exc: ValidationError, sep: str = "\n", name_of: Callable[[str], str] = _option) -> str:
    """One line per field, named as people set it: on the command line (`by` is --as) or in the env."""
    lines = []
    for problem in exc.errors():
        loc = [str(p) for p in problem["loc"]]
        name = name_of(loc[0]) if loc else "input"
        where = ".".join([name, *loc[1:]])
        message = str(problem["msg"]).removeprefix("Value error, ")
        lines.append(f"  {where}: {message}" if sep == "\n" else f"{where}: {message}")
    return sep.join(lines)


def _run(body: Coroutine[Any, Any, T]) -> T:
    """Run an async body and turn what people cause into a line and an exit code, never a traceback."""
    from temporalio.service import RPCError

    try:
        return asyncio.run(body)
    except Failed as exc:
        _die(str(exc), exc.code)
    except ValidationError as exc:
        _die(f"invalid input:\n{_problems(exc)}", 2)
    except ConnectionFailed as exc:
        _die(str(exc), 3)
    except RPCError as exc:
        _die(f"Temporal refused: {exc.message} ({exc.status.name})", 1)


@asynccontextmanager
async def _on_incident(incident: str, settings: Settings) -> AsyncIterator[None]:
    """Name the incident in every failure: unknown, closed, rejected or not answering."""
    from temporalio.client import (
        WorkflowQueryFailedError,
        WorkflowQueryRejectedError,
        WorkflowUpdateFailedError,
        WorkflowUpdateRPCTimeoutOrCancelledError,
    )
    from temporalio.exceptions import ApplicationError
    from temporalio.service import RPCError, RPCStatusCode

    silent = (
        f"incident {incident} did not answer within {TIMEOUT_SECONDS}s: is a warroom worker running on its task "
        "queue (`warroom worker` or `make run`)? An update may still apply when one starts; "
        f"check `warroom status {incident}`."
    )
    try:
        async with asyncio.timeout(TIMEOUT_SECONDS):
            yield
    except WorkflowUpdateFailedError as exc:
        cause = exc.cause
        if isinstance(cause, ApplicationError):
            raise Failed(f"rejected ({cause.type or 'Rejected'}): {cause.message}") from None
        raise Failed(f"rejected: {cause}") from None
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            if "completed" in exc.message.lower():
                raise Failed(
                    f"incident {incident} is closed; `warroom status {incident}` still shows its timeline"
                ) from None
            raise Failed(
                f"no incident {incident} in namespace {settings.temporal_namespace} (see `warroom list`)", 2
            ) from None
        if exc.status == RPCStatusCode.DEADLINE_EXCEEDED:
            raise Failed(silent) from None
        raise
    except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
        raise Failed(silent) from None
    except WorkflowQueryRejectedError as exc:
        raise Failed(f"incident {incident} cannot answer now ({exc.status})") from None
    except WorkflowQueryFailedError as exc:
        raise Failed(f"incident {incident} could not answer: {exc.message}") from None


async def _execute(settings: Settings, who: str, incident: str, update: str, request: BaseModel) -> UpdateResult:
    client = await connect(settings, identity=f"warroom-cli:{who}")
    handle = client.get_workflow_handle(workflow_id_for(incident))
    async with _on_incident(incident, settings):
        return await handle.execute_update(update, request, result_type=UpdateResult)


def _act(
    ctx: typer.Context,
    as_: str | None,
    as_json: bool,
    incident: str,
    update: str,
    build: Callable[[str], BaseModel],
    after: Callable[[UpdateResult, str], None] | None = None,
) -> None:
    """The shape of every acting command: who, a validated request, the update, its message."""
    settings = _settings(ctx)
    who = _who(ctx, as_, settings)
    try:
        request = build(who)
    except ValidationError as exc:
        _die(f"invalid input:\n{_problems(exc)}", 2)
    result = _run(_execute(settings, who, incident, update, request))
    if as_json:
        print(result.model_dump_json(indent=2))
        return
    out.print(escape(result.message))
    if after:
        after(result, incident_id_of(workflow_id_for(incident)))


# --- Global options --------------------------------------------------------------------------


@app.callback()
def _main(
    ctx: typer.Context,
    as_: AsOpt = None,
    address: AddressOpt = None,
    namespace: NamespaceOpt = None,
    task_queue: QueueOpt = None,
    runbook: Annotated[
        Path | None, typer.Option("--runbook", help="runbook YAML (env WARROOM_RUNBOOK)", show_default=False)
    ] = None,
) -> None:
    """Global options apply to every command: warroom --as alice ack ID."""
    overrides = {
        "temporal_address": address,
        "temporal_namespace": namespace,
        "task_queue": task_queue,
        "runbook": runbook,
    }
    ctx.obj = Globals(who=as_, overrides={k: v for k, v in overrides.items() if v is not None})


# --- Running warroom -------------------------------------------------------------------------


@app.command()
def run(ctx: typer.Context) -> None:
    """Start the embedded stack (dev server, Web UI, worker) for a laptop or a game day.

    Example: warroom run
    """
    from warroom.stack import run_stack

    raise typer.Exit(run_stack(_settings(ctx)))


@app.command()
def worker(
    ctx: typer.Context, address: AddressOpt = None, namespace: NamespaceOpt = None, task_queue: QueueOpt = None
) -> None:
    """Run only the worker, against any Temporal (your cluster, Temporal Cloud); start more to share the load.

    Example: warroom worker --address temporal.internal:7233 --namespace sre
    """
    from warroom import worker as worker_module

    settings = _settings(ctx, temporal_address=address, temporal_namespace=namespace, task_queue=task_queue)
    try:  # every setting and file it names, before connecting: a bad value is exit 2, not "unreachable"
        prepared = worker_module.prepare(settings)
    except RunbookError as exc:
        _die(f"WARROOM_RUNBOOK: {exc}", 2)
    except worker_module.ConfigInvalid as exc:
        _die(str(exc), 2)
    except ValidationError as exc:
        _die(f"invalid settings:\n{_problems(exc, name_of=_env_var)}", 2)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        _run(worker_module.run_worker(settings, prepared=prepared))
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
    from warroom.intake.server import serve
    from warroom.intake.settings import IntakeSettings

    overrides = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    try:
        settings = IntakeSettings(temporal=_settings(ctx), **overrides)
        serve(settings)
    except RunbookError as exc:
        _die(f"WARROOM_RUNBOOK: {exc}", 2)
    except ValidationError as exc:
        _die(f"invalid intake settings:\n{_problems(exc, name_of=lambda f: 'WARROOM_INTAKE_' + f.upper())}", 2)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def drill(ctx: typer.Context) -> None:
    """Rehearse the runbook on a simulated incident: bad deploy → alert → diagnosis → rollback → resolved.

    Starts the sandbox cluster, a simulated order-api under load, a real Prometheus and Alertmanager,
    the intake and a worker (and a Temporal dev server unless --temporal is given), and shows the
    incident live. Options: --time-scale N (default 20: runbook durations ÷ N, drills only),
    --approval auto|manual (manual waits for `warroom approve`), --temporal HOST:PORT, --data-dir.

    Example: warroom drill --approval manual
    """
    import subprocess

    # The drill lives with the simulator, apart from production code: run it as its own program.
    raise typer.Exit(subprocess.call([sys.executable, "-m", "sandbox.drill", *ctx.args]))


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
    """Serve the codec endpoint so the Temporal Web UI (Settings → Codec Server) shows encrypted incidents.

    Keys from WARROOM_CODEC_KEYS; callers must send WARROOM_CODEC_TOKEN as a bearer token when it is set.

    Example: warroom codec-server --port 8234 --ui-origin http://127.0.0.1:8233
    """
    import uvicorn

    from warroom.codec import CodecError, codec_app, parse_key_ring

    settings = _settings(ctx)
    if settings.codec_keys is None:
        _die("set WARROOM_CODEC_KEYS (id:base64key,...; `warroom codec-key` makes a key)", 2)
    try:
        keys = parse_key_ring(settings.codec_keys.get_secret_value())
    except CodecError as exc:
        _die(str(exc), 2)
    token = os.environ.get("WARROOM_CODEC_TOKEN")
    if token is not None and (len(token) > 4096 or any(ord(c) < 32 or ord(c) == 127 for c in token)):
        _die("WARROOM_CODEC_TOKEN: at most 4096 characters, without control characters (it is sent in a header)", 2)
    origins = ui_origin or [f"http://127.0.0.1:{settings.ui_port}", f"http://localhost:{settings.ui_port}"]
    uvicorn.run(codec_app(keys, token, origins), host=host, port=port, log_level="warning")


@app.command("search-attributes")
def search_attributes(ctx: typer.Context) -> None:
    """Print the commands that register warroom's search attributes on your own cluster (`make run` does it for you).

    Example: warroom --namespace sre search-attributes | sh
    """
    import shlex

    settings = _settings(ctx)  # address and namespace are validated; quoted anyway, as this goes to `| sh`
    for key in search.ALL:
        kind = key.indexed_value_type.name.title()
        print(
            f"temporal operator search-attribute create --address {shlex.quote(settings.temporal_address)} "
            f"--namespace {shlex.quote(settings.temporal_namespace)} --name {key.name} --type {kind}"
        )


# --- Opening an incident ---------------------------------------------------------------------


@app.command()
def declare(
    ctx: typer.Context,
    service: Annotated[
        str | None, typer.Option(help="the service that hurts, e.g. order-api", show_default=False)
    ] = None,
    severity: Annotated[
        Severity | None,
        typer.Option(
            parser=SEVERITY,
            metavar="P1|P2|P3",
            help="P1, P2 or P3 (declare early, downgrade later)",
            show_default=False,
        ),
    ] = None,
    summary: Annotated[str | None, typer.Option(help="the observable symptom, one line", show_default=False)] = None,
    from_alert: Annotated[
        str | None,
        typer.Option(
            "--from-alert",
            metavar="ID",
            help="declare the incident an alert opened (still in Detection)",
            show_default=False,
        ),
    ] = None,
    deployment: Annotated[
        str | None,
        typer.Option(
            metavar="NAMESPACE/NAME",
            help="the Deployment behind the service: diagnosis and the rollback rule use it",
            show_default=False,
        ),
    ] = None,
    data_loss: Annotated[
        bool, typer.Option("--data-loss", help="data loss suspected: legal/privacy are notified at once")
    ] = False,
    security: Annotated[
        bool, typer.Option("--security", help="security incident suspected: hand off to security")
    ] = False,
    vendor: Annotated[bool, typer.Option("--vendor", help="a third-party vendor is involved")] = False,
    commander: Annotated[
        str | None, typer.Option(help="the Incident Commander, if already known", show_default=False)
    ] = None,
    on_call: Annotated[str | None, typer.Option(help="the on-call engineer who got paged", show_default=False)] = None,
    reason: Annotated[str, typer.Option(help="with --from-alert: why declare now")] = "",
    as_: AsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Declare an incident now: opens the channel, pages the IC and starts every runbook timer.

    Example: warroom declare --service order-api --severity P1 --summary '8% of API requests return 503' --as alice
    Example: warroom declare --from-alert alertmanager-... --severity P2 --reason 'customers calling' --as alice
    """
    if from_alert:
        _act(
            ctx,
            as_,
            as_json,
            from_alert,
            "declare",
            lambda who: Declare(by=who, severity=severity, reason=reason or "declared by a person"),
        )
        return
    missing = [
        flag for flag, value in (("--service", service), ("--severity", severity), ("--summary", summary)) if not value
    ]
    if missing:
        _die(f"declare needs {', '.join(missing)} (or --from-alert ID for an incident an alert opened)", 2)
    settings = _settings(ctx)
    who = _who(ctx, as_, settings)
    try:
        runbook = load_runbook(settings.runbook)
    except RunbookError as exc:
        _die(str(exc), 2)
    now = datetime.now(UTC)
    try:
        target = None
        if deployment:
            namespace, _, name = deployment.partition("/")
            target = DeploymentTarget(namespace=namespace, deployment=name)
        inp = IncidentInput(
            incident_id=f"{(service or '').strip().lower()}-{now:%Y%m%d-%H%M%S}",
            service=service,
            summary=summary,
            runbook=runbook,
            severity=severity,
            declared=True,
            declared_by=who,
            commander=commander,
            on_call=on_call,
            target=target,
            signals=ImpactSignals(data_loss=data_loss, security=security, third_party_vendor=vendor),
        )
    except ValidationError as exc:
        _die(f"invalid input:\n{_problems(exc)}", 2)
    workflow_id = _run(_start(settings, who, inp))
    _print_declared(settings, inp, workflow_id, as_json)


async def _start(settings: Settings, who: str, inp: IncidentInput) -> str:
    from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDConflictPolicy
    from temporalio.exceptions import WorkflowAlreadyStartedError
    from temporalio.service import RPCError, RPCStatusCode

    from workflows.incident import IncidentWorkflow

    client = await connect(settings, identity=f"warroom-cli:{who}")
    attributes = TypedSearchAttributes(
        [
            SearchAttributePair(search.SEVERITY, inp.severity.value if inp.severity else "unassessed"),
            SearchAttributePair(search.SERVICE, inp.service),
            SearchAttributePair(search.PHASE, Phase.DECLARE.value),
            SearchAttributePair(search.COMMANDER, inp.commander or "none"),
        ]
    )
    workflow_id = incident_workflow_id(inp.incident_id)
    try:
        await client.start_workflow(
            IncidentWorkflow.run,
            inp,
            id=workflow_id,
            task_queue=settings.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            search_attributes=attributes,
            static_summary=f"{inp.severity} {inp.service}: {inp.summary}"[:200],
        )
    except WorkflowAlreadyStartedError:
        raise Failed(f"incident {inp.incident_id} already exists: wait a second and declare again, or use it") from None
    except RPCError as exc:
        if exc.status == RPCStatusCode.INVALID_ARGUMENT and "search attribute" in exc.message.lower():
            raise Failed(
                f"{exc.message}: register warroom's search attributes first (`warroom search-attributes`)"
            ) from None
        raise
    return workflow_id


def _print_declared(settings: Settings, inp: IncidentInput, workflow_id: str, as_json: bool) -> None:
    url = (
        f"http://127.0.0.1:{settings.ui_port}/namespaces/{quote(settings.temporal_namespace, safe='')}"
        f"/workflows/{quote(workflow_id, safe='')}"
    )
    if as_json:
        print(
            json.dumps(
                {
                    "incident_id": inp.incident_id,
                    "workflow_id": workflow_id,
                    "severity": str(inp.severity),
                    "web_ui": url,
                },
                indent=2,
            )
        )
        return
    iid = inp.incident_id
    out.print(f"[bold]declared {inp.severity} incident {escape(iid)}[/] ({escape(inp.service)}: {escape(inp.summary)})")
    out.print(f"workflow {escape(workflow_id)}")
    steps = [] if inp.commander else [(f"warroom ack {iid}", "take command: the first to acknowledge becomes IC")]
    steps += [
        (f"warroom assign {iid} ops PERSON", "name the Operations Lead (and comms for P1)"),
        (f"warroom status {iid}", "roles, pending steps, next deadlines, timeline"),
    ]
    width = max(len(command) for command, _ in steps)
    out.print("next:")
    for command, why in steps:
        out.print(f"  {escape(command):<{width}}  # {why}")
    out.print(f"web UI: {escape(url)}")


@app.command("declare-now")
def declare_now(
    ctx: typer.Context,
    incident: IncidentId,
    severity: Annotated[
        Severity | None,
        typer.Option(
            parser=SEVERITY,
            metavar="P1|P2|P3",
            help="else the runbook assesses it from the signals",
            show_default=False,
        ),
    ] = None,
    reason: Annotated[str, typer.Option(help="why declare now")] = "",
    as_: AsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Declare an incident still in Detection (opened by an alert) without waiting for the criteria.

    Example: warroom declare-now payments-20250101-140700 --severity P2 --reason 'customers calling' --as alice
    """
    _act(ctx, as_, as_json, incident, "declare", lambda who: Declare(by=who, severity=severity, reason=reason))


# --- Command: people and roles ---------------------------------------------------------------


@app.command()
def ack(ctx: typer.Context, incident: IncidentId, as_: AsOpt = None, as_json: JsonOpt = False) -> None:
    """Acknowledge the page; with no IC yet, you take command.

    Example: warroom ack order-api-20250101-140700 --as alice
    """
    _act(ctx, as_, as_json, incident, "acknowledge", lambda who: Acknowledge(by=who))


@app.command()
def assign(
    ctx: typer.Context,
    incident: IncidentId,
    role: Annotated[str, typer.Argument(parser=ROLE, metavar="ROLE", help="ic, ops, comms or pir", show_default=False)],
    person: Annotated[str, typer.Argument(metavar="PERSON", help="who takes the role", show_default=False)],
    as_: AsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Give a role to someone (the IC assigns; anyone may name the first IC).

    Example: warroom assign order-api-20250101-140700 ops bob --as alice
    """
    _act(ctx, as_, as_json, incident, "assign_role", lambda who: AssignRole(role=role, person=person, by=who))


@app.command()
def severity(
    ctx: typer.Context,
    incident: IncidentId,
    level: Annotated[
        Severity, typer.Argument(parser=SEVERITY, metavar="P1|P2|P3", help="the new severity", show_default=False)
    ],
    reason: Annotated[str, typer.Option(help="why (recorded in the timeline)", show_default=False)],
    as_: AsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Change the severity (IC only); every pending timer is re-planned.

    Example: warroom severity order-api-20250101-140700 P2 --reason 'only internal tools affected' --as alice
    """
    _act(ctx, as_, as_json, incident, "set_severity", lambda who: SetSeverity(severity=level, by=who, reason=reason))


@app.command()
def flags(
    ctx: typer.Context,
    incident: IncidentId,
    data_loss: Annotated[
        bool | None,
        typer.Option("--data-loss/--no-data-loss", help="data loss suspected (or ruled out)", show_default=False),
    ] = None,
    security: Annotated[
        bool | None, typer.Option("--security/--no-security", help="security incident suspected", show_default=False)
    ] = None,
    vendor: Annotated[
        bool | None,
        typer.Option("--vendor/--no-vendor", help="a third-party vendor is involved", show_default=False),
    ] = None,
    vendor_ticket: Annotated[
        str | None, typer.Option(help="the vendor's support ticket reference", show_default=False)
    ] = None,
    as_: AsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Raise a special case mid-incident, or record the vendor ticket.

    Example: warroom flags order-api-20250101-140700 --vendor --vendor-ticket ZD-4711 --as bob
    """
    if data_loss is None and security is None and vendor is None and not vendor_ticket:
        _die("nothing to change: pass --data-loss, --security, --vendor (or their --no- forms) or --vendor-ticket", 2)
    _act(
        ctx,
        as_,
        as_json,
        incident,
        "set_flags",
        lambda who: SetFlags(
            by=who, data_loss=data_loss, security=security, third_party_vendor=vendor, vendor_ticket=vendor_ticket
        ),
    )


# --- Command: updates and steps --------------------------------------------------------------


@app.command()
def update(
    ctx: typer.Context,
    incident: IncidentId,
    error_rate: Annotated[
        float | None, typer.Option(help="percent of requests failing, e.g. 8", show_default=False)
    ] = None,
    hypothesis: Annotated[str, typer.Option(help="current theory")] = "",
    next_action: Annotated[str, typer.Option(help="what happens next")] = "",
    owner: Annotated[str | None, typer.Option(help="who does the next action", show_default=False)] = None,
    eta: Annotated[str, typer.Option(help="when, e.g. 14:40")] = "",
    public: Annotated[
        PublicStatus | None,
        typer.Option(
            parser=PUBLIC,
            metavar="STATUS",
            help="also post to the status page: investigating, identified or monitoring",
            show_default=False,
        ),
    ] = None,
    public_message: Annotated[str, typer.Option(help="the status page text (no names, no blame)")] = "",
    as_: AsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Post the 15-minute update: error rate, hypothesis, next action by whom, ETA.

    Example: warroom update order-api-20250101-140700 --error-rate 8 --hypothesis 'pool leak in v2.14.3' --next-action rollback --owner bob --eta 14:40 --as alice
    """
    _act(
        ctx,
        as_,
        as_json,
        incident,
        "post_update",
        lambda who: StatusUpdate(
            by=who,
            error_rate=error_rate,
            hypothesis=hypothesis,
            next_action=next_action,
            owner=owner,
            eta=eta,
            public_status=public.value if public else None,
            public_message=public_message,
        ),
    )


@app.command()
def propose(
    ctx: typer.Context,
    incident: IncidentId,
    action: Annotated[
        StepKind,
        typer.Argument(
            parser=STEP_KIND, metavar="ACTION", help="escalate, page, rollback or custom", show_default=False
        ),
    ],
    target: Annotated[
        str, typer.Argument(metavar="TARGET", help="what it acts on, e.g. deployment/order-api", show_default=False)
    ],
    description: Annotated[str, typer.Option(help="what and why")] = "",
    evidence: Annotated[
        list[str] | None, typer.Option(help="key=value, repeatable: --evidence deploy=v2.14.3", show_default=False)
    ] = None,
    as_: AsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Propose a step (rollback, escalation, page) for the IC to approve; prints its step id.

    Example: warroom propose order-api-20250101-140700 rollback deployment/order-api --evidence deploy=v2.14.3 --as bob
    """
    facts = dict(_evidence(item) for item in evidence or [])

    def after(result: UpdateResult, iid: str) -> None:
        out.print(
            f"step id: [bold]{escape(result.step_id or '?')}[/]; the IC approves with: "
            f"warroom approve {escape(iid)} {escape(result.step_id or 'STEP')} --reason '...'"
        )

    _act(
        ctx,
        as_,
        as_json,
        incident,
        "propose_step",
        lambda who: ProposeStep(by=who, action=action.value, target=target, description=description, evidence=facts),
        after,
    )


StepArg = Annotated[
    str, typer.Argument(metavar="STEP", help="the step id, e.g. s1 (see `warroom status`)", show_default=False)
]
ReasonOpt = Annotated[str, typer.Option(help="why (recorded with your name)", show_default=False)]


@app.command()
def approve(
    ctx: typer.Context,
    incident: IncidentId,
    step: StepArg,
    reason: ReasonOpt,
    as_: AsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Approve a proposed step (IC only); the reason is recorded with your name.

    Example: warroom approve order-api-20250101-140700 s1 --reason 'deploy 20 min ago, errors above baseline' --as alice
    """
    _act(ctx, as_, as_json, incident, "approve", lambda who: StepDecision(step_id=step, by=who, reason=reason))


@app.command()
def deny(
    ctx: typer.Context,
    incident: IncidentId,
    step: StepArg,
    reason: ReasonOpt,
    as_: AsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Deny a proposed step (IC only); the denial and its reason stay in the timeline.

    Example: warroom deny order-api-20250101-140700 s1 --reason 'migration already applied' --as alice
    """
    _act(ctx, as_, as_json, incident, "deny", lambda who: StepDecision(step_id=step, by=who, reason=reason))


# --- Resolve and retrospective ---------------------------------------------------------------


@app.command()
def mitigated(
    ctx: typer.Context,
    incident: IncidentId,
    action: Annotated[str, typer.Option(help="what stopped the bleeding", show_default=False)],
    as_: AsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Mitigation applied (IC only); the clean-metrics window starts before it counts as mitigated.

    Example: warroom mitigated order-api-20250101-140700 --action 'rolled back to v2.14.2' --as alice
    """
    _act(ctx, as_, as_json, incident, "mark_mitigated", lambda who: MarkMitigated(by=who, action=action))


@app.command()
def resolve(
    ctx: typer.Context,
    incident: IncidentId,
    summary: Annotated[str, typer.Option(help="what was wrong and what fixed it", show_default=False)],
    pir_owner: Annotated[
        str | None, typer.Option(help="who files the post-incident review (default: the IC)", show_default=False)
    ] = None,
    as_: AsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Declare resolution (IC only, after verified mitigation); sets the PIR owner and due date.

    Example: warroom resolve order-api-20250101-140700 --summary 'pool leak in v2.14.3, rolled back' --pir-owner bob --as alice
    """
    _act(ctx, as_, as_json, incident, "resolve", lambda who: Resolve(by=who, summary=summary, pir_owner=pir_owner))


@app.command("pir-complete")
def pir_complete(
    ctx: typer.Context,
    incident: IncidentId,
    action_item: Annotated[
        list[ActionItem] | None,
        typer.Option(
            parser=_action_item,
            metavar="'TITLE|OWNER|YYYY-MM-DD'",
            help="repeatable; every item needs an owner and a due date",
            show_default=False,
        ),
    ] = None,
    document: Annotated[str, typer.Option(help="link to the review document")] = "",
    as_: AsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Complete the blameless post-incident review with its action items, which are then tracked to done.

    Example: warroom pir-complete order-api-20250101-140700 --action-item 'alert on pool saturation|bob|2025-01-15' --document https://wiki/pir-42 --as bob
    """
    _act(
        ctx,
        as_,
        as_json,
        incident,
        "complete_pir",
        lambda who: CompletePir(by=who, document=document, action_items=list(action_item or [])),
    )


@app.command("action-done")
def action_done(
    ctx: typer.Context,
    incident: IncidentId,
    item: Annotated[int, typer.Argument(help="the action item's number, as `warroom status` lists them")],
    note: Annotated[str, typer.Option(help="what was done")] = "",
    as_: AsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Mark a PIR action item done; the incident closes when the last one is.

    Example: warroom action-done order-api-20250101-140700 1 --note 'canary analysis shipped' --as bob
    """
    _act(
        ctx,
        as_,
        as_json,
        incident,
        "complete_action_item",
        lambda who: CompleteActionItem(by=who, item=item, note=note),
    )


# --- Reading ---------------------------------------------------------------------------------


@app.command(
    "show", help="Same as `status`: where the incident stands. Example: warroom show order-api-20250101-140700"
)
@app.command()
def status(ctx: typer.Context, incident: IncidentId, as_json: JsonOpt = False) -> None:
    """Where the incident stands: roles, pending steps, next deadlines and the latest timeline.

    Example: warroom status order-api-20250101-140700
    """
    settings = _settings(ctx)
    state = _run(_query_state(settings, incident))
    if as_json:
        print(state.model_dump_json(indent=2))
        return
    _render_state(state, datetime.now(UTC))


@app.command("pir-draft")
def pir_draft_command(
    ctx: typer.Context,
    incident: IncidentId,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="write to this file instead of stdout", show_default=False)
    ] = None,
) -> None:
    """A blameless PIR draft in Markdown: summary, impact, MTTx against the runbook's targets, timeline, action items.

    Example: warroom pir-draft order-api-20250101-140700 -o pir.md
    """
    from warroom.pir_draft import pir_draft

    settings = _settings(ctx)
    state = _run(_query_state(settings, incident))
    try:
        runbook = load_runbook(settings.runbook)
    except RunbookError as exc:
        _die(str(exc), 2)
    text = pir_draft(state, runbook)
    if output is None:
        print(text, end="")
        return
    output.write_text(text, encoding="utf-8")
    err.print(f"PIR draft written to {output}")


class AuditFormat(StrEnum):
    TABLE = "table"
    JSON = "json"
    MD = "md"


@app.command()
def audit(
    ctx: typer.Context,
    incident: IncidentId,
    format_: Annotated[
        AuditFormat, typer.Option("--format", help="table for people, json for scripts, md for the PIR")
    ] = AuditFormat.TABLE,
    verify_: Annotated[
        bool, typer.Option("--verify", help="also replay the histories against the current workflow code")
    ] = False,
) -> None:
    """The full timeline of an incident, read from Temporal history: works on closed incidents, with no worker.

    Every alert, update (who, why, and the caller's identity), activity with its result, timer and
    message posted, across the incident and its phases. --verify replays them against the current
    code and exits 1 on any non-determinism.

    Example: warroom audit order-api-20250101-140700 --format md > audit.md
    """
    from warroom.audit import audit_rows, incident_histories, short_event, to_markdown, verify

    settings = _settings(ctx)

    async def body() -> tuple[list[Any], list[Any]]:
        client = await connect(settings, identity="warroom-cli")
        async with _on_incident(incident, settings):
            histories = await incident_histories(client, workflow_id_for(incident))
        rows = await audit_rows(histories, client.data_converter)
        return rows, (await verify(histories, converter=client.data_converter) if verify_ else [])

    rows, checks = _run(body())
    if format_ == AuditFormat.JSON:
        print(
            json.dumps(
                {
                    "incident": incident_id_of(workflow_id_for(incident)),
                    "events": [r.model_dump(mode="json") for r in rows],
                    "verification": [c.model_dump() for c in checks],
                },
                indent=2,
            )
        )
    elif format_ == AuditFormat.MD:
        print(to_markdown(workflow_id_for(incident), rows), end="")
    else:
        table = _table(
            None,
            Column("time", no_wrap=True),
            Column("phase", no_wrap=True),
            Column("event", no_wrap=True),
            Column("actor", max_width=18, overflow="ellipsis", no_wrap=True),
            Column("what", overflow="fold", ratio=1),
        )
        for row in rows:
            table.add_row(
                f"{row.at:%H:%M:%S}", row.workflow, short_event(row.event), escape(row.actor), escape(row.summary)
            )
        out.print(table)
    if checks:
        for check in checks:
            verdict = "[green]replays[/]" if check.ok else f"[red]NON-DETERMINISTIC[/]: {escape(check.problem)}"
            err.print(f"{check.workflow_id} ({check.events} events): {verdict}")
        if not all(c.ok for c in checks):
            raise typer.Exit(1)


async def _query_state(settings: Settings, incident: str) -> IncidentState:
    client = await connect(settings, identity="warroom-cli")
    handle = client.get_workflow_handle(workflow_id_for(incident))
    async with _on_incident(incident, settings):
        return await handle.query("state", result_type=IncidentState)


@app.command(
    "incidents",
    help="Same as `list`: incidents by severity, service, phase. Example: warroom incidents --severity P1 --open",
)
@app.command("list")
def list_incidents(
    ctx: typer.Context,
    severity: Annotated[
        Severity | None,
        typer.Option(parser=SEVERITY, metavar="P1|P2|P3", help="only this severity", show_default=False),
    ] = None,
    service: Annotated[str | None, typer.Option(help="only this service", show_default=False)] = None,
    phase: Annotated[
        Phase | None, typer.Option(parser=PHASE, metavar="PHASE", help="only this phase", show_default=False)
    ] = None,
    open_: Annotated[
        bool | None,
        typer.Option("--open/--closed", help="only open (running) or only closed incidents", show_default=False),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="at most this many")] = 50,
    as_json: JsonOpt = False,
) -> None:
    """List incidents through their search attributes (newest first).

    Example: warroom list --severity P1 --open
    """
    settings = _settings(ctx)
    query = _list_query(severity, service, phase, open_)
    rows = _run(_list_rows(settings, query, limit))
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    _render_list(rows, query)


def _list_query(severity: Severity | None, service: str | None, phase: Phase | None, open_: bool | None) -> str:
    """Visibility query text; every value is an enum or a checked service name, so quoting is safe."""
    clauses = ["WorkflowType = 'Incident'"]
    if severity:
        clauses.append(f"{search.SEVERITY.name} = '{severity.value}'")
    if service:
        name = service.strip().lower()
        if not name or "'" in name or "\\" in name:
            _die(f"--service {service!r} is not a service name", 2)
        clauses.append(f"{search.SERVICE.name} = '{name}'")
    if phase:
        clauses.append(f"{search.PHASE.name} = '{phase.value}'")
    if open_ is not None:
        clauses.append("ExecutionStatus = 'Running'" if open_ else "ExecutionStatus != 'Running'")
    return " AND ".join(clauses)


async def _list_rows(settings: Settings, query: str, limit: int) -> list[dict[str, Any]]:
    client = await connect(settings, identity="warroom-cli")
    rows = []
    async for wf in client.list_workflows(query, limit=limit):
        attrs = wf.typed_search_attributes
        rows.append(
            {
                "incident_id": incident_id_of(wf.id),
                "workflow_id": wf.id,
                "severity": attrs.get(search.SEVERITY),
                "service": attrs.get(search.SERVICE),
                "phase": attrs.get(search.PHASE),
                "commander": attrs.get(search.COMMANDER),
                "started": wf.start_time.isoformat(),
                "status": wf.status.name.lower() if wf.status else None,
            }
        )
    return rows


# --- Rendering -------------------------------------------------------------------------------


def _at(moment: datetime | None, now: datetime) -> str:
    """A time as the IC script says it (14:07 UTC) plus how long ago, so nobody does arithmetic."""
    if moment is None:
        return "—"
    return f"{moment:%H:%M:%S} UTC ({_ago(now - moment)})"


def _ago(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds >= 0:
        return f"{format_duration(timedelta(seconds=seconds))} ago"
    return f"in {format_duration(timedelta(seconds=-seconds))}"


def _render_state(state: IncidentState, now: datetime) -> None:
    _render_header(state, now)
    out.print(_roles_table(state))
    if state.pending_steps():
        out.print(_steps_table(state))
        out.print(f"  IC: warroom approve {escape(state.incident_id)} STEP --reason '...'   (or deny)")
    if state.deadlines:
        out.print(_deadlines_table(state, now))
    out.print(_timeline_table(state))


def _table(title: str | None, *columns: str | Column) -> Table:
    """Borderless, so a status pasted into the incident channel stays readable."""
    table = Table(
        *columns,
        title=title,
        title_justify="left",
        title_style="bold",
        box=None,
        header_style="dim",
        padding=(0, 1),
        pad_edge=False,
    )
    if title:
        table.title = f"\n{title}"
    return table


def _render_header(state: IncidentState, now: datetime) -> None:
    severity = state.severity.value if state.severity else "unassessed"
    out.print(
        f"[bold]{escape(state.incident_id)}[/]  {severity}  phase [bold]{state.phase.value}[/]  "
        f"{escape(state.service)}: {escape(state.summary)}"
    )
    out.print(f"  {'channel':<13}{escape(state.channel or '— (not declared yet)')}")
    out.print(f"  {'opened':<13}{state.opened_at:%Y-%m-%d} {_at(state.opened_at, now)}")
    ack = _at(state.acknowledged_at, now) + (f" by {escape(state.acknowledged_by)}" if state.acknowledged_by else "")
    for label, value in (
        ("declared", _at(state.declared_at, now)),
        ("acknowledged", ack),
        ("mitigated", _at(state.mitigated_at, now)),
        ("resolved", _at(state.resolved_at, now)),
    ):
        out.print(f"  {label:<13}{value}")
    if state.mitigation_applied_at and not state.mitigated_at:
        out.print(
            f"  {'mitigating':<13}{escape(state.mitigation_action or '')} since {_at(state.mitigation_applied_at, now)}; "
            "waiting for clean metrics"
        )
    special = [
        name
        for name, on in (
            ("data loss", state.signals.data_loss),
            ("security", state.signals.security),
            ("vendor", state.signals.third_party_vendor),
        )
        if on
    ]
    if special:
        ticket = f", vendor ticket {escape(state.vendor_ticket)}" if state.vendor_ticket else ""
        out.print(f"  [yellow]{'special':<13}{', '.join(special)}{ticket}[/]")


def _roles_table(state: IncidentState) -> Table:
    table = _table("roles", "role", "who")
    for role in Role:
        table.add_row(role.value, escape(state.roles.get(role, "—")))
    return table


def _steps_table(state: IncidentState) -> Table:
    table = _table("pending steps", "step", "action", "target", "proposed by", "description")
    for step in state.pending_steps():
        table.add_row(
            step.step_id, step.action, escape(step.target), escape(step.proposed_by), escape(step.description)
        )
    return table


def _deadlines_table(state: IncidentState, now: datetime) -> Table:
    table = _table("next deadlines", "kind", "at", "in", "audience")
    for deadline in sorted(state.deadlines, key=lambda d: d.at):
        left = int((deadline.at - now).total_seconds())
        when = (
            f"overdue {format_duration(timedelta(seconds=-left))}"
            if left < 0
            else format_duration(timedelta(seconds=left))
        )
        table.add_row(deadline.kind, f"{deadline.at:%H:%M:%S} UTC", when, escape(", ".join(deadline.audience) or "—"))
    return table


def _timeline_table(state: IncidentState) -> Table:
    shown = state.timeline[-TIMELINE_ROWS:]
    table = _table(f"timeline (last {len(shown)} of {len(state.timeline)})", "time", "actor", "kind", "message")
    for entry in shown:
        table.add_row(f"{entry.at:%H:%M:%S}", escape(entry.actor), entry.kind, escape(entry.message))
    return table


def _render_list(rows: list[dict[str, Any]], query: str) -> None:
    if not rows:
        out.print(f"no incidents match {escape(query)}")
        return
    today = datetime.now(UTC).date()
    # the id is the one thing people copy: never cut it
    table = _table(None, Column("id", no_wrap=True), "sev", "service", "phase", "IC", "started", "status")
    for row in rows:
        started = datetime.fromisoformat(row["started"])
        when = f"{started:%H:%M}" if started.date() == today else f"{started:%Y-%m-%d}"
        table.add_row(
            *(escape(str(row[k] or "—")) for k in ("incident_id", "severity", "service", "phase", "commander")),
            when,
            row["status"] or "?",
        )
    out.print(table)


def main() -> None:
    """The `warroom` console script.

    It ends with os._exit: the Temporal client's Rust threads can abort an interpreter that is
    finalizing ("PyGILState_Release", temporalio/sdk-python#300), which would turn a clean
    answer into exit 134 for a short-lived process like this one.
    """
    try:
        app(prog_name="warroom")
        code = 0
    except SystemExit as exc:
        code = _exit_code(exc.code)
    except Exception:
        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _exit_code(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


if __name__ == "__main__":
    main()
