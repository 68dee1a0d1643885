"""Dagster definitions for every approved template in templates/.

(No ``from __future__ import annotations`` here: Dagster reads the config annotations at runtime.)

An asset factory rather than a ``dg.Component``: the template format is hfit's own (the CLI and the API
read the same YAML through ``TemplateSpec``), so a plain function ``build_template_defs(found)`` turns one
validated template into definitions and can be tested without a Dagster instance.

Per template (group = template name):

* one ``multi_asset`` with an ``AssetSpec`` per exported table, key ``[template, table]``, deps from
  ``:export.column`` references. It runs as one step over one read-only snapshot, so the subset is
  consistent; it extracts, masks in memory and stages masked Parquet only;
* one package asset ``[template, "package"]`` that writes ``package.sql`` + manifest, evaluates the
  blocking checks (PII leak, foreign keys) and publishes atomically only when they pass;
* a job, and a schedule when the template has one.

Parameters come from run config (``params``), exactly as ``hfit build`` takes them.
"""


import json
import re
from pathlib import Path
from typing import Any

import dagster as dg

from hfit_dagster.build.checks import check_outcomes
from hfit_dagster.build.package_writer import write_package
from hfit_dagster.build.staging import STAGE_FILE, stage_template
from hfit_dagster.package.store import PackageStore, new_version
from hfit_dagster.settings import HfitSettings, load_settings
from hfit_dagster.template.loader import TemplateFile, discover_templates
from hfit_dagster.template.params import resolve_params
from hfit_dagster.template.spec import TemplateSpec

PACKAGE_KEY = "package"


class TablesConfig(dg.Config):
    """Build parameters, as ``hfit build NAME key=value`` takes them (values are strings)."""

    params: dict[str, str] = {}


class PackageConfig(dg.Config):
    dialect: str = "mysql"
    include_indexes: bool = True


class HfitResource(dg.ConfigurableResource):
    """Where hfit's settings come from; by default the environment and ``.hfit/config.yaml``."""

    home: str = ".hfit"

    def settings(self) -> HfitSettings:
        return load_settings(home=Path(self.home))


def slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


def _staging_dir(store: PackageStore, run_id: str) -> Path:
    return store.root / ".staging" / f"run-{run_id}"


def build_template_defs(found: TemplateFile) -> dg.Definitions:
    spec: TemplateSpec = found.spec
    group = slug(spec.name)
    queries = spec.queries()
    table_specs = [
        dg.AssetSpec(
            key=dg.AssetKey([spec.name, export]),
            deps=[dg.AssetKey([spec.name, ref]) for ref, _ in queries[export].references],
            group_name=group,
            kinds={"sql", "parquet"},
            description=f"Masked rows of {spec.source_table(export)} selected by template {spec.name}",
            metadata={"query": dg.MetadataValue.md(f"```sql\n{queries[export].sql}\n```"),
                      "provider": spec.exports[export].provider},
            tags={"hfit/template": spec.name},
        )
        for export in spec.export_order()
    ]

    @dg.multi_asset(name=f"{group}__tables", specs=table_specs, can_subset=False,
                    description=f"Extract and mask the tables of template {spec.name} (one read-only snapshot)")
    def tables(context: dg.AssetExecutionContext, config: TablesConfig, hfit: HfitResource):  # type: ignore[no-untyped-def]
        settings = hfit.settings()
        params = resolve_params(spec, config.params)
        store = PackageStore(settings.package_store)
        staging = _staging_dir(store, context.run_id)
        store.discard(staging)
        staging.mkdir(parents=True, mode=0o700)
        try:
            result = stage_template(spec, params, settings, staging, progress=context.log.debug)
        except BaseException:
            store.discard(staging)
            raise
        for export in spec.export_order():
            info = result.tables.get(spec.source_table(export), {"rows": 0, "plan": {}})
            yield dg.MaterializeResult(
                asset_key=dg.AssetKey([spec.name, export]),
                metadata={
                    "rows": info["rows"],
                    "masking_plan": dg.MetadataValue.json(info.get("plan", {})),
                    "params": dg.MetadataValue.json(json.loads(json.dumps(params, default=str))),
                },
            )

    @dg.asset(
        key=dg.AssetKey([spec.name, PACKAGE_KEY]),
        deps=[s.key for s in table_specs],
        group_name=group,
        kinds={"sql"},
        description=f"The published package of template {spec.name}: package.sql, Parquet, manifest",
        check_specs=[
            dg.AssetCheckSpec("no_pii_leak", asset=dg.AssetKey([spec.name, PACKAGE_KEY]), blocking=True,
                              description="no original value of a masked column appears in the package"),
            dg.AssetCheckSpec("foreign_keys_satisfied", asset=dg.AssetKey([spec.name, PACKAGE_KEY]),
                              blocking=True, description="every referenced row is in the package"),
        ],
        tags={"hfit/template": spec.name},
    )
    def package(context: dg.AssetExecutionContext, config: PackageConfig, hfit: HfitResource):  # type: ignore[no-untyped-def]
        settings = hfit.settings()
        store = PackageStore(settings.package_store)
        staging = _staging_dir(store, context.run_id)
        if not (staging / STAGE_FILE).is_file():
            raise dg.Failure(f"no staged tables for run {context.run_id}; materialize the table assets first")
        try:
            version = new_version()
            manifest = write_package(staging, version, dialect=config.dialect,
                                     include_indexes=config.include_indexes)
            outcomes = check_outcomes(manifest.checks, manifest.follow_parents)
            for name, (passed, text) in outcomes.items():
                yield dg.AssetCheckResult(check_name=name, passed=passed, description=text,
                                          severity=dg.AssetCheckSeverity.ERROR)
            failures = [f"{name}: {text}" for name, (ok, text) in outcomes.items() if not ok]
            if failures:
                raise dg.Failure("package checks failed, nothing was published: " + "; ".join(failures))
            path = store.publish(spec.name, staging, version)
        except BaseException:
            store.discard(staging)
            raise
        yield dg.MaterializeResult(metadata=_package_metadata(path, manifest.model_dump()))

    job = dg.define_asset_job(f"build_{group}", selection=dg.AssetSelection.groups(group),
                              description=f"Build and publish the package of template {spec.name}",
                              tags={"hfit/template": spec.name})
    schedules = []
    if spec.schedule is not None:
        schedules.append(dg.ScheduleDefinition(
            name=f"{group}_schedule", job=job, cron_schedule=spec.schedule.cron,
            execution_timezone=spec.schedule.timezone,
            run_config={"ops": {f"{group}__tables": {
                "config": {"params": {k: str(v) for k, v in spec.schedule.params.items()}}}}},
        ))
    return dg.Definitions(assets=[tables, package], jobs=[job], schedules=schedules)


def _package_metadata(path: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    return {
        "path": dg.MetadataValue.path(str(path)),
        "version": manifest["version"],
        "rows": sum(t["rows"] for t in manifest["tables"]),
        "tables": dg.MetadataValue.md(
            "| table | role | rows |\n|---|---|---|\n"
            + "\n".join(f"| {t['name']} | {t['role']} | {t['rows']} |" for t in manifest["tables"])
        ),
        "bytes": sum(f["bytes"] for f in manifest["files"].values()),
    }


def build_definitions(templates_dir: Path | None = None, home: Path | None = None) -> dg.Definitions:
    """Definitions for every approved template (drafts build only locally with ``hfit build``)."""
    settings = load_settings(home=home) if home is not None else load_settings()
    templates = discover_templates(templates_dir or settings.templates_dir)
    per_template = [build_template_defs(found) for found in templates.values() if found.spec.status == "approved"]
    return dg.Definitions.merge(
        *per_template,
        dg.Definitions(resources={"hfit": HfitResource(home=str(settings.home))}),
    )


defs = build_definitions()
