"""The table sink: masked batches of each staged table written to Parquet, and their SQL rows.

The only module of staging that knows the staging directory's file layout: ``parquet/<table>.parquet`` (one
file per table, zstd, dictionaries for repeating text), ``sql-parts/<n>.sql`` (a table's INSERTs, rendered
while staging when the SQL dialect is known) or the whole script written while reading
(:class:`~hfit_dagster.pipeline.sql_assembly.StreamedScript`). Row groups are encoded on a writer thread
while reading and masking go on; the SQL rows are rendered on the SQL writers' own threads.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import sqlalchemy as sa

from hfit_dagster.extract.arrow_types import is_decimal_text
from hfit_dagster.package.sql_script import SqlScriptWriter, referred_table
from hfit_dagster.pipeline.memory import PENDING_WRITES, ROW_GROUP_ROWS
from hfit_dagster.pipeline.progress import Progress
from hfit_dagster.pipeline.sql_assembly import (
    COPY_CHUNK,
    AssembledSql,
    SqlOptions,
    StreamedScript,
    assemble_staged_sql,
)
from hfit_dagster.pipeline.staging_layout import PARQUET_DIR, SQL_PARTS_DIR, parquet_path

DICTIONARY_PROBE_ROWS = 1_000  # a smaller first batch says too little: its text columns keep dictionaries
# which columns of a table get Parquet dictionaries, judged on its first batch
DictionaryChoice = Callable[[pa.RecordBatch], list[str]]


def dictionary_columns(first: pa.RecordBatch) -> list[str]:
    """Columns worth Parquet dictionary encoding: text and binary whose values repeat (statuses, SKUs, cities),
    judged on the table's first batch.

    Why not every column (pyarrow's default): ids, timestamps and decimals are nearly unique, so the
    writer builds a dictionary per row group only to drop it when it overflows, about half of the Parquet
    CPU time on the benchmark's tables, and the files get bigger. The same holds for text that is mostly
    distinct (emails, phones).
    """
    columns = []
    for field_, column in zip(first.schema, first.columns, strict=True):
        t = field_.type
        if pa.types.is_dictionary(t):
            columns.append(field_.name)
        elif (pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t)
              or pa.types.is_large_binary(t)):
            if first.num_rows < DICTIONARY_PROBE_ROWS or len(pc.unique(column)) <= first.num_rows // 2:
                columns.append(field_.name)
    return columns


@dataclass
class _TableOutput:
    """One staged table's files: its Parquet writer, masked batches waiting for a row group, its SQL rows."""

    table: sa.Table
    path: Path
    parquet_options: dict[str, Any]  # how ``writer`` was opened (schema, encodings)
    writer: pq.ParquetWriter
    unwritten: list[pa.RecordBatch] = field(default_factory=list)  # masked, waiting to fill a row group
    unwritten_rows: int = 0
    sql: SqlScriptWriter | None = None  # this table's INSERTs, rendered on the writer's own thread
    sql_file: IO[bytes] | None = None
    sql_part: str | None = None
    closed: bool = False  # Parquet closed early (for a leak scan beside the next exports); reopened on more rows


class TableSink:
    """Where staging's masked batches go (see the module docstring).

    ``sql_dialect`` renders each table's INSERTs into a part file while staging; ``sql`` (``hfit build``)
    may write the whole script while reading (:meth:`stream_script`) and assembles it at the end.
    ``on_reopen`` is called with a table's name before a table closed early is written again;
    ``sql_copy_chunk`` bytes of a SQL part are copied into the script per kernel call.
    """

    def __init__(self, staging: Path, *, sql_dialect: str | None, sql: SqlOptions | None,
                 choose_dictionaries: DictionaryChoice = dictionary_columns,
                 on_reopen: Callable[[str], None] = lambda _: None, sql_copy_chunk: int = COPY_CHUNK) -> None:
        self.staging, self.sql_dialect, self.sql, self.sql_copy_chunk = staging, sql_dialect, sql, sql_copy_chunk
        self.choose_dictionaries, self.on_reopen = choose_dictionaries, on_reopen
        self.metadata = sa.MetaData()  # the package's tables (reflected definitions, no data)
        self.outputs: dict[str, _TableOutput] = {}
        self._script: StreamedScript | None = None
        self._writes: deque[Future[None]] = deque()
        self._writer_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hfit-parquet")
        (staging / PARQUET_DIR).mkdir(parents=True, exist_ok=True)

    def _add_to_metadata(self, table: sa.Table) -> None:
        if table.name not in self.metadata.tables:
            # a parent followed from another schema is a table of the package's own schema, keyed by its name
            table.to_metadata(self.metadata, schema=None)

    # -- writing -----------------------------------------------------------------------------------------
    def stream_script(self, tables: list[sa.Table], template: str, template_hash: str, progress: Progress) -> None:
        """Start writing the package's SQL script now, when ``tables`` are certainly the package's tables: a
        plain script is asked for and no foreign key points outside them (following parents then only adds
        rows). Why: otherwise each table's INSERTs go to a part file that the end of the build copies into the
        script and hashes, a second pass over most of the package's bytes."""
        if self.sql is None or self.sql.gzip_sql:
            return
        fullnames = {str(t.fullname) for t in tables}
        if any(referred_table(fk)[0] not in fullnames for table in tables for fk in table.foreign_keys):
            return
        for table in tables:
            self._add_to_metadata(table)
        self._script = StreamedScript(self.staging, [self.metadata.tables[t.name] for t in tables], template,
                                      template_hash, self.sql)
        progress(f"{self.sql.file_name}: written while the tables are read")

    def open(self, table: sa.Table, first: pa.RecordBatch) -> None:
        """The files of a table whose first batch (of its final schema) is ``first``."""
        path = parquet_path(self.staging, table.name)
        options = {"schema": first.schema, "compression": "zstd", "use_dictionary": self.choose_dictionaries(first)}
        output = _TableOutput(table=table, path=path, parquet_options=options,
                              writer=pq.ParquetWriter(path, **options))
        if self.sql_dialect is not None and self._script is None:
            (self.staging / SQL_PARTS_DIR).mkdir(exist_ok=True)
            output.sql_part = f"{len(self.outputs):04d}.sql"
            output.sql_file = (self.staging / SQL_PARTS_DIR / output.sql_part).open("wb")
            output.sql = SqlScriptWriter(output.sql_file, self.sql_dialect)
        self.outputs[table.name] = output
        self._add_to_metadata(table)

    def write(self, name: str, masked: pa.RecordBatch | None, *, flush: bool = False) -> None:
        """Gather masked batches into row groups; the writer thread encodes them while reading and masking go on."""
        output = self.outputs[name]
        if masked is not None and masked.num_rows:
            output.unwritten.append(masked)
            output.unwritten_rows += masked.num_rows
            if output.sql is not None:
                output.sql.write_rows(output.table, masked)
            elif self._script is not None:
                self._script.write_rows(output.table, masked)
        if not output.unwritten or (output.unwritten_rows < ROW_GROUP_ROWS and not flush):
            return
        group = pa.Table.from_batches(output.unwritten)
        output.unwritten, output.unwritten_rows = [], 0
        if output.closed:
            self._reopen(output)
        while len(self._writes) >= PENDING_WRITES:
            self._writes.popleft().result()
        self._writes.append(self._writer_thread.submit(output.writer.write_table, group))

    def _wait_for_writes(self) -> None:
        while self._writes:
            self._writes.popleft().result()

    def is_closed(self, name: str) -> bool:
        return self.outputs[name].closed

    def close_early(self, name: str) -> None:
        """Write a table's last row group and close its Parquet (for a leak scan beside the next exports);
        more rows reopen it."""
        output = self.outputs[name]
        self.write(name, None, flush=True)
        self._wait_for_writes()
        output.writer.close()
        output.closed = True

    def _reopen(self, output: _TableOutput) -> None:
        """More rows for a table closed early (parents followed into an export): its Parquet is written anew
        from the closed file's row groups, then goes on."""
        self.on_reopen(output.table.name)
        closed = output.path.with_name(output.path.name + ".closed")
        output.path.rename(closed)
        output.writer = pq.ParquetWriter(output.path, **output.parquet_options)
        source = pq.ParquetFile(closed)
        for group in range(source.num_row_groups):
            output.writer.write_table(source.read_row_group(group))
        del source
        closed.unlink()
        output.closed = False

    def finish(self) -> None:
        """Every table's last row group and SQL rows written; the Parquet files closed."""
        for name in self.outputs:
            self.write(name, None, flush=True)
        self._wait_for_writes()
        for output in self.outputs.values():
            if output.sql is not None:
                output.sql.flush()
                assert output.sql_file is not None
                output.sql_file.close()
        if self._script is not None:
            self._script.flush()
        for output in self.outputs.values():
            output.writer.close()

    def close(self) -> None:
        """Stop the writer thread and close every file; after a failure, what was not written is dropped."""
        self._writer_thread.shutdown(wait=True, cancel_futures=True)
        for output in self.outputs.values():
            output.writer.close()  # idempotent: a failed build leaves no open file behind
            if output.sql is not None:
                output.sql.discard()
                assert output.sql_file is not None
                output.sql_file.close()
        if self._script is not None:  # still open: the build failed before its end
            self._script.discard()
            self._script = None

    # -- reading back ------------------------------------------------------------------------------------
    def text_batches(self, name: str, batch_rows: int, also: Sequence[str] = (),
                     numbers: Sequence[str] = ()) -> Iterator[pa.RecordBatch]:
        """A staged table's text columns (not numbers staged as their decimal text), the columns ``numbers``
        (searched as text too) and the columns ``also`` (keys), ``batch_rows`` rows at a time; nothing when it
        has neither a text column nor one of ``numbers`` (a table of ids and amounts only).

        Columns written with dictionaries are read as such: a column chunk's dictionary holds exactly the
        values written to it, so their distinct values come without hashing every row again; the others are
        read plain (as dictionaries Arrow would build them value by value, several times slower).
        """
        path = parquet_path(self.staging, name)
        schema = pq.read_schema(path)
        text = [f.name for f in schema
                if (pa.types.is_string(f.type) or pa.types.is_large_string(f.type)) and not is_decimal_text(f)]
        searched = text + [c for c in numbers if c not in text and c in schema.names]
        if not searched:
            return
        metadata = pq.read_metadata(path)
        encoded = {metadata.row_group(0).column(i).path_in_schema for i in range(metadata.num_columns)
                   if metadata.row_group(0).column(i).has_dictionary_page} if metadata.num_row_groups else set()
        parquet = pq.ParquetFile(path, read_dictionary=[c for c in text if c in encoded])
        columns = searched + [c for c in also if c not in searched and c in parquet.schema_arrow.names]
        yield from parquet.iter_batches(batch_size=batch_rows, columns=columns)

    # -- the SQL script ----------------------------------------------------------------------------------
    def sql_parts(self) -> dict[str, Any] | None:
        """Where each table's INSERTs are (``write_package`` copies them in dependency order), or None."""
        if self.sql_dialect is None or self._script is not None:
            return None
        return {"dialect": self.sql_dialect,
                "files": {name: f"{SQL_PARTS_DIR}/{o.sql_part}" for name, o in self.outputs.items()
                          if o.sql_part is not None},
                "removed_nul_characters": sum(o.sql.removed_nul_characters for o in self.outputs.values() if o.sql)}

    def assemble_sql(self, template: str, template_hash: str) -> AssembledSql:
        """The package's script: the streamed one finished when it holds exactly the staged tables, else put
        together from the SQL parts (or the staged Parquet)."""
        assert self.sql is not None
        script, self._script = self._script, None
        if script is not None:
            if script.table_names == set(self.outputs):
                return script.finish()
            script.discard()  # not the package's tables after all: the script is rendered from the staged Parquet
        stage = {"tables": list(self.outputs), "template": template, "template_hash": template_hash,
                 "sql_parts": self.sql_parts()}
        return assemble_staged_sql(self.staging, stage, self.metadata, self.sql, copy_chunk=self.sql_copy_chunk)
