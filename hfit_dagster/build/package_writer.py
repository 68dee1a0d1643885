"""Stage two: turn a staging directory of masked Parquet into ``package.sql`` and ``manifest.json``."""

from __future__ import annotations

import gzip
import json
import pickle
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import sqlalchemy as sa

from hfit_dagster.build.staging import (
    PARQUET_DIR,
    SCHEMA_FILE,
    SQL_PARTS_DIR,
    STAGE_FILE,
    Progress,
    _quiet,
    json_default,
)
from hfit_dagster.errors import BuildError
from hfit_dagster.package.manifest import ColumnEntry, PackageManifest, TableEntry, file_digest
from hfit_dagster.package.sql_script import SqlScriptWriter, tables_in_dependency_order

SQL_FILE = "package.sql"
LOAD_HINTS = {
    "mysql": "load with: mysql <database> < package.sql",
    "postgresql": "load with: psql -v ON_ERROR_STOP=1 -d <database> -f package.sql",
    "sqlite": "load with: sqlite3 <file.db> < package.sql",
}
MANIFEST_FILE = "manifest.json"
# Rows rendered per call: the per-call cost of Arrow's kernels (joins, casts) is paid per batch, so 32k rows
# render the bench's 12M rows in ~8.8 s against ~12.7 s with 5k; a batch of wide text rows stays a few MB.
SQL_BATCH_ROWS = 32_768
COPY_BYTES = 1 << 20


def write_package(staging: Path, version: str, *, dialect: str = "mysql", include_indexes: bool = True,
                  extra: dict[str, Any] | None = None, progress: Progress = _quiet,
                  template_hash: str | None = None, params: dict[str, Any] | None = None,
                  gzip_sql: bool = False) -> PackageManifest:
    """Write the SQL script and manifest into ``staging`` (ready to publish) and return the manifest.

    ``template_hash`` and ``params`` name the template as approved and the parameters as the user gave them
    (built-in parameters rewrite the template for one build; the manifest shows the original).
    ``gzip_sql`` writes ``package.sql.gz`` (streamed through gzip) instead of ``package.sql``.
    """
    try:
        stage = json.loads((staging / STAGE_FILE).read_text())
        with (staging / SCHEMA_FILE).open("rb") as handle:
            metadata: sa.MetaData = pickle.load(handle)  # noqa: S301 - our own file, written by staging.py
    except (OSError, ValueError, pickle.UnpicklingError) as exc:
        raise BuildError(f"staging directory {staging} is incomplete ({exc.__class__.__name__})") from None
    tables = tables_in_dependency_order([metadata.tables[name] for name in stage["tables"]])
    omitted: list[str] = []
    sql_path = staging / (SQL_FILE + ".gz" if gzip_sql else SQL_FILE)
    with (gzip.open(sql_path, "wb", compresslevel=6) if gzip_sql else sql_path.open("wb")) as out:
        writer = SqlScriptWriter(out, dialect, include_indexes=include_indexes)
        writer.set_written_tables({t.name for t in tables})
        writer.write_preamble([
            f"hfit package of template {stage['template']} (version {version})",
            f"template hash {stage['template_hash']}",
            f"tables: {', '.join(t.name for t in tables)}",
            LOAD_HINTS[dialect],
        ])
        for table in tables:
            writer.write_create_table(table)
        parts = stage.get("sql_parts") or {}
        parts = parts if parts.get("dialect") == dialect else {}
        for table in tables:
            part = (parts.get("files") or {}).get(table.name)
            if part is not None:  # rendered while staging: copied as it is
                writer.flush()
                with (staging / part).open("rb") as rendered:
                    shutil.copyfileobj(rendered, out, COPY_BYTES)
                (staging / part).unlink()
            else:
                parquet = pq.ParquetFile(staging / PARQUET_DIR / f"{table.name}.parquet")
                for batch in parquet.iter_batches(batch_size=SQL_BATCH_ROWS):
                    writer.write_rows(table, batch)
            progress(f"{table.name}: SQL written")
        writer.write_postamble()
        omitted = list(writer.omitted_foreign_keys)
        notes = {"skipped_indexes": list(writer.skipped_indexes),
                 "removed_nul_characters": writer.removed_nul_characters + int(parts.get("removed_nul_characters", 0))}
    entries = []
    for table in tables:
        info = stage["tables"][table.name]
        decisions = info["plan"].get("columns", info["plan"].get("decisions", {}))
        columns = [
            ColumnEntry(name=c.name, sql_type=_type_name(c, metadata), masking=_decision(decisions, c.name))
            for c in table.columns
        ]
        entries.append(TableEntry(
            name=table.name, role=info["role"], rows=info["rows"], columns=columns,
            omitted_foreign_keys=[fk for fk in omitted if fk.startswith(f"{table.name}.")],
        ))
    (staging / STAGE_FILE).unlink()
    (staging / SCHEMA_FILE).unlink()
    shutil.rmtree(staging / SQL_PARTS_DIR, ignore_errors=True)  # parts of another dialect, if any
    files = {
        path.relative_to(staging).as_posix(): file_digest(path)
        for path in sorted(staging.rglob("*")) if path.is_file()
    }
    manifest = PackageManifest(
        template=stage["template"], template_hash=template_hash or stage["template_hash"], version=version,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        params=json.loads(json.dumps(params, default=json_default)) if params is not None else stage["params"],
        providers=stage["providers"], dialect=dialect, follow_parents=stage["follow_parents"],
        tables=entries, files=files, checks=stage["checks"], sql_notes=notes, extra=extra or {},
    )
    (staging / MANIFEST_FILE).write_text(json.dumps(manifest.model_dump(), indent=2, default=json_default))
    return manifest


def _decision(decisions: Any, column: str) -> dict[str, Any]:
    if isinstance(decisions, dict):
        return dict(decisions.get(column) or {"operator": "keep"})
    for item in decisions or []:
        if item.get("column") == column:
            return dict(item)
    return {"operator": "keep"}


def _type_name(column: sa.Column[Any], metadata: sa.MetaData) -> str:
    try:
        return str(column.type)
    except Exception:
        return type(column.type).__name__
