"""One template → Dagster definitions: table assets, a package asset with blocking checks, a job, a schedule.

An asset factory rather than a ``dg.Component``: the template format is hfit's own (the CLI and the API
read the same YAML through ``TemplateSpec``), so a plain function ``build_template_defs(found)`` turns one
validated template into definitions and can be tested without a Dagster instance.

* one ``multi_asset`` with an ``AssetSpec`` per exported table, key ``[template, table]``, deps from
  ``:export.column`` references: one step over one read-only snapshot, so the subset is consistent; it
  extracts, masks in memory and stages masked Parquet only;
* one package asset ``[template, "package"]`` that writes ``package.sql`` + manifest, evaluates the checks
  (PII leak, foreign keys, row counts: blocking; schema drift: warning) and publishes atomically only when
  the blocking ones pass; a freshness policy when the template declares one;
* a job, and a schedule when the template has one.

(No ``from __future__ import annotations``: Dagster reads config annotations at runtime.)
"""

import json
import time
from pathlib import Path
from typing import Any

import dagster as dg
import pyarrow.parquet as pq

from hfit_dagster.errors import BuildError, ParameterError
from hfit_dagster.orchestration.draft_builds import check_requested_content, for_build, is_draft
from hfit_dagster.orchestration.instance import PACKAGE_KEY, package_metadata
from hfit_dagster.orchestration.parameter_refusals import without_value
from hfit_dagster.orchestration.resources import (
    HfitResource,
    PackageConfig,
    job_name,
    sealed_run_config_for,
    slug,
    tables_op_name,
)
from hfit_dagster.orchestration.run_config import (
    PARAMS_FIELD,
    SEALED_FIELD,
    params_from_config,
    tables_config_schema,
)
from hfit_dagster.orchestration.sealed_params import open_params
from hfit_dagster.package.manifest import parameter_digests
from hfit_dagster.package.store import PackageStore, new_version
from hfit_dagster.pipeline.checks import check_outcomes, drift_note
from hfit_dagster.pipeline.package_writer import write_package
from hfit_dagster.pipeline.staging import stage_template
from hfit_dagster.pipeline.staging_layout import PARQUET_DIR, STAGE_FILE
from hfit_dagster.template.builtins import BUILTINS, debug_details, prepare_build
from hfit_dagster.template.durations import parse_duration
from hfit_dagster.template.loader import TemplateFile
from hfit_dagster.template.spec import TemplateSpec

# what the tables step decided for the package step: no data, parameters as the manifest keeps them (digests)
OPTIONS_FILE = "build_options.json"
PREVIEW_ROWS = 5


def _staging_dir(store: PackageStore, run_id: str) -> Path:
    return store.root / ".staging" / f"run-{run_id}"


def _plan_markdown(plan: dict[str, Any]) -> str:
    """A table's masking plan (``TableMaskingPlan.to_dict``) as a Markdown table for the asset's metadata."""
    lines = ["| column | operator | entity | confidence | evidence |", "|---|---|---|---|---|"]
    for d in plan.get("columns", []):
        lines.append(f"| {d.get('column')} | {d.get('operator')} | {d.get('entity') or ''} | "
                     f"{d.get('confidence', '')} | {str(d.get('evidence', '')).replace('|', '/')} |")
    return "\n".join(lines)


def _preview_markdown(parquet: Path) -> str:
    """The first rows of a staged table: already masked, so safe to show in the UI."""
    if not parquet.is_file():
        return "(no rows)"
    file = pq.ParquetFile(parquet)
    rows = file.read_row_group(0).slice(0, PREVIEW_ROWS).to_pylist() if file.num_row_groups else []
    if not rows:
        return "(no rows)"
    names = list(rows[0])
    lines = ["| " + " | ".join(names) + " |", "|" + "---|" * len(names)]
    for row in rows:
        lines.append("| " + " | ".join(str(row[n])[:40].replace("|", "/").replace("\n", " ") for n in names) + " |")
    return "\n".join(lines)


def _scheduled_run_config(spec: TemplateSpec, params: dict[str, str], hfit: HfitResource) -> dict[str, object]:
    """A scheduled build's run config: its parameters sealed as every build's are (Dagster stores and shows run
    config, tick errors and logs, and a schedule's parameters may name a customer); a refused one is reported
    without its value, before the masking key is asked for."""
    try:
        prepare_build(spec, params)
    except ParameterError as exc:
        raise without_value(exc) from None
    return sealed_run_config_for(spec, params, hfit.settings().masking_key_bytes())


def build_template_defs(found: TemplateFile) -> dg.Definitions:
    spec: TemplateSpec = found.spec
    group = slug(spec.name)
    queries = spec.queries()
    package_key = dg.AssetKey([spec.name, PACKAGE_KEY])
    # parameter values are shown as keyed digests (as hfit build's manifest has them) but for the built-in
    # knobs the template does not declare
    visible_params = frozenset(BUILTINS) - set(spec.parameters)
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

    @dg.multi_asset(name=tables_op_name(spec.name), specs=table_specs, can_subset=False,
                    config_schema=tables_config_schema(spec, group),
                    description=f"Extract and mask the tables of template {spec.name} (one read-only snapshot)")
    def tables(context: dg.AssetExecutionContext, hfit: HfitResource):  # type: ignore[no-untyped-def]
        check_requested_content(spec, context.run.tags)
        config = context.op_execution_context.op_config
        try:
            sealed = config.get(SEALED_FIELD)
            given = open_params(spec.name, sealed, hfit.settings().masking_key_bytes()) if sealed \
                else params_from_config(config[PARAMS_FIELD])
            prepared = prepare_build(spec, given)
        except (ParameterError, BuildError) as exc:
            # what the config types cannot say (bounds, date formats), or sealed parameters that do not open, in
            # words a user can act on and without a traceback; Dagster keeps the failure, so a refused value
            # (opened from sealed parameters, which may name someone) is left out
            raise dg.Failure(description=str(without_value(exc) if isinstance(exc, ParameterError) else exc)) \
                from None
        build_spec, settings = for_build(prepared.spec, hfit.settings(), context.run_id)
        params = prepared.user_params
        store = PackageStore(settings.package_store)
        staging = _staging_dir(store, context.run_id)
        store.discard(staging)
        staging.mkdir(parents=True, mode=0o700)
        shown_params = parameter_digests(json.loads(json.dumps(params, default=str)), settings.masking_key_bytes(),
                                         visible_params)
        try:
            started = time.monotonic()
            result = stage_template(build_spec, prepared.params, settings, staging, progress=context.log.debug,
                                    previous_columns=store.latest_columns(spec.name))
            (staging / OPTIONS_FILE).write_text(json.dumps({
                "template_hash": prepared.template_hash,
                "params": shown_params,
                "include_indexes": prepared.include_indexes,
                "extra": debug_details(prepared, {"stage_seconds": round(time.monotonic() - started, 3)}),
            }, default=str))
        except BaseException:
            store.discard(staging)
            raise
        for export in spec.export_order():
            table = spec.source_table(export)
            info = result.tables.get(table, {"rows": 0, "plan": {}})
            yield dg.MaterializeResult(
                asset_key=dg.AssetKey([spec.name, export]),
                metadata={
                    "rows": info["rows"],
                    "masking_plan": dg.MetadataValue.md(_plan_markdown(info.get("plan", {}))),
                    "preview (masked)": dg.MetadataValue.md(
                        _preview_markdown(staging / PARQUET_DIR / f"{table}.parquet")),
                    "params": dg.MetadataValue.json(shown_params),
                },
            )

    freshness = (dg.FreshnessPolicy.time_window(fail_window=parse_duration(spec.freshness.max_age))
                 if spec.freshness is not None else None)

    @dg.asset(
        key=package_key,
        deps=[s.key for s in table_specs],
        group_name=group,
        kinds={"sql"},
        description=f"The published package of template {spec.name}: package.sql, Parquet, manifest",
        check_specs=[
            dg.AssetCheckSpec("no_pii_leak", asset=package_key, blocking=True,
                              description="no original value of a masked column appears in the package"),
            dg.AssetCheckSpec("foreign_keys_satisfied", asset=package_key, blocking=True,
                              description="every referenced row is in the package"),
            dg.AssetCheckSpec("row_counts_within_bounds", asset=package_key, blocking=True,
                              description="rows per export within the template's min_rows/max_rows"),
            dg.AssetCheckSpec("schema_drift", asset=package_key,
                              description="columns new since the previous package are masked until reviewed"),
        ],
        freshness_policy=freshness,
        tags={"hfit/template": spec.name},
    )
    def package(context: dg.AssetExecutionContext, config: PackageConfig, hfit: HfitResource):  # type: ignore[no-untyped-def]
        _, settings = for_build(spec, hfit.settings(), context.run_id)
        store = PackageStore(settings.package_store)
        staging = _staging_dir(store, context.run_id)
        if not (staging / STAGE_FILE).is_file():
            raise dg.Failure(f"no staged tables for run {context.run_id}; materialize the table assets first")
        try:
            version = new_version()
            options = json.loads((staging / OPTIONS_FILE).read_text())
            (staging / OPTIONS_FILE).unlink()
            manifest = write_package(staging, version, dialect=config.dialect,
                                     include_indexes=config.include_indexes and options["include_indexes"],
                                     template_hash=options["template_hash"], params=options["params"],
                                     # digested by the tables step under this run's key: kept as they are
                                     masking_key=settings.masking_key_bytes(), visible_params=options["params"],
                                     extra=options["extra"])
            outcomes = check_outcomes(manifest.checks, manifest.follow_parents)
            for name, (passed, text) in outcomes.items():
                yield dg.AssetCheckResult(check_name=name, passed=passed, description=text,
                                          severity=dg.AssetCheckSeverity.ERROR)
            drift = manifest.checks.get("schema_drift", {}).get("new_columns", {})
            yield dg.AssetCheckResult(check_name="schema_drift", passed=not drift,
                                      description=drift_note(manifest.checks), severity=dg.AssetCheckSeverity.WARN)
            failures = [f"{name}: {text}" for name, (ok, text) in outcomes.items() if not ok]
            if failures:
                raise dg.Failure("package checks failed, nothing was published: " + "; ".join(failures))
            path = store.publish(spec.name, staging, version, move_latest=not is_draft(spec))
        except BaseException:
            store.discard(staging)
            raise
        if not is_draft(spec):
            store.prune(spec.name, spec.retention.keep_versions, spec.retention.max_age_days)
        yield dg.MaterializeResult(metadata=package_metadata(path, manifest.model_dump()))

    job = dg.define_asset_job(job_name(spec.name), selection=dg.AssetSelection.groups(group),
                              description=f"Build and publish the package of template {spec.name}",
                              tags={"hfit/template": spec.name})
    schedules = []
    if spec.schedule is not None:
        scheduled = {k: str(v) for k, v in spec.schedule.params.items()}
        schedules.append(dg.ScheduleDefinition(
            name=f"{group}_schedule", job=job, cron_schedule=spec.schedule.cron,
            execution_timezone=spec.schedule.timezone,
            # built at each tick: a schedule whose params the template refuses fails its ticks, in the UI, with
            # the CLI's message, and the other templates of the code location still load
            run_config_fn=lambda context: _scheduled_run_config(spec, scheduled, context.resources.hfit),
            required_resource_keys={"hfit"},
            tags={"hfit/requester": "schedule"},
            default_status=dg.DefaultScheduleStatus.RUNNING,  # an approved template's schedule runs by itself
        ))
    return dg.Definitions(assets=[tables, package], jobs=[job], schedules=schedules)

