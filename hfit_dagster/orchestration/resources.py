"""Dagster resources and run configuration shared by hfit's assets, sensors and jobs.

(No ``from __future__ import annotations``: Dagster reads config annotations at runtime.)
"""

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dagster as dg

from hfit_dagster.orchestration.job_names import job_name as job_name
from hfit_dagster.orchestration.job_names import slug as slug
from hfit_dagster.orchestration.job_names import tables_op_name
from hfit_dagster.orchestration.run_config import PARAMS_FIELD, params_config, sealed_config
from hfit_dagster.orchestration.sealed_params import seal_params
from hfit_dagster.settings import HfitSettings, load_settings
from hfit_dagster.template.loader import resolve_template
from hfit_dagster.template.spec import TemplateSpec


class PackageConfig(dg.Config):
    dialect: str = "mysql"
    include_indexes: bool = True


class HfitResource(dg.ConfigurableResource):
    """Where hfit's settings come from; by default the environment and ``<home>/config.yaml``."""

    home: str = ".hfit"

    def settings(self) -> HfitSettings:
        return load_settings(home=Path(self.home))


def run_config_for(template: str | TemplateSpec, params: Mapping[str, Any]) -> dict[str, object]:
    """Run config of a template's build job with these parameters (``hfit build`` key=value strings).

    The values are converted to the job's typed config (``orchestration/run_config.py``) after the checks
    ``hfit build`` makes, so an unknown, missing or malformed parameter raises the CLI's ParameterError.
    ``template`` is the spec the job was built from, or the name of a template in the configured templates
    folder (pass the spec for a draft or a proposed revision: its parameters may differ).
    """
    spec = template if isinstance(template, TemplateSpec) else resolve_template(
        template, load_settings().templates_dir).spec
    return {"ops": {tables_op_name(spec.name): {"config": {PARAMS_FIELD: params_config(spec, params)}}}}


def sealed_run_config_for(spec: TemplateSpec, params: Mapping[str, str], masking_key: bytes) -> dict[str, object]:
    """Run config of a build of ``spec`` whose parameters Dagster stores sealed (``sealed_params.py``): what the
    service submits, since a value may be personal data and Dagster keeps and shows run config as it is given.
    Checked as ``run_config_for`` checks them (the CLI's ParameterError)."""
    sealed = seal_params(spec.name, params, masking_key)
    return {"ops": {tables_op_name(spec.name): {"config": sealed_config(spec, params, sealed)}}}
