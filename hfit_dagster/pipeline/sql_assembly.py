"""The package's SQL script put together: preamble, DDL, each table's INSERTs, postamble, hashed as written.

Two callers: ``write_package`` (stage two), and ``hfit build``'s staging. When the package's tables are known
before reading, staging writes the script as it reads (:class:`StreamedScript`: header first, each batch's
INSERTs as they come, hashed as written); otherwise it assembles the script from the INSERTs it rendered while
reading (``sql-parts/``) on a thread beside the leak check.
"""

from __future__ import annotations

import errno
import gzip
import hashlib
import os
import shutil
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

import pyarrow.parquet as pq
import sqlalchemy as sa

from hfit_dagster.package.manifest import FileEntry
from hfit_dagster.package.sql_script import SqlScriptWriter, tables_in_dependency_order
from hfit_dagster.pipeline.staging_layout import SQL_PARTS_DIR, parquet_path

SQL_FILE = "package.sql"
COPY_BYTES = 4 << 20
HASH_BEHIND = 8  # writes of the script (a rendered batch each) that may wait to be hashed
COPY_CHUNK = 64 << 20  # bytes per copy_file_range call: the hash of a part starts after its first chunk
# Rows rendered per call (from the staged Parquet): every call pays a fixed cost per batch (column set-up, the
# Arrow path's kernels for the columns the compiled row writer does not take), so batches are 32k rows; a batch of
# wide text rows stays a few MB.
SQL_BATCH_ROWS = 32_768


@dataclass(frozen=True)
class SqlOptions:
    """What a package's SQL script is: the target dialect, indexes or not, gzip or not, and the package version
    (named in its first comment line)."""

    version: str
    dialect: str = "mysql"
    include_indexes: bool = True
    gzip_sql: bool = False

    @property
    def file_name(self) -> str:
        return SQL_FILE + ".gz" if self.gzip_sql else SQL_FILE


@dataclass
class AssembledSql:
    """The written script: its digest and what could not be carried over into the target dialect."""

    options: SqlOptions
    entry: FileEntry
    omitted_foreign_keys: list[str] = field(default_factory=list)
    skipped_indexes: list[str] = field(default_factory=list)
    removed_nul_characters: int = 0
    nulled_floats: int = 0  # NaN and infinities the target has no value for, written as NULL
    oversized_rows: int = 0  # rows whose INSERT needs more than the target's default max_allowed_packet
    # table -> column -> how its values are represented where the target has no such type (the manifest's
    # per-column notes); tables and columns renamed where the target folds letter case
    column_notes: dict[str, dict[str, str]] = field(default_factory=dict)
    renamed: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "entry": self.entry.model_dump()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AssembledSql:
        return cls(options=SqlOptions(**data["options"]), entry=FileEntry(**data["entry"]),
                   omitted_foreign_keys=list(data["omitted_foreign_keys"]),
                   skipped_indexes=list(data["skipped_indexes"]),
                   removed_nul_characters=int(data["removed_nul_characters"]),
                   nulled_floats=int(data.get("nulled_floats", 0)),
                   oversized_rows=int(data.get("oversized_rows", 0)),
                   column_notes={t: dict(n) for t, n in (data.get("column_notes") or {}).items()},
                   renamed=list(data.get("renamed") or []))


class _DigestingFile:
    """A binary file that hashes what is written through it: the SQL script (most of a package's bytes) gets
    its manifest digest as it is written instead of being read back afterwards."""

    def __init__(self, raw: IO[bytes], name: str, copy_chunk: int = COPY_CHUNK) -> None:
        self.raw, self.name = raw, name  # ``name``: gzip writes it into its header, as gzip.open(path) does
        self.copy_chunk = copy_chunk
        self._digest = hashlib.sha256()
        self._bytes = 0
        # hashing (~1.1 GB/s, without the GIL) runs beside the writing, one chunk behind, in order
        self._hasher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hfit-sql-digest")
        self._hashing: deque[Future[None]] = deque()

    def write(self, data: bytes | memoryview) -> int:
        while len(self._hashing) >= HASH_BEHIND:  # the writer waits only when the hashing is far behind
            self._hashing.popleft().result()
        # the digest thread keeps ``data`` (and the buffer it views) until hashed; it is not changed after a write
        self._hashing.append(self._hasher.submit(self._digest.update, data))
        self._bytes += memoryview(data).nbytes
        return self.raw.write(data)

    def settle(self) -> None:
        """Wait until everything written so far is hashed."""
        while self._hashing:
            self._hashing.popleft().result()

    def append_file(self, path: Path) -> None:
        """Append a file's bytes: copied by the kernel (``copy_file_range``, a chunk at a time) while the digest
        thread reads the file to hash it, so its bytes never pass through a Python buffer twice.

        Returns once the copy is done; the hash may still run (the next part's copy overlaps it; the digest
        thread keeps the order, :meth:`settle` waits). The file may be unlinked then: the hash reads it through
        a descriptor of its own.
        """
        size = path.stat().st_size
        self.raw.flush()
        with path.open("rb") as source:
            copied = 0
            reader = os.open(path, os.O_RDONLY)
            try:
                while copied < size:
                    done = os.copy_file_range(source.fileno(), self.raw.fileno(), min(self.copy_chunk, size - copied))
                    if done == 0:
                        raise OSError(errno.EIO, "the SQL part ended early")
                    if reader >= 0:  # the kernel copies: hash the file meanwhile (not before, see copy_file)
                        self._hashing.append(self._hasher.submit(self._hash_descriptor, reader))
                        reader = -1
                    copied += done
            except OSError as exc:
                if copied:  # part of it is in the script already: no way back
                    raise OSError(errno.EIO, f"copying the SQL part failed half-way ({exc.strerror})") from None
                raise
            finally:
                if reader >= 0:  # nothing copied, nothing hashed
                    os.close(reader)
        self._bytes += size

    def _hash_descriptor(self, fd: int) -> None:
        chunk = bytearray(COPY_BYTES)
        view = memoryview(chunk)
        with open(fd, "rb", buffering=0) as source:
            while read := source.readinto(chunk):  # type: ignore[attr-defined]
                self._digest.update(view[:read])

    def flush(self) -> None:
        self.raw.flush()

    def entry(self) -> FileEntry:
        self.close()
        return FileEntry(sha256=self._digest.hexdigest(), bytes=self._bytes)

    def close(self) -> None:
        """Wait for the hashing and stop its thread."""
        self.settle()
        self._hasher.shutdown()


class _SqlOutput:
    """The SQL script's output stream: plain or gzip over a :class:`_DigestingFile` (``digests``)."""

    def __init__(self, digests: _DigestingFile, gzip_sql: bool) -> None:
        self.digests = digests
        self._gzip = gzip.GzipFile(fileobj=digests, mode="wb", compresslevel=6) if gzip_sql else None  # type: ignore[arg-type]

    def write(self, data: bytes | memoryview) -> int:
        return self._gzip.write(data) if self._gzip is not None else self.digests.write(data)

    def copy_file(self, path: Path) -> None:
        """Append a file's bytes: by the kernel where it can (plain output, Linux), else a few MB at a time
        through this stream (hashed on the digest thread while the next chunk is read)."""
        if self._gzip is None and hasattr(os, "copy_file_range"):
            try:
                self.digests.append_file(path)
                return
            except OSError as exc:
                if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL):
                    raise
                # no kernel copy between these files: nothing was appended or hashed, copy through Python
        with path.open("rb") as handle:
            shutil.copyfileobj(handle, self, COPY_BYTES)  # type: ignore[misc]

    def flush(self) -> None:
        (self._gzip or self.digests).flush()

    def __enter__(self) -> _SqlOutput:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._gzip is not None:
            self._gzip.close()  # writes the gzip trailer through the digest; the raw file stays open
        self.digests.flush()


# (table, rows) → the table's INSERTs: a rendered part to copy, or batches to render
TableRows = Callable[[sa.Table], Path | Iterator[Any]]


def _write_header(writer: SqlScriptWriter, tables: list[sa.Table], template: str, template_hash: str,
                  options: SqlOptions) -> None:
    """The script's comment header and session settings (``tables`` in foreign-key order).

    Each table's DDL is written right before its rows (:class:`_TableDdl`): by then the pipeline has read the
    table's first batch and planned its masking, and may have told the writer which columns the export selects
    and which it masks (``table.info``, see ``package.sql.table_plan``). The script loads whatever the order of
    the tables: checks are off while loading and foreign keys wait for their tables where a dialect needs it.
    """
    writer.set_written_tables({t.name for t in tables})
    writer.write_preamble([
        f"hfit package of template {template} (version {options.version})",
        f"template hash {template_hash}",
        f"tables: {', '.join(t.name for t in tables)}",
        "load with: " + writer.dialect.load_command,
    ])


class _TableDdl:
    """The DDL of a script's tables, each written once: before the table's first rows, the rest at the end."""

    def __init__(self, writer: SqlScriptWriter, tables: list[sa.Table]) -> None:
        self.writer = writer
        self.pending = {t.name: t for t in tables}

    def before_rows(self, table: sa.Table) -> None:
        if self.pending.pop(table.name, None) is not None:
            self.writer.write_create_table(table)

    def remaining(self) -> None:
        for table in list(self.pending.values()):
            self.before_rows(table)


def _assembled(writer: SqlScriptWriter, options: SqlOptions) -> AssembledSql:
    return AssembledSql(options=options, entry=FileEntry(sha256="", bytes=0),
                        omitted_foreign_keys=list(writer.omitted_foreign_keys),
                        skipped_indexes=list(writer.skipped_indexes),
                        removed_nul_characters=writer.removed_nul_characters, nulled_floats=writer.nulled_floats,
                        oversized_rows=writer.oversized_rows,
                        column_notes=writer.column_notes, renamed=writer.renamed)


def assemble_sql(staging: Path, metadata: sa.MetaData, table_names: list[str], template: str,
                 template_hash: str, options: SqlOptions, rows: TableRows,
                 progress: Callable[[str], None], copy_chunk: int = COPY_CHUNK) -> AssembledSql:
    """Write ``options.file_name`` into ``staging``: tables in foreign-key order, each one's INSERTs from
    ``rows`` (a file of INSERTs rendered while staging, copied as it is and then removed, so the disk holds
    each part only once, or record batches to render). A part is copied by the kernel ``copy_chunk`` bytes
    at a time."""
    tables = tables_in_dependency_order([metadata.tables[name] for name in table_names])
    sql_path = staging / options.file_name
    with (sql_path.open("wb") as raw,
          _SqlOutput(_DigestingFile(raw, str(sql_path), copy_chunk), options.gzip_sql) as out):
        writer = SqlScriptWriter(out, options.dialect, include_indexes=options.include_indexes)
        _write_header(writer, tables, template, template_hash, options)
        ddl = _TableDdl(writer, tables)
        for table in tables:
            ddl.before_rows(table)
            source = rows(table)
            if isinstance(source, Path):
                writer.flush()
                out.copy_file(source)
                source.unlink()
            else:
                for batch in source:
                    writer.write_rows(table, batch)
            progress(f"{table.name}: SQL written")
        writer.write_postamble()
        result = _assembled(writer, options)
    result.entry = out.digests.entry()
    return result


class StreamedScript:
    """The package's SQL script written while staging, when its tables are known before any row is read.

    The header (session settings) is written first; then each masked batch's INSERTs in the order the batches
    come (rendered a batch or two behind, hashed as written), a table's DDL right before its first rows: no
    part files, nothing copied or read back at the end. Rows of different tables may interleave - the script
    loads with foreign-key checks off (MySQL), foreign keys added after the data (PostgreSQL) or not enforced
    (SQLite), so the order of tables and INSERTs does not matter to a load. Plain scripts only: gzip would put
    compression on the path of every batch.
    """

    def __init__(self, staging: Path, tables: list[sa.Table], template: str, template_hash: str,
                 options: SqlOptions) -> None:
        if options.gzip_sql:
            raise ValueError("a streamed script is plain SQL")
        self.options = options
        self.table_names = {t.name for t in tables}
        self.path = staging / options.file_name
        self._raw = self.path.open("wb")
        self._digests = _DigestingFile(self._raw, str(self.path))
        self.writer = SqlScriptWriter(self._digests, options.dialect, include_indexes=options.include_indexes)
        try:
            ordered = tables_in_dependency_order(tables)
            _write_header(self.writer, ordered, template, template_hash, options)
            self._ddl = _TableDdl(self.writer, ordered)
        except BaseException:
            self.discard()
            raise

    def write_rows(self, table: sa.Table, batch: Any) -> None:
        """A masked batch's INSERTs (the table's DDL first, when these are its first rows)."""
        self._ddl.before_rows(table)
        self.writer.write_rows(table, batch)

    def flush(self) -> None:
        """Every batch handed over so far is written (a rendering error is raised here)."""
        self.writer.flush()

    def finish(self) -> AssembledSql:
        """The DDL of tables without rows, the postamble; the script is complete and its digest known."""
        self._ddl.remaining()
        self.writer.write_postamble()
        self._digests.flush()
        self._raw.close()
        result = _assembled(self.writer, self.options)
        result.entry = self._digests.entry()
        return result

    def discard(self) -> None:
        """Stop: drop what is not written yet and remove the file (a failed build, or a script not to be used)."""
        self.writer.discard()
        self._raw.close()
        self._digests.close()
        self.path.unlink(missing_ok=True)


def assemble_staged_sql(staging: Path, stage: dict[str, Any], metadata: sa.MetaData, options: SqlOptions,
                        progress: Callable[[str], None] = lambda _: None, *,
                        copy_chunk: int = COPY_CHUNK) -> AssembledSql:
    """The script from a staging directory: the INSERTs rendered while staging where they are of the same
    dialect (copied, then removed), else rendered from the staged Parquet."""
    parts = stage.get("sql_parts") or {}
    parts = parts if parts.get("dialect") == options.dialect else {}

    def rows(table: sa.Table) -> Path | Iterator[Any]:
        part = (parts.get("files") or {}).get(table.name)
        if part is not None:
            return staging / part
        return pq.ParquetFile(parquet_path(staging, table.name)).iter_batches(
            batch_size=SQL_BATCH_ROWS)

    assembled = assemble_sql(staging, metadata, list(stage["tables"]), stage["template"], stage["template_hash"],
                             options, rows, progress, copy_chunk)
    assembled.removed_nul_characters += int(parts.get("removed_nul_characters", 0))
    shutil.rmtree(staging / SQL_PARTS_DIR, ignore_errors=True)
    return assembled
