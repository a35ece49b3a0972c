"""Every string an Ansible or Kubernetes activity takes, swept with hostile values: refused before a
process, a run directory or an API request exists; free text never reaches the API at all.

The hand-picked cases of tests/ansible/test_ansible_runner.py (test_bad_input_is_refused_before_
anything_runs) and tests/kubernetes/test_activities.py (test_invalid_names_fail_before_any_request)
show the mechanism; this sweep shows no field was forgotten: each field × `..`, `;`, `$()`, backticks,
LF, CRLF, NUL, a lone surrogate (what invalid UTF-8 becomes after surrogateescape) and 1 MB.

The request models take any `str` on purpose (a model that refused would fail workflow decoding,
which Temporal retries): the refusal is the activity's, a non-retryable PlaybookInvalid, InvalidName
or InvalidRequest, and that is what is asserted (for Ansible, with a reason naming the field). Each
field's benign twin goes all the way (a real ansible-runner run — the twins of one playbook share a
run — or a request to the emulated API server), so every refusal here is one that could fail.
Two Kubernetes fields are free text by design: a log `pattern` (a local regex, capped at 200
characters) and a migration `annotation` (a key looked up in objects already read); for them the
proof is that the API sees exactly what it sees for a plain value.
"""

from __future__ import annotations

import json
import re
import tempfile
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from pydantic import BaseModel
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.ansible import AnsibleSettings, PlaybookRunner
from activities.kubernetes import KubeActivities, KubeGateway, KubeSettings
from sandbox.cluster import Cluster, RunningCluster, load_scenario, serve
from tests.ansible.support import EXTRA_PLAYBOOKS, PG_PASSWORD, Recorder, processes_mentioning
from tests.kubernetes.conftest import NS, SCENARIO
from warroom.contracts.ansible import (
    HostDiagnosticsRequest,
    PlaybookRequest,
    PostgresHealthRequest,
    ServiceLogsRequest,
)
from warroom.contracts.kubernetes import (
    EventsRequest,
    LogsRequest,
    MigrationCheckRequest,
    PodHealthRequest,
    RollbackRequest,
    RolloutStatusRequest,
    ScaleRequest,
)
from warroom.models import DeploymentTarget

pytestmark = pytest.mark.system("openssh-client")

PWNED = Path(tempfile.gettempdir()) / f"warroom-pwned-{uuid.uuid4().hex[:8]}"
HOSTILE: dict[str, str] = {
    "dotdot": "../../etc/passwd",
    "semicolon": "x; rm -rf /",
    "subst": f"$(touch {PWNED})",
    "backticks": f"`touch {PWNED}`",
    "lf": "a\nb",
    "crlf": "a\r\nb",
    "nul": "a\x00b",
    "surrogate": "\udcff",
    "1mb": "a" * 1_048_576,
}
TALLY: Counter[str] = Counter()


def clean_line(message: str) -> bool:
    """A refusal fit for a workflow's history: one line, bounded, encodable (the value escaped or absent)."""
    try:
        message.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return len(message) <= 1200 and not any(c in message for c in "\n\r\x00")


@pytest.fixture(scope="module", autouse=True)
def summary() -> Iterator[None]:
    yield
    print(
        f"\n[reliability] hostile activities: {TALLY['hostile']} hostile values → {TALLY['refused']} refused "
        f"(PlaybookInvalid {TALLY['PlaybookInvalid']}, InvalidName {TALLY['InvalidName']}, InvalidRequest "
        f"{TALLY['InvalidRequest']}), {TALLY['free']} free-text values accepted and never sent; "
        f"{TALLY['spawned']} playbook runs started, {TALLY['api']} API requests, {TALLY['beats']} heartbeats; "
        f"controls: {TALLY['control_values']} benign values reached ansible-runner in {TALLY['control_runs']} runs, "
        f"{TALLY['control_api']} the API "
        f"server; {PWNED.name} {'EXISTS' if PWNED.exists() else 'never created'}"
    )
    # Every figure printed is also asserted (each test asserts its own share; these are the totals).
    assert TALLY["hostile"] == TALLY["refused"] + TALLY["free"]
    assert TALLY["refused"] == TALLY["PlaybookInvalid"] + TALLY["InvalidName"] + TALLY["InvalidRequest"]
    assert TALLY["spawned"] == TALLY["api"] == TALLY["beats"] == 0 and not PWNED.exists()


# =============================================================================================
# Ansible: every string field of every activity input, through the activity boundary
# =============================================================================================


@dataclass(frozen=True)
class AnsibleField:
    activity: str
    build: Callable[[str], BaseModel]
    benign: str
    about: str  # what the refusal of a hostile value says: this field's own validation, no other reason


def _extravars(playbook: str, base: dict[str, Any], name: str) -> Callable[[str], BaseModel]:
    return lambda v: PlaybookRequest(playbook=playbook, extravars={**base, name: v})


TARGET = r"^target must be a host of the worker's inventory "
ANSIBLE: dict[str, AnsibleField] = {
    "PlaybookRequest.playbook": AnsibleField(
        "run_playbook", lambda v: PlaybookRequest(playbook=v), "noop", r"^a playbook is named by "
    ),
    "PlaybookRequest.target": AnsibleField(
        "run_playbook", lambda v: PlaybookRequest(playbook="noop", target=v), "db-7.internal", TARGET
    ),
    "PlaybookRequest.extravars key": AnsibleField(
        "run_playbook",
        lambda v: PlaybookRequest(playbook="sleep", extravars={"seconds": 1, v: "x"}),
        "marker",
        r"^extravars for 'sleep' refused: .*\.\[key\]: [^;]*$",  # the key is shown, cut and masked
    ),
    "PlaybookRequest.extravars value (extra playbook)": AnsibleField(
        "run_playbook",
        _extravars("sleep", {"seconds": 1}, "marker"),
        "run-42",
        r"^extravars for 'sleep' refused: marker\.",
    ),
    "service_logs extravars.service": AnsibleField(
        "run_playbook", _extravars("service_logs", {}, "service"), "order-api", r"refused: service: [^;]*$"
    ),
    "service_logs extravars.log_file": AnsibleField(
        "run_playbook",
        _extravars("service_logs", {"service": "order-api"}, "log_file"),
        "app.log",
        r"refused: log_file: [^;]*$",
    ),
    "postgres_health extravars.pg_host": AnsibleField(
        "run_playbook", _extravars("postgres_health", {}, "pg_host"), "db.internal", r"refused: pg_host: [^;]*$"
    ),
    "postgres_health extravars.pg_database": AnsibleField(
        "run_playbook", _extravars("postgres_health", {}, "pg_database"), "orders", r"refused: pg_database: [^;]*$"
    ),
    "postgres_health extravars.pg_user": AnsibleField(
        "run_playbook", _extravars("postgres_health", {}, "pg_user"), "warroom", r"refused: pg_user: [^;]*$"
    ),
    "postgres_health extravars.pg_sslmode": AnsibleField(
        "run_playbook", _extravars("postgres_health", {}, "pg_sslmode"), "require", r"refused: pg_sslmode: [^;]*$"
    ),
    "postgres_health extravars.credential": AnsibleField(
        "run_playbook", _extravars("postgres_health", {}, "credential"), "orders-db", r"refused: credential: [^;]*$"
    ),
    "host_diagnostics extravars.checks[]": AnsibleField(
        "run_playbook",
        lambda v: PlaybookRequest(playbook="host_diagnostics", extravars={"checks": [v]}),
        "cpu",
        r"refused: checks\.0: [^;]*$",
    ),
    "HostDiagnosticsRequest.target": AnsibleField(
        "host_diagnostics", lambda v: HostDiagnosticsRequest(target=v), "localhost", TARGET
    ),
    "HostDiagnosticsRequest.checks[]": AnsibleField(
        "host_diagnostics", lambda v: HostDiagnosticsRequest(checks=[v]), "disk", r"refused: checks\.0: [^;]*$"
    ),
    "HostDiagnosticsRequest.thresholds key": AnsibleField(
        "host_diagnostics",
        lambda v: HostDiagnosticsRequest(thresholds={v: 50.0}),
        "cpu_threshold_percent",
        # An undecodable key has no name to show, so pydantic's error names the value instead.
        r"refused: (.*: Extra inputs are not permitted|value: Input should be a valid string[^;]*)$",
    ),
    "PostgresHealthRequest.host": AnsibleField(
        "postgres_health", lambda v: PostgresHealthRequest(host=v), "10.0.0.7", r"refused: pg_host: [^;]*$"
    ),
    "PostgresHealthRequest.database": AnsibleField(
        "postgres_health", lambda v: PostgresHealthRequest(database=v), "orders", r"refused: pg_database: [^;]*$"
    ),
    "PostgresHealthRequest.user": AnsibleField(
        "postgres_health", lambda v: PostgresHealthRequest(user=v), "warroom", r"refused: pg_user: [^;]*$"
    ),
    "PostgresHealthRequest.sslmode": AnsibleField(
        "postgres_health", lambda v: PostgresHealthRequest(sslmode=v), "verify-full", r"refused: pg_sslmode: [^;]*$"
    ),
    "PostgresHealthRequest.credential": AnsibleField(
        "postgres_health", lambda v: PostgresHealthRequest(credential=v), "orders-db", r"refused: credential: [^;]*$"
    ),
    "ServiceLogsRequest.service": AnsibleField(
        "service_logs", lambda v: ServiceLogsRequest(service=v), "order-api", r"refused: service: [^;]*$"
    ),
    "ServiceLogsRequest.log_file": AnsibleField(
        "service_logs",
        lambda v: ServiceLogsRequest(service="order-api", log_file=v),
        "app.log",
        r"refused: log_file: [^;]*$",
    ),
    "ServiceLogsRequest.target": AnsibleField(
        "service_logs", lambda v: ServiceLogsRequest(service="order-api", target=v), "db-7.internal", TARGET
    ),
}


def _merge(into: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        elif isinstance(value, list) and isinstance(into.get(key), list):
            into[key] = into[key] + [v for v in value if v not in into[key]]
        else:
            into[key] = value
    return into


def _batches() -> dict[str, tuple[str, BaseModel, list[str]]]:
    """The benign twins, merged into one request per activity and playbook: a few real runs carry
    every field's plain value (label → activity, request, fields it covers)."""
    merged: dict[str, tuple[str, dict[str, Any], type[BaseModel], list[str]]] = {}
    for field, spec in ANSIBLE.items():
        request = spec.build(spec.benign)
        label = f"{spec.activity}:{getattr(request, 'playbook', '')}".rstrip(":")
        _, values, model, fields = merged.setdefault(label, (spec.activity, {}, type(request), []))
        _merge(values, request.model_dump(exclude_unset=True))
        fields.append(field)
    return {
        label: (act, model.model_validate(values), fields) for label, (act, values, model, fields) in merged.items()
    }


BATCHES = _batches()


@dataclass
class Ansible:
    runner: PlaybookRunner
    runs_dir: Path
    log: Path

    def runs(self) -> int:
        """ansible-playbook processes that began a play, from ansible's own log (ANSIBLE_LOG_PATH):
        each real run through ansible-runner shows up there under its pid."""
        text = self.log.read_text() if self.log.exists() else ""
        return len(set(re.findall(r"p=(\d+) .*\| PLAY \[", text)))


@pytest.fixture(scope="module")
def ansible(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ansible]:
    """tests/ansible/conftest.py's runner (same inventory, extra playbooks, credentials), real through
    to ansible-runner; ansible logs every playbook it runs, which is how runs are counted."""
    base = tmp_path_factory.mktemp("hostile-ansible")
    runs_dir, log_root = base / "runs", base / "logs"
    runs_dir.mkdir()
    log_root.mkdir()
    (log_root / "app.log").write_text("2026-11-28T14:07:00Z ERROR POST /orders 503\n")
    (log_root / "order-api.log").write_text("2026-11-28T14:07:00Z ERROR POST /orders 503\n")
    inventory = {
        "all": {
            "hosts": {
                "localhost": {"ansible_connection": "local"},
                "db-7.internal": {
                    "ansible_host": "127.0.0.1",
                    "ansible_port": 9,
                    "ansible_user": "nobody",
                    "ansible_connection": "ssh",
                },
            }
        }
    }
    runner = PlaybookRunner(
        AnsibleSettings(
            extra_playbook_dir=EXTRA_PLAYBOOKS,
            temp_root=runs_dir,
            log_root=log_root,
            inventory=inventory,
            credentials={"orders-db": PG_PASSWORD},
        )
    )
    with pytest.MonkeyPatch.context() as env:
        env.setenv("ANSIBLE_LOG_PATH", str(base / "ansible.log"))  # ansible-runner passes it to ansible
        yield Ansible(runner, runs_dir, base / "ansible.log")


@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize("field", ANSIBLE)
def test_ansible_refuses_a_hostile_value_before_anything_runs(field: str, value: str, ansible: Ansible) -> None:
    spec = ANSIBLE[field]
    request = spec.build(HOSTILE[value])  # plain types: the model takes it, the activity must not
    recorder = Recorder()
    before = ansible.runs()
    TALLY["hostile"] += 1
    with pytest.raises(ApplicationError) as caught:
        recorder.run(getattr(ansible.runner, spec.activity), request)
    TALLY["spawned"] += ansible.runs() - before
    TALLY["beats"] += len(recorder.beats)
    assert (caught.value.type, caught.value.non_retryable) == ("PlaybookInvalid", True), caught.value
    assert ansible.runs() == before and recorder.beats == []
    assert list(ansible.runs_dir.iterdir()) == [] and processes_mentioning(str(ansible.runs_dir)) == []
    assert clean_line(caught.value.message), caught.value.message[:300]
    assert re.search(spec.about, caught.value.message), caught.value.message[:300]
    assert not PWNED.exists()
    TALLY["refused"] += 1
    TALLY["PlaybookInvalid"] += 1


@pytest.mark.parametrize("label", BATCHES)
def test_ansible_takes_the_benign_twins_all_the_way_to_the_run(label: str, ansible: Ansible) -> None:
    """Without this, a field refused for another reason (a wrong playbook, a missing variable) would
    pass the sweep above whatever its own validation does. The twins really run: ansible-runner
    starts the playbook (an unreachable host or a database that is not there fails it later, as a
    run, never as PlaybookInvalid), and cleans up after itself."""
    activity_name, request, fields = BATCHES[label]
    for field in fields:  # each field's plain value is in the request that runs
        assert ANSIBLE[field].benign in json.dumps(request.model_dump(mode="json")), field
    before = ansible.runs()
    try:
        Recorder().run(getattr(ansible.runner, activity_name), request)
    except ApplicationError as exc:
        assert exc.type != "PlaybookInvalid", exc
    assert ansible.runs() == before + 1
    assert list(ansible.runs_dir.iterdir()) == [] and processes_mentioning(str(ansible.runs_dir)) == []
    TALLY["control_runs"] += 1
    TALLY["control_values"] += len(fields)


def test_every_ansible_field_has_its_benign_twin_in_a_run() -> None:
    covered = sorted(field for _, _, fields in BATCHES.values() for field in fields)
    assert covered == sorted(ANSIBLE) and len(BATCHES) == 8


# =============================================================================================
# Kubernetes: every string field of every request model, against the emulated API server
# =============================================================================================


@dataclass(frozen=True)
class KubeField:
    activity: str
    build: Callable[[str], BaseModel]
    benign: str
    refusal: str | None  # None: free text, accepted and never sent
    max_length: int | None = None  # free text longer than this is an InvalidRequest


def _names(activity: str, model: Callable[..., BaseModel], **extra: Any) -> dict[str, KubeField]:
    """namespace and deployment of a model addressing one Deployment."""
    return {
        f"{model.__name__}.namespace": KubeField(
            activity, lambda v: model(namespace=v, deployment="web", **extra), NS, "InvalidName"
        ),
        f"{model.__name__}.deployment": KubeField(
            activity, lambda v: model(namespace=NS, deployment=v, **extra), "web", "InvalidName"
        ),
    }


KUBE: dict[str, KubeField] = {
    "PodHealthRequest.namespace": KubeField("pod_health", lambda v: PodHealthRequest(namespace=v), NS, "InvalidName"),
    "PodHealthRequest.deployment": KubeField(
        "pod_health", lambda v: PodHealthRequest(namespace=NS, deployment=v), "web", "InvalidName"
    ),
    "PodHealthRequest.labels key": KubeField(
        "pod_health", lambda v: PodHealthRequest(namespace=NS, labels={v: "web"}), "app", "InvalidName"
    ),
    "PodHealthRequest.labels value": KubeField(
        "pod_health", lambda v: PodHealthRequest(namespace=NS, labels={"app": v}), "web", "InvalidName"
    ),
    "EventsRequest.namespace": KubeField("events", lambda v: EventsRequest(namespace=v), NS, "InvalidName"),
    "EventsRequest.deployment": KubeField(
        "events", lambda v: EventsRequest(namespace=NS, deployment=v), "web", "InvalidName"
    ),
    "EventsRequest.kind": KubeField("events", lambda v: EventsRequest(namespace=NS, kind=v), "Pod", "InvalidName"),
    "EventsRequest.name": KubeField("events", lambda v: EventsRequest(namespace=NS, name=v), "web", "InvalidName"),
    "LogsRequest.namespace": KubeField("logs", lambda v: LogsRequest(namespace=v, deployment="web"), NS, "InvalidName"),
    "LogsRequest.pod": KubeField("logs", lambda v: LogsRequest(namespace=NS, pod=v), "web-0", "InvalidName"),
    "LogsRequest.deployment": KubeField(
        "logs", lambda v: LogsRequest(namespace=NS, deployment=v), "web", "InvalidName"
    ),
    "LogsRequest.container": KubeField(
        "logs", lambda v: LogsRequest(namespace=NS, deployment="web", container=v), "web", "InvalidName"
    ),
    "LogsRequest.labels key": KubeField(
        "logs", lambda v: LogsRequest(namespace=NS, labels={v: "web"}), "app", "InvalidName"
    ),
    "LogsRequest.labels value": KubeField(
        "logs", lambda v: LogsRequest(namespace=NS, labels={"app": v}), "web", "InvalidName"
    ),
    "LogsRequest.pattern": KubeField(
        "logs", lambda v: LogsRequest(namespace=NS, deployment="web", previous=False, pattern=v), "error", None, 200
    ),
    **_names("rollout_status", RolloutStatusRequest, wait=False),
    **_names("rollout_history", DeploymentTarget),
    **_names("migration_check", MigrationCheckRequest),
    "MigrationCheckRequest.annotation": KubeField(
        "migration_check",
        lambda v: MigrationCheckRequest(namespace=NS, deployment="web", annotation=v),
        "warroom.io/db-migration-applied",
        None,
    ),
    **_names("rollback", RollbackRequest, dry_run=True),
    "RollbackRequest.idempotency_key": KubeField(
        "rollback",
        lambda v: RollbackRequest(namespace=NS, deployment="web", dry_run=True, idempotency_key=v),
        "incident-order-api-1/step-2",
        "InvalidRequest",
    ),
    **_names("scale", ScaleRequest, replicas=2, dry_run=True),
}
REFUSED = [
    (field, value)
    for field, spec in KUBE.items()
    for value in HOSTILE
    if spec.refusal or (spec.max_length is not None and len(HOSTILE[value]) > spec.max_length)
]
FREE = [(field, value) for field, spec in KUBE.items() for value in HOSTILE if (field, value) not in REFUSED]


@pytest.fixture(scope="module")
def running() -> Iterator[RunningCluster]:
    """tests/kubernetes' scenario, one emulated API server for the module: nothing here writes."""
    with serve(Cluster(load_scenario(SCENARIO))) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def kube(running: RunningCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeActivities]:
    kubeconfig = running.write_kubeconfig(tmp_path_factory.mktemp("hostile-kube") / "kubeconfig", namespace=NS)
    gateway = KubeGateway.from_settings(KubeSettings(kubeconfig=str(kubeconfig), qps=500, burst=100))
    yield KubeActivities(gateway)
    gateway.close()


def call(kube: KubeActivities, spec: KubeField, value: str) -> Any:
    return ActivityEnvironment().run(getattr(kube, spec.activity), spec.build(value))


def sent(running: RunningCluster, since: int) -> list[tuple[str, str, str, str]]:
    return [(r.method, r.path, r.query, json.dumps(r.body, default=str)) for r in running.requests[since:]]


@pytest.mark.parametrize("field, value", REFUSED, ids=[f"{f}-{v}" for f, v in REFUSED])
def test_kubernetes_refuses_a_hostile_value_before_any_request(
    field: str, value: str, kube: KubeActivities, running: RunningCluster
) -> None:
    spec = KUBE[field]
    expected = spec.refusal or "InvalidRequest"
    before = len(running.requests)
    TALLY["hostile"] += 1
    with pytest.raises(ApplicationError) as caught:
        call(kube, spec, HOSTILE[value])
    TALLY["api"] += len(running.requests) - before
    assert (caught.value.type, caught.value.non_retryable) == (expected, True), caught.value
    assert len(running.requests) == before, sent(running, before)
    assert clean_line(caught.value.message), caught.value.message[:300]
    TALLY["refused"] += 1
    TALLY[expected] += 1


@pytest.mark.parametrize("field, value", FREE, ids=[f"{f}-{v}" for f, v in FREE])
def test_kubernetes_free_text_never_reaches_the_api(
    field: str, value: str, kube: KubeActivities, running: RunningCluster
) -> None:
    """Same requests as with a plain value, and the value in none of them (raw or URL-encoded)."""
    spec, hostile = KUBE[field], HOSTILE[value]
    start = len(running.requests)
    call(kube, spec, spec.benign)
    middle = len(running.requests)
    TALLY["hostile"] += 1
    call(kube, spec, hostile)
    plain, with_hostile = sent(running, start)[: middle - start], sent(running, middle)
    assert with_hostile == plain
    forms = {hostile, quote(hostile, safe="", errors="surrogateescape"), json.dumps(hostile)[1:-1]}
    assert not any(form in part for request in with_hostile for part in request for form in forms)
    assert not PWNED.exists()
    TALLY["free"] += 1


@pytest.mark.parametrize("field", [f for f, spec in KUBE.items() if spec.refusal], ids=str)
def test_kubernetes_sends_each_field_benign_twin(field: str, kube: KubeActivities, running: RunningCluster) -> None:
    """Each refused field, with a plain value, does reach the API server: the refusals above are the
    field's own validation, not a request that could never be sent."""
    spec = KUBE[field]
    before = len(running.requests)
    try:
        call(kube, spec, spec.benign)
    except ApplicationError as exc:  # NotFound (web-0 is no pod) is an answer from the server
        assert exc.type not in ("InvalidName", "InvalidRequest"), exc
    assert len(running.requests) > before
    TALLY["control_api"] += 1
