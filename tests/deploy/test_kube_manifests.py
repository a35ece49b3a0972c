"""deploy/kubernetes, rendered by the real `kubectl kustomize`: valid against the Kubernetes 1.32
schemas offline (kubernetes-validate bundles them; strict: an unknown field fails), and wired as
docker-compose.yml wires the stack: the same commands, settings and secrets, and a pod shape a
restricted namespace admits."""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pytest
import yaml
from typer.main import get_command

from tests.deploy.kube_manifests import APP_NAMESPACE, ROOT, SECRET_EXAMPLE, one, render
from tests.test_compose import SERVICES, known_variables
from warroom.cli import app
from warroom.runbook import load_runbook

pytestmark = pytest.mark.system("kubectl")
K8S_VERSION = "1.32.0"


def _example_secret() -> dict[str, Any]:
    secret: dict[str, Any] = yaml.safe_load(SECRET_EXAMPLE.read_text())
    return secret


def _containers(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        d["metadata"]["name"]: d["spec"]["template"]["spec"]["containers"][0] for d in docs if d["kind"] == "Deployment"
    }


def test_every_rendered_object_is_valid_against_the_1_32_schemas() -> None:
    docs = render() + [_example_secret()]
    kinds = {d["kind"] for d in docs}
    assert {"Namespace", "Deployment", "Service", "PodDisruptionBudget", "ConfigMap", "Secret"} <= kinds
    assert {"ServiceAccount", "Role", "RoleBinding"} <= kinds
    for doc in docs:
        assert kubernetes_validate.validate(doc, K8S_VERSION, strict=True), doc["metadata"]["name"]


def test_the_validator_rejects_a_misspelt_field() -> None:
    """The check above can fail: a typo'd field of a rendered Deployment is refused, by name."""
    worker = one(render(), "Deployment", "warroom-worker")
    worker["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError, match="livenesProbe"):
        kubernetes_validate.validate(worker, K8S_VERSION, strict=True)


def test_each_deployment_has_probes_resources_and_a_disruption_budget() -> None:
    docs = render()
    containers = _containers(docs)
    assert set(containers) == {"warroom-worker", "warroom-intake"}
    for name, c in containers.items():
        assert c["livenessProbe"]["httpGet"]["path"] == "/healthz", name
        assert {"cpu", "memory"} <= set(c["resources"]["requests"]) and "memory" in c["resources"]["limits"], name
        deployment = one(docs, "Deployment", name)
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert deployment["spec"]["replicas"] >= 2, f"{name}: one pod cannot survive a drain"
        pdb = one(docs, "PodDisruptionBudget", name)
        assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items(), f"{name}: the PDB selects nothing"
        assert pdb["spec"]["minAvailable"] < deployment["spec"]["replicas"], f"{name}: the PDB blocks every drain"
    assert containers["warroom-intake"]["readinessProbe"]["httpGet"]["port"] == "http"
    worker = containers["warroom-worker"]
    port = {p["name"]: p["containerPort"] for p in worker["ports"]}[worker["livenessProbe"]["httpGet"]["port"]]
    assert {"name": "WARROOM_HEALTH_PORT", "value": str(port)} in worker["env"], "the probe asks a port nobody serves"


def test_the_pods_run_as_the_restricted_standard_requires() -> None:
    docs = render()
    assert one(docs, "Namespace", APP_NAMESPACE)["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == (
        "restricted"
    )
    for d in docs:
        if d["kind"] != "Deployment":
            continue
        pod = d["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        for c in pod["containers"]:
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
            assert sc["capabilities"]["drop"] == ["ALL"]
            mounted = {m["mountPath"] for m in c["volumeMounts"]}
            assert {"/tmp", "/home/warroom"} <= mounted, "a read-only root needs somewhere to write"
    intake = one(docs, "Deployment", "warroom-intake")["spec"]["template"]["spec"]
    assert intake["automountServiceAccountToken"] is False, "the intake never calls the Kubernetes API"


def test_the_intake_service_reaches_the_intake_pods() -> None:
    docs = render()
    service = one(docs, "Service", "warroom-intake")
    intake = one(docs, "Deployment", "warroom-intake")
    assert service["spec"]["selector"].items() <= intake["spec"]["template"]["metadata"]["labels"].items()
    assert service["spec"]["ports"][0]["targetPort"] in {
        p["name"] for p in _containers(docs)["warroom-intake"]["ports"]
    }


def test_commands_and_settings_are_the_compose_files() -> None:
    docs = render()
    commands = set(get_command(app).commands)  # type: ignore[attr-defined]
    containers = _containers(docs)
    assert containers["warroom-worker"]["args"] == SERVICES["worker"]["command"]
    assert containers["warroom-intake"]["args"] == SERVICES["intake"]["command"]
    assert {c["args"][0] for c in containers.values()} <= commands
    settings = next(
        d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("warroom-settings")
    )
    known = known_variables()
    for variable in settings["data"]:
        assert variable in known, f"the ConfigMap's {variable} is not read by any settings model"
    compose_env = SERVICES["worker"]["environment"]
    for variable in ("WARROOM_TEMPORAL_NAMESPACE", "WARROOM_TASK_QUEUE", "WARROOM_RUNBOOK", "WARROOM_DATA_DIR"):
        assert settings["data"][variable] == compose_env[variable], variable
    for name, c in containers.items():
        assert c["envFrom"] == [{"configMapRef": {"name": settings["metadata"]["name"]}}], name
        for variable in c["env"]:
            assert variable["name"] in known, f"{name}: {variable['name']} is not a setting"


def test_secrets_are_wired_as_in_compose_and_only_placeholders_are_committed() -> None:
    docs = render()
    assert not [d for d in docs if d["kind"] == "Secret"], "apply -k must never overwrite the real Secret"
    example = _example_secret()
    assert all(value.startswith("PLACEHOLDER") for value in example["stringData"].values())
    for name, service in (("warroom-worker", "worker"), ("warroom-intake", "intake")):
        from_secret = {
            e["name"]: e["valueFrom"]["secretKeyRef"] for e in _containers(docs)[name]["env"] if "valueFrom" in e
        }
        compose = {k for k, v in SERVICES[service]["environment"].items() if str(v).startswith("${WARROOM_")}
        assert set(from_secret) == compose, f"{name}: secrets differ from docker-compose.yml's {service}"
        for variable, ref in from_secret.items():
            assert ref["name"] == example["metadata"]["name"] and ref["key"] == variable
            assert ref["key"] in example["stringData"], f"secret.example.yaml lacks {variable}"
            required = ":?" in SERVICES[service]["environment"][variable]
            assert ref.get("optional", False) is not required, f"{name}: {variable} optional as in compose"


def test_the_runbook_config_map_is_the_shipped_runbook() -> None:
    """The copy in deploy/kubernetes (kustomize reads files only below the kustomization) loads and
    matches warroom/runbook.default.yaml, so the cluster runs the runbook the README documents."""
    docs = render()
    runbook = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("warroom-runbook"))
    assert runbook["data"]["runbook.yaml"] == (ROOT / "warroom" / "runbook.default.yaml").read_text()
    load_runbook(ROOT / "deploy" / "kubernetes" / "runbook.yaml")
    for c in _containers(docs).values():
        mount = next(m for m in c["volumeMounts"] if m["name"] == "runbook")
        assert f"{mount['mountPath']}/runbook.yaml" == next(
            d["data"]["WARROOM_RUNBOOK"] for d in docs if d["metadata"]["name"].startswith("warroom-settings")
        )
