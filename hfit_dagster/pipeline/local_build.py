"""A whole build in one process (``hfit build``): resolve params, stage, write, publish atomically."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hfit_dagster.errors import BuildError, StoreError
from hfit_dagster.package.manifest import PackageManifest
from hfit_dagster.package.sql_script import SUPPORTED_DIALECTS
from hfit_dagster.package.store import PackageStore, new_version
from hfit_dagster.pipeline.checks import failed_checks
from hfit_dagster.pipeline.package_writer import write_package
from hfit_dagster.pipeline.progress import Progress, quiet
from hfit_dagster.pipeline.sql_assembly import SqlOptions
from hfit_dagster.pipeline.staging import StageOptions, stage_template
from hfit_dagster.settings import HfitSettings
from hfit_dagster.template.builtins import BUILTINS, debug_details, prepare_build
from hfit_dagster.template.spec import TemplateSpec


@dataclass(frozen=True)
class BuiltPackage:
    path: Path
    manifest: PackageManifest


def build_package(spec: TemplateSpec, raw_params: dict[str, Any], settings: HfitSettings, *,
                  dialect: str = "mysql", include_indexes: bool = True, gzip_sql: bool = False,
                  progress: Progress = quiet, stage_options: StageOptions | None = None) -> BuiltPackage:
    """Build and publish one package; on any failure nothing is published and staging is removed.

    ``stage_options`` choose how staging reads and masks (:class:`StageOptions`; None: every build's).
    """
    if dialect not in SUPPORTED_DIALECTS:
        raise BuildError(f"unknown SQL dialect {dialect!r}; choose one of {', '.join(SUPPORTED_DIALECTS)}")
    prepared = prepare_build(spec, raw_params)
    store = PackageStore(settings.package_store)
    staging = store.create_staging()
    try:
        started = time.monotonic()
        version = new_version()
        sql = SqlOptions(version=version, dialect=dialect, include_indexes=include_indexes and prepared.include_indexes,
                         gzip_sql=gzip_sql)
        stage_template(prepared.spec, prepared.params, settings, staging, progress,
                       previous_columns=store.latest_columns(spec.name), sql=sql, options=stage_options)
        staged = time.monotonic()
        manifest = write_package(staging, version, dialect=dialect,
                                 include_indexes=include_indexes and prepared.include_indexes, progress=progress,
                                 template_hash=prepared.template_hash, params=prepared.user_params,
                                 masking_key=settings.masking_key_bytes(),
                                 visible_params=set(BUILTINS) - set(spec.parameters),
                                 gzip_sql=gzip_sql,
                                 extra=debug_details(prepared, {"stage_seconds": round(staged - started, 3)}))
        failures = failed_checks(manifest.checks, manifest.follow_parents)
        if failures:
            raise BuildError("package checks failed, nothing was published: " + "; ".join(failures))
        path = store.publish(spec.name, staging, version)
        store.prune(spec.name, spec.retention.keep_versions, spec.retention.max_age_days)
    except OSError as exc:
        store.discard(staging)
        raise StoreError(f"cannot write the package ({exc.strerror or exc.__class__.__name__}); "
                         "nothing was published", hint=f"check free space and permissions of {store.root}") from None
    except BaseException:
        store.discard(staging)
        raise
    return BuiltPackage(path=path, manifest=manifest)
