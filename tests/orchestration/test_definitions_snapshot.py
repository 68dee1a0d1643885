"""What Dagster sees of templates/: every asset key (with its parents), job, schedule, sensor and asset check,
compared with the checked-in snapshot tests/orchestration/snapshots/definitions.json.

A change to a template, to the asset factory or to the sensor shows up here as a readable diff. When the
change is intended, refresh the snapshot and commit it with the change::

    make snapshot-definitions      # HFIT_UPDATE_SNAPSHOT=1 pytest tests/orchestration/test_definitions_snapshot.py
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from hfit_dagster import definitions
from hfit_dagster.definitions import build_definitions
from hfit_dagster.orchestration.resources import tables_op_name
from tests.conftest import TEMPLATES
from tests.orchestration.test_run_config import params_fields

SNAPSHOT = Path(__file__).parent / "snapshots" / "definitions.json"
UPDATE_ENV = "HFIT_UPDATE_SNAPSHOT"


def describe(defs: dg.Definitions) -> dict[str, Any]:
    """The parts of ``defs`` a user relies on, as sorted, JSON-able data (no object ids, no paths)."""
    graph = defs.resolve_asset_graph()
    assets = {
        key.to_user_string(): sorted(parent.to_user_string() for parent in graph.get(key).parent_keys)
        for key in sorted(graph.get_all_asset_keys())
    }
    checks = sorted(
        f"{spec.asset_key.to_user_string()}:{spec.name}" + (" (blocking)" if spec.blocking else "")
        for assets_def in graph.assets_defs for spec in assets_def.check_specs
    )
    jobs = sorted(job.name for job in defs.resolve_all_job_defs() if not job.name.startswith("__"))
    schedules = {
        schedule.name: {"job": schedule.job_name, "cron": schedule.cron_schedule,
                        "timezone": schedule.execution_timezone, "default_status": schedule.default_status.value}
        for schedule in sorted(defs.schedules or [], key=lambda s: s.name)
    }
    sensors = {
        sensor.name: sorted(target.job_name for target in sensor.targets)
        for sensor in sorted(defs.sensors or [], key=lambda s: s.name)
    }
    # each template job's launchpad parameters: type ("?" nullable), then required, optional or the default
    params = {
        job.name: {name: f"{kind} " + ("required" if required else "optional" if default is None
                                       else f"default {json.dumps(default)}")
                   for name, (kind, required, default, _) in params_fields(job, tables_op_name(template)).items()}
        for job in defs.resolve_all_job_defs() if (template := job.tags.get("hfit/template"))
    }
    return {"assets": assets, "asset_checks": checks, "jobs": jobs, "schedules": schedules, "sensors": sensors,
            "job_params": dict(sorted(params.items()))}


def test_definitions_of_templates_match_the_snapshot(hfit_home: Path) -> None:
    """Asset keys, dependencies, jobs, schedules, sensors and checks of templates/ are the reviewed ones."""
    defs = build_definitions(TEMPLATES, home=hfit_home)
    dg.Definitions.validate_loadable(defs)
    current = describe(defs)
    if os.environ.get(UPDATE_ENV) == "1":
        SNAPSHOT.write_text(json.dumps(current, indent=2, sort_keys=True) + "\n")
        pytest.skip(f"snapshot written to {SNAPSHOT}")
    expected = json.loads(SNAPSHOT.read_text())
    assert current == expected, (
        f"Dagster definitions differ from {SNAPSHOT.name}; if intended, run `make snapshot-definitions` "
        "and commit the snapshot"
    )


def test_the_code_location_is_a_function_dagster_calls(hfit_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """workspace.yaml loads ``hfit_dagster.definitions``: ``defs`` is a ``@dg.definitions`` function that builds
    the templates the environment names when called, and its result is loadable."""
    monkeypatch.setenv("HFIT_TEMPLATES_DIR", str(TEMPLATES))
    assert callable(definitions.defs) and not isinstance(definitions.defs, dg.Definitions)
    loaded = definitions.defs()
    dg.Definitions.validate_loadable(loaded)
    assert describe(loaded) == describe(build_definitions(TEMPLATES, home=hfit_home))
