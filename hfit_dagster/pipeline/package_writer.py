"""Stage two: turn a staging directory of masked Parquet into ``package.sql`` and ``manifest.json``."""

from __future__ import annotations

import json
import pickle
import shutil
from collections.abc import Collection
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from hfit_dagster.errors import BuildError
from hfit_dagster.extract.arrow_types import type_name
from hfit_dagster.package.manifest import (
    ColumnEntry,
    PackageManifest,
    TableEntry,
    file_digest,
    parameter_digests,
)
from hfit_dagster.package.sql_script import tables_in_dependency_order
from hfit_dagster.pipeline.progress import Progress, quiet
from hfit_dagster.pipeline.sql_assembly import SQL_FILE, AssembledSql, SqlOptions, assemble_staged_sql
from hfit_dagster.pipeline.staging import json_default
from hfit_dagster.pipeline.staging_layout import ASSEMBLED_SQL, SCHEMA_FILE, SQL_PARTS_DIR, STAGE_FILE

__all__ = ["MANIFEST_FILE", "SQL_FILE", "write_package"]

MANIFEST_FILE = "manifest.json"
DIGEST_THREADS = 2  # sha256 releases the GIL: the Parquet files are hashed side by side


def write_package(staging: Path, version: str, *, dialect: str = "mysql", include_indexes: bool = True,
                  extra: dict[str, Any] | None = None, progress: Progress = quiet,
                  template_hash: str | None = None, params: dict[str, Any] | None = None,
                  masking_key: bytes | None = None, visible_params: Collection[str] = (),
                  gzip_sql: bool = False) -> PackageManifest:
    """Write the SQL script and manifest into ``staging`` (ready to publish) and return the manifest.

    ``template_hash`` and ``params`` name the template as approved and the parameters as the user gave them
    (built-in parameters rewrite the template for one build; the manifest shows the original). Parameter
    values are stored as digests keyed by ``masking_key`` (``parameter_digests``; without a key they are
    withheld) but for ``visible_params`` (built-in knobs the template does not declare); staging stored its
    own parameters so already.
    ``gzip_sql`` writes ``package.sql.gz`` (streamed through gzip) instead of ``package.sql``.
    """
    try:
        stage = json.loads((staging / STAGE_FILE).read_text())
        with (staging / SCHEMA_FILE).open("rb") as handle:
            metadata: sa.MetaData = pickle.load(handle)  # noqa: S301 - our own file, written by staging.py
    except (OSError, ValueError, pickle.UnpicklingError) as exc:
        raise BuildError(f"staging directory {staging} is incomplete ({exc.__class__.__name__})") from None
    tables = tables_in_dependency_order([metadata.tables[name] for name in stage["tables"]])
    options = SqlOptions(version=version, dialect=dialect, include_indexes=include_indexes, gzip_sql=gzip_sql)
    done = stage.get(ASSEMBLED_SQL)
    assembled = AssembledSql.from_dict(done) if done is not None else None
    if assembled is None or assembled.options != options:  # assembled while staging for another script
        if assembled is not None:
            (staging / assembled.options.file_name).unlink(missing_ok=True)
        assembled = assemble_staged_sql(staging, stage, metadata, options, progress)
    sql_path = staging / options.file_name
    omitted = assembled.omitted_foreign_keys
    entries = []
    for table in tables:
        info = stage["tables"][table.name]
        decisions = {d["column"]: d for d in info["plan"]["columns"]}
        column_notes = assembled.column_notes.get(table.name, {})
        columns = [ColumnEntry(name=c.name, sql_type=type_name(c),
                               masking=dict(decisions.get(c.name) or {"operator": "keep"}),
                               sql_note=column_notes.get(c.name))
                   for c in table.columns]
        entries.append(TableEntry(
            name=table.name, role=info["role"], rows=info["rows"], columns=columns,
            omitted_foreign_keys=[fk for fk in omitted if fk.startswith(f"{table.name}.")],
        ))
    (staging / STAGE_FILE).unlink()
    (staging / SCHEMA_FILE).unlink()
    shutil.rmtree(staging / SQL_PARTS_DIR, ignore_errors=True)  # parts of another dialect, if any
    sql_entry = assembled.entry
    notes = {"skipped_indexes": assembled.skipped_indexes,
             "removed_nul_characters": assembled.removed_nul_characters,
             "nulled_floats": assembled.nulled_floats, "oversized_rows": assembled.oversized_rows,
             "renamed": assembled.renamed}
    paths = [path for path in sorted(staging.rglob("*")) if path.is_file() and path != sql_path]
    with ThreadPoolExecutor(max_workers=DIGEST_THREADS, thread_name_prefix="hfit-digest") as pool:
        digests = dict(zip(paths, pool.map(file_digest, paths), strict=True))
    digests[sql_path] = sql_entry
    files = {path.relative_to(staging).as_posix(): digests[path] for path in sorted(digests)}
    manifest = PackageManifest(
        template=stage["template"], template_hash=template_hash or stage["template_hash"], version=version,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        params=parameter_digests(json.loads(json.dumps(params, default=json_default)), masking_key, visible_params)
        if params is not None else stage["params"],
        providers=stage["providers"], dialect=dialect, follow_parents=stage["follow_parents"],
        tables=entries, files=files, checks=stage["checks"], sql_notes=notes, extra=extra or {},
    )
    (staging / MANIFEST_FILE).write_text(json.dumps(manifest.model_dump(), indent=2, default=json_default))
    return manifest
