"""Stage two: turn a staging directory of masked Parquet into ``package.sql`` and ``manifest.json``."""

from __future__ import annotations

import gzip
import hashlib
import json
import pickle
import shutil
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

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
from hfit_dagster.package.manifest import ColumnEntry, FileEntry, PackageManifest, TableEntry, file_digest
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
DIGEST_THREADS = 2  # sha256 releases the GIL: the Parquet files are hashed side by side


class _DigestingFile:
    """A binary file that hashes what is written through it: the SQL script (most of a package's bytes) gets
    its manifest digest as it is written instead of being read back (~0.5 s for the bench's 640 MB)."""

    def __init__(self, raw: IO[bytes], name: str) -> None:
        self.raw, self.name = raw, name  # ``name``: gzip writes it into its header, as gzip.open(path) does
        self._digest = hashlib.sha256()
        self._bytes = 0
        # hashing (~1.4 GB/s, without the GIL) runs beside the writing, one chunk behind, in order
        self._hasher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hfit-sql-digest")
        self._hashing: Future[None] | None = None

    def write(self, data: bytes | memoryview) -> int:
        if self._hashing is not None:
            self._hashing.result()
        self._hashing = self._hasher.submit(self._digest.update, data)  # data is not changed after a write
        self._bytes += memoryview(data).nbytes
        return self.raw.write(data)

    def flush(self) -> None:
        self.raw.flush()

    def entry(self) -> FileEntry:
        if self._hashing is not None:
            self._hashing.result()
        self._hasher.shutdown()
        return FileEntry(sha256=self._digest.hexdigest(), bytes=self._bytes)


class _SqlOutput:
    """The SQL script's output stream: plain or gzip over a :class:`_DigestingFile` (``digests``)."""

    def __init__(self, digests: _DigestingFile, gzip_sql: bool) -> None:
        self.digests = digests
        self._gzip = gzip.GzipFile(fileobj=digests, mode="wb", compresslevel=6) if gzip_sql else None  # type: ignore[arg-type]

    def write(self, data: bytes | memoryview) -> int:
        return self._gzip.write(data) if self._gzip is not None else self.digests.write(data)

    def flush(self) -> None:
        (self._gzip or self.digests).flush()

    def __enter__(self) -> _SqlOutput:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._gzip is not None:
            self._gzip.close()  # writes the gzip trailer through the digest; the raw file stays open
        self.digests.flush()


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
    with sql_path.open("wb") as raw, _SqlOutput(_DigestingFile(raw, str(sql_path)), gzip_sql) as out:
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
    sql_entry = out.digests.entry()
    paths = [path for path in sorted(staging.rglob("*")) if path.is_file() and path != sql_path]
    with ThreadPoolExecutor(max_workers=DIGEST_THREADS, thread_name_prefix="hfit-digest") as pool:
        digests = dict(zip(paths, pool.map(file_digest, paths), strict=True))
    digests[sql_path] = sql_entry
    files = {path.relative_to(staging).as_posix(): digests[path] for path in sorted(digests)}
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
