"""Code location of the scale-out test: one real template, its jobs on the executor the environment names.

Workers import this module (by name, from the repository root) to reconstruct the job of a step, exactly as
they would import ``hfit_dagster.definitions`` in a deployment; the executor comes from the same
``HFIT_DAGSTER_EXECUTOR`` / ``HFIT_CELERY_*`` variables the containers use.
"""

import dagster as dg

from hfit_dagster.orchestration.executors import executor_from_env, with_executor
from hfit_dagster.orchestration.resources import HfitResource, job_name
from hfit_dagster.orchestration.template_assets import build_template_defs
from hfit_dagster.settings import load_settings
from hfit_dagster.template.loader import resolve_template

TEMPLATE = "integration-test-suite"
JOB = job_name(TEMPLATE)

_settings = load_settings()
defs = with_executor(
    dg.Definitions.merge(
        build_template_defs(resolve_template(TEMPLATE, _settings.templates_dir)),
        dg.Definitions(resources={"hfit": HfitResource(home=str(_settings.home))}),
    ),
    executor_from_env(),
)
