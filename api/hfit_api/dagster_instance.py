"""The Dagster instance and workspace the service submits its builds to.

The instance is ``settings.dagster_instance_dir`` (``DAGSTER_HOME``, else ``<home>/dagster``): the one
``make dagster`` and ``hfit build`` use too, so every build is a run in the same UI. When that directory has no
``dagster.yaml``, ``prepare_instance`` writes one for a single machine: SQLite storage (Dagster's default under
DAGSTER_HOME), a ``QueuedRunCoordinator`` that starts at most ``max_concurrent_builds`` runs at once, the
``DefaultRunLauncher`` (each run in a process of the code location; its steps on the executor
``HFIT_DAGSTER_EXECUTOR`` names). An existing ``dagster.yaml`` is never changed: a deployment's own (PostgreSQL,
Celery, Kubernetes) wins.

The workspace is ``settings.dagster_workspace_file``; when it does not exist it is written with the code
location ``hfit_dagster.definitions`` (the module of the repository's ``workspace.yaml``, so runs started here
and from ``make dagster`` name the same location). The daemon that dequeues the runs must load the same
workspace: ``hfit serve`` starts it with this file (``dagster_daemon.py``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from hfit_dagster.errors import HfitError
from hfit_dagster.orchestration.instance import create_storage, sqlite_storage_exists
from hfit_dagster.settings import HfitSettings

CODE_MODULE = "hfit_dagster.definitions"
# how often the daemon looks at the queue (Dagster's default is 5 s; a developer waits for a build)
DEQUEUE_INTERVAL_SECONDS = 1


def default_instance_config(settings: HfitSettings) -> dict[str, Any]:
    """The ``dagster.yaml`` of a single machine (see the module docstring)."""
    return {
        "run_coordinator": {
            "module": "dagster.core.run_coordinator",
            "class": "QueuedRunCoordinator",
            "config": {"max_concurrent_runs": settings.max_concurrent_builds,
                       "dequeue_interval_seconds": DEQUEUE_INTERVAL_SECONDS},
        },
        "run_launcher": {"module": "dagster.core.launcher", "class": "DefaultRunLauncher"},
        # a run that never starts is failed after 3 minutes; one that runs for 12 hours is terminated
        "run_monitoring": {"enabled": True, "start_timeout_seconds": 180, "max_runtime_seconds": 43200,
                           "poll_interval_seconds": 30},
        "telemetry": {"enabled": False},
    }


def default_workspace() -> dict[str, Any]:
    return {"load_from": [{"python_module": {"module_name": CODE_MODULE}}]}


_PREPARING = threading.Lock()  # the daemon's monitor and the launcher prepare the same instance at startup


def prepare_instance(settings: HfitSettings, create_storage: Callable[[Path], None] | None = None) -> Path:
    """The instance directory (0700: run logs and event storage), with a ``dagster.yaml`` and the workspace
    file written when missing, and its storage created (``create_storage``, default: in this process);
    returns the directory."""
    with _PREPARING:
        directory = _write_files(settings)
        check_instance_file(directory)
        if not sqlite_storage_exists(directory):
            (create_storage or create_storage_here)(directory)
        return directory


def check_instance_file(directory: Path) -> None:
    """Raise HfitError naming the file and line when ``dagster.yaml`` is not a YAML mapping (an operator's edit):
    Dagster's own error would reach the log as a traceback and every build as an exception's class name."""
    path = directory / "dagster.yaml"
    hint = "fix it, or delete it: hfit serve then writes one for a single machine (docs/service.md)"
    try:
        content = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise HfitError(f"{path} is not valid YAML{where}", hint=hint) from None
    except OSError as exc:
        raise HfitError(f"{path} cannot be read ({exc.strerror})", hint=hint) from None
    if content is not None and not isinstance(content, dict):
        raise HfitError(f"{path} is not a mapping of Dagster instance settings", hint=hint)


def _write_files(settings: HfitSettings) -> Path:
    directory = settings.dagster_instance_dir.resolve()
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    directory.chmod(0o700)
    _write_if_missing(directory / "dagster.yaml", default_instance_config(settings),
                      "Dagster instance written by hfit serve (docs/service.md): edit freely, it is never rewritten.")
    _write_if_missing(settings.dagster_workspace_file.resolve(), default_workspace(),
                      "Code location of the service's builds and of its daemon, written by hfit serve.")
    return directory


def create_storage_here(directory: Path) -> None:
    """Create the instance's storage, once, before the daemon, the code servers and the launcher open it
    together: SQLite storage created by several processes at once gets two schema heads."""
    try:
        create_storage(directory)
    except Exception as exc:  # noqa: BLE001 - its message may echo the settings (a password): the class only
        raise HfitError(f"the Dagster instance {directory} cannot be opened ({exc.__class__.__name__})",
                        hint=f"check the storage and settings in {directory / 'dagster.yaml'}; the service log "
                        "has Dagster's message") from exc


def _write_if_missing(path: Path, content: dict[str, Any], comment: str) -> None:
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(f"# {comment}\n" + yaml.safe_dump(content, sort_keys=False))
    tmp.replace(path)
