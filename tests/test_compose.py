"""docker-compose.yml cannot be started here (no Docker engine), so it is checked against the code:
every warroom command it runs exists, every WARROOM_* variable is a real setting, every file it
mounts is in the repo, and the stack has the pieces production needs."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from typer.main import get_command

from activities.channels.settings import ChannelSettings
from warroom import search
from warroom.chat.settings import ChatSettings
from warroom.cli import app
from warroom.intake.settings import IntakeSettings
from warroom.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
BUILT = {name: s for name, s in SERVICES.items() if s.get("build")}


def known_variables() -> set[str]:
    names = {f"WARROOM_{f.upper()}" for f in Settings.model_fields}
    names |= {f"WARROOM_{f.upper()}" for f in ChannelSettings.model_fields}
    names |= {f"WARROOM_INTAKE_{f.upper()}" for f in IntakeSettings.model_fields}
    names |= {f"WARROOM_{f.upper()}" for f in ChatSettings.model_fields}
    return names | {"WARROOM_CODEC_TOKEN"}  # read by `warroom codec-server`


def test_the_stack_has_what_production_needs() -> None:
    assert {"postgresql", "temporal", "temporal-ui", "worker", "intake", "prometheus", "alertmanager"} <= set(SERVICES)
    assert SERVICES["temporal"]["environment"]["DB"].startswith("postgres")
    assert "build" in SERVICES["worker"] and "build" in SERVICES["intake"]


def test_every_warroom_command_exists() -> None:
    commands = set(get_command(app).commands)  # type: ignore[attr-defined]
    for name, service in BUILT.items():
        assert service["command"][0] in commands, f"{name}: `warroom {service['command'][0]}` does not exist"


def test_every_warroom_variable_is_a_setting() -> None:
    known = known_variables()
    for name, service in SERVICES.items():
        for variable in service.get("environment", {}) or {}:
            if variable.startswith("WARROOM_"):
                assert variable in known, f"{name}: {variable} is not read by any settings model"


def test_mounted_repo_files_exist_and_secrets_are_not_inline() -> None:
    for name, service in SERVICES.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./") and "${" not in volume:
                assert (ROOT / source).exists(), f"{name} mounts {source}, which is not in the repo"
        for variable, value in (service.get("environment") or {}).items():
            if any(word in variable for word in ("TOKEN", "KEY", "PASSWORD", "SECRET", "PWD")):
                assert str(value).startswith("${"), f"{name}: {variable} must come from the environment"


def test_the_dockerfile_installs_what_the_commands_need() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    for folder in ("warroom", "workflows", "activities", "playbooks"):
        assert f"COPY {folder}" in dockerfile
    assert "postgresql-client" in dockerfile  # psql for the postgres_health playbook


def test_the_compose_stack_registers_warrooms_search_attributes() -> None:
    """docker-compose.yml writes them out for `temporal operator`; warroom/search.py is their definition."""
    command = " ".join(SERVICES["temporal-search-attributes"]["command"])
    registered = re.findall(r"--name (\S+) --type (\S+)", command)
    assert registered == [(key.name, search.type_name(key)) for key in search.ALL]
    assert "--namespace warroom" in command and SERVICES["temporal"]["environment"]["DEFAULT_NAMESPACE"] == "warroom"
