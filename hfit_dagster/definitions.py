"""Dagster definitions for every approved template in templates/ (``workspace.yaml`` loads this module).

``defs`` is a ``@dg.definitions`` function: Dagster calls it when it loads the code location, so importing
this module reads no template and no environment. Drafts in templates/ are left out: they build only locally, with
``hfit build``. Per template, see ``orchestration/template_assets.py``; across templates, the alert sensor and
the retention job. Templates made through the service's API join them (``orchestration/service_templates.py``).
Tests call ``build_definitions`` with their own templates folder and home.
"""

from pathlib import Path

import dagster as dg

from hfit_dagster.orchestration.alert_sensor import build_alert_sensor
from hfit_dagster.orchestration.executors import executor_from_env, with_executor
from hfit_dagster.orchestration.resources import HfitResource
from hfit_dagster.orchestration.retention import hfit_retention, retention_schedule
from hfit_dagster.orchestration.service_templates import service_templates
from hfit_dagster.orchestration.template_assets import build_template_defs
from hfit_dagster.settings import load_settings
from hfit_dagster.template.loader import discover_templates

__all__ = ["HfitResource", "build_definitions", "build_template_defs", "defs"]


def build_definitions(templates_dir: Path | None = None, home: Path | None = None) -> dg.Definitions:
    """Per approved template its assets, checks, job and schedule; the alert sensor; the retention job."""
    settings = load_settings(home=home) if home is not None else load_settings()
    approved = {name: f for name, f in discover_templates(templates_dir or settings.templates_dir).items()
                if f.spec.status == "approved"}
    # made through the service's API (service_templates.py); none takes the job of a repository template
    mirrored = service_templates(settings.home, beside=approved)
    approved.update({name: f for name, f in mirrored.items() if f.spec.status == "approved"})
    drafts = [f for name, f in mirrored.items() if f.spec.status != "approved" and name not in approved]
    templates = list(approved.values())
    per_template = [build_template_defs(found) for found in templates]
    for found in drafts:  # a draft's dry runs: its job and assets, never a schedule
        draft = build_template_defs(found)
        per_template.append(dg.Definitions(assets=draft.assets, jobs=draft.jobs))
    jobs = [job for d in per_template for job in (d.jobs or [])]
    sensor = build_alert_sensor([f.spec for f in templates], jobs)
    return dg.Definitions.merge(
        *per_template,
        dg.Definitions(
            jobs=[hfit_retention], schedules=[retention_schedule], sensors=[sensor] if sensor else [],
            resources={"hfit": HfitResource(home=str(settings.home))},
        ),
    )


@dg.definitions
def defs() -> dg.Definitions:
    """The code location: ``build_definitions`` over the configured templates, every job on the executor
    ``HFIT_DAGSTER_EXECUTOR`` names (default: multiprocess)."""
    return with_executor(build_definitions(), executor_from_env())
