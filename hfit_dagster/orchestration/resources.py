"""Dagster resources and run configuration shared by hfit's assets, sensors and jobs.

(No ``from __future__ import annotations``: Dagster reads config annotations at runtime.)
"""

import re
from pathlib import Path

import dagster as dg

from hfit_dagster.settings import HfitSettings, load_settings


class TablesConfig(dg.Config):
    """Build parameters, as ``hfit build NAME key=value`` takes them (values are strings)."""

    params: dict[str, str] = {}


class PackageConfig(dg.Config):
    dialect: str = "mysql"
    include_indexes: bool = True


class HfitResource(dg.ConfigurableResource):
    """Where hfit's settings come from; by default the environment and ``<home>/config.yaml``."""

    home: str = ".hfit"

    def settings(self) -> HfitSettings:
        return load_settings(home=Path(self.home))


def slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


def job_name(template: str) -> str:
    return f"build_{slug(template)}"


def tables_op_name(template: str) -> str:
    return f"{slug(template)}__tables"


def run_config_for(template: str, params: dict[str, str]) -> dict[str, object]:
    """Run config of a template's build job with these parameters."""
    return {"ops": {tables_op_name(template): {"config": {"params": dict(params)}}}}
