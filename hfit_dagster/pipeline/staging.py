"""Stage one: extract every table of a template and mask it in memory; only masked rows reach disk.

The result is a staging directory inside the package store: ``parquet/<table>.parquet`` (masked),
``schema.pickle`` (the reflected table definitions, no data) and ``stage.json`` (counts, masking plans,
check results). Stage two (``package_writer``) turns it into a package; either stage failing leaves
the store's published packages untouched.
"""

from __future__ import annotations

import ctypes
import json
import os
import pickle
import queue
import threading
from collections import defaultdict, deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hfit_dagster.checks.leak import LeakCollector, scan_values
from hfit_dagster.checks.token_hashes import TokenPatterns, ascii_tokens
from hfit_dagster.errors import LeakDetected, ProviderError
from hfit_dagster.extract.arrow_types import schema_for
from hfit_dagster.extract.source import (
    create_source_engine,
    describe_db_error,
    read_only_snapshot,
    reflect_tables,
    stream_query,
    stream_rows_by_keys,
    stream_statement,
)
from hfit_dagster.masking import ColumnDecision, ColumnInfo, Masker, TableMaskingPlan, build_table_plan
from hfit_dagster.masking.operators import TEXT_OPERATORS
from hfit_dagster.package.sql_script import SqlScriptWriter, referred_table
from hfit_dagster.pipeline.keysets import KeySet, batch_keys, key_count, values_of
from hfit_dagster.pipeline.sql_assembly import (
    PARQUET_DIR,
    SQL_PARTS_DIR,
    AssembledSql,
    SqlOptions,
    StreamedScript,
    assemble_staged_sql,
)
from hfit_dagster.pipeline.subset import (
    KEYS_FIRST_MAX_RATE,
    REFERENCE_CHUNK,
    SAMPLE_KEYS_BIND,
    child_foreign_key,
    children_statement,
    chunkable_reference,
    keys_first_sample,
    sample_mask,
)
from hfit_dagster.settings import HfitSettings
from hfit_dagster.template.query import ExportQuery, reference_bind_name
from hfit_dagster.template.spec import ChildSpec, TemplateSpec

Progress = Callable[[str], None]
T = TypeVar("T")
STAGE_FILE = "stage.json"
SCHEMA_FILE = "schema.pickle"
ASSEMBLED_SQL = "assembled_sql"  # stage.json: the package's SQL script, when staging assembled it already
__all__ = ["ASSEMBLED_SQL", "PARQUET_DIR", "SCHEMA_FILE", "SQL_PARTS_DIR", "STAGE_FILE", "StageResult",
           "stage_template"]

Columns = tuple[str, ...]
LEAK_SCAN_ROWS = 65_536
PREFETCH_BATCHES = 3  # batches read ahead of masking by the reader thread
PENDING_WRITES = 2  # row groups queued for the Parquet writer thread
ROW_GROUP_ROWS = 65_536  # masked batches are gathered into row groups of about this many rows
SCAN_THREADS = min(2, os.cpu_count() or 1)  # the leak pre-filter is numpy/Arrow work: columns in parallel
DICTIONARY_PROBE_ROWS = 1_000  # a smaller first batch says too little: its text columns keep dictionaries
MASK_AHEAD_WHILE_PREPARING = 8  # batches half-masked (structured columns) while the text analyzer is built


def _quiet(_: str) -> None:
    return None


@dataclass
class _TableState:
    """One staged table: its writer, and the keys it holds (see pipeline/keysets.py for their form)."""

    table: sa.Table
    role: str
    plan: TableMaskingPlan
    writer: pq.ParquetWriter
    rows: int = 0
    pk: Columns = ()
    pk_seen: KeySet = field(default_factory=KeySet)
    unwritten: list[pa.RecordBatch] = field(default_factory=list)  # masked, waiting to fill a row group
    unwritten_rows: int = 0
    present: dict[Columns, KeySet] = field(default_factory=dict)
    referenced: list[Columns] = field(default_factory=list)
    sql: SqlScriptWriter | None = None  # this table's INSERTs, rendered on the writer's own thread
    sql_file: Any = None
    sql_part: str | None = None
    path: Path | None = None  # the staged Parquet file
    parquet_options: dict[str, Any] = field(default_factory=dict)  # how ``writer`` was opened (schema, encodings)
    closed: bool = False  # Parquet closed early (for the leak scan beside the next exports); reopened on more rows

    def __post_init__(self) -> None:
        if self.pk:  # the keys present under the primary key are exactly the primary keys kept: one set
            self.present[self.pk] = self.pk_seen

    def present_keys(self, cols: Columns) -> KeySet:
        keys = self.present.get(cols)
        if keys is None:
            keys = self.present[cols] = KeySet()
        return keys


@dataclass
class StageResult:
    staging: Path
    tables: dict[str, dict[str, Any]]
    checks: dict[str, Any]


def json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat(sep=" ") if isinstance(value, datetime) else value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)


def column_infos(table: sa.Table, dialect: sa.engine.Dialect) -> list[ColumnInfo]:
    unique_single = {next(iter(c.columns)).name for c in table.constraints
                     if isinstance(c, sa.UniqueConstraint) and len(c.columns) == 1}
    unique_single |= {next(iter(i.columns)).name for i in table.indexes if i.unique and len(i.columns) == 1}
    infos = []
    for col in table.columns:
        fk = next(iter(col.foreign_keys), None)
        try:
            sql_type = col.type.compile(dialect=dialect)
        except Exception:
            sql_type = type(col.type).__name__
        infos.append(ColumnInfo(
            name=col.name, sql_type=sql_type, primary_key=col.primary_key,
            foreign_key=f"{fk.column.table.name}.{fk.column.name}" if fk is not None else None,
            unique=col.name in unique_single, nullable=bool(col.nullable),
        ))
    return infos


class _Stager:
    def __init__(self, spec: TemplateSpec, params: dict[str, Any], settings: HfitSettings, staging: Path,
                 progress: Progress, previous_columns: dict[str, set[str]] | None = None,
                 sql_dialect: str | None = None, sql: SqlOptions | None = None) -> None:
        self.spec, self.params, self.settings, self.staging, self.progress = spec, params, settings, staging, progress
        self.sql = sql
        self.sql_dialect = sql.dialect if sql is not None else sql_dialect
        self.masker = Masker(settings.masking_key_bytes(), text_redactor=None)
        self._analyzer: Any = None
        self.leaks = LeakCollector()
        self.states: dict[str, _TableState] = {}
        self.needed: dict[str, dict[Columns, KeySet]] = defaultdict(lambda: defaultdict(KeySet))
        self.requested: dict[str, dict[Columns, KeySet]] = defaultdict(lambda: defaultdict(KeySet))
        self.reference_keys: dict[tuple[str, str], KeySet] = {}
        self.export_rows: dict[str, int] = defaultdict(int)
        self.previous_columns = previous_columns
        self.drift: dict[str, list[str]] = {}
        for query in spec.queries().values():
            for ref in query.references:
                self.reference_keys.setdefault(ref, KeySet())
        (staging / PARQUET_DIR).mkdir(parents=True, exist_ok=True)
        self._writes: deque[Future[None]] = deque()
        self._writer_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hfit-parquet")
        self._masking: deque[tuple[_TableState, pa.RecordBatch, Future[dict[str, pa.Array]]]] = deque()
        self._mask_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hfit-mask")
        # leak scans of tables whose exports ended, run while the next exports are read: (originals version, hits)
        self._early_scans: dict[str, tuple[int, Future[set[str]]]] = {}
        self._early_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hfit-leak-early")
        self._exports_ended: list[str] = []
        self.metadata = sa.MetaData()
        self._script: StreamedScript | None = None  # the package's script, written while staging (see _stream_script)
        self.dialects: dict[str, str] = {}

    # -- masking -----------------------------------------------------------------------------------------
    def analyzer(self) -> Any:
        if self._analyzer is None:
            from hfit_dagster.masking.factory import masker, text_analyzer

            # the configured model, custom recognizers and text workers, exactly as `hfit pkg-tmpl plan` uses them
            self._analyzer = text_analyzer(self.settings)
            self.masker = masker(self.settings, self._analyzer)
        return self._analyzer

    def _state(self, table: sa.Table, role: str, first: pa.RecordBatch, dialect: sa.engine.Dialect) -> _TableState:
        state = self.states.get(table.name)
        if state is not None:
            return state
        sample = pa.Table.from_batches([first]).slice(0, self.settings.classification_sample_size)
        plan = build_table_plan(
            table.name, column_infos(table, dialect), sample,
            rules=self.spec.masking_rules(table.name) if table.name in self.spec.exports else {},
            default=self.spec.masking_default, analyzer=self.analyzer(),
            parent_plans={name: st.plan for name, st in self.states.items()},
            sample_size=self.settings.classification_sample_size,
        )
        if self.previous_columns is not None and table.name in self.previous_columns:
            self._hold_new_columns(table, plan, first.schema)
        path = self.staging / PARQUET_DIR / f"{table.name}.parquet"
        options = {"schema": first.schema, "compression": "zstd", "use_dictionary": _dictionary_columns(first)}
        writer = pq.ParquetWriter(path, **options)
        state = _TableState(table=table, role=role, plan=plan, writer=writer,
                            pk=tuple(c.name for c in table.primary_key.columns),
                            referenced=self._referenced_column_sets(table), path=path, parquet_options=options)
        if self.sql_dialect is not None and self._script is None:
            (self.staging / SQL_PARTS_DIR).mkdir(exist_ok=True)
            state.sql_part = f"{len(self.states):04d}.sql"
            state.sql_file = (self.staging / SQL_PARTS_DIR / state.sql_part).open("wb")
            state.sql = SqlScriptWriter(state.sql_file, self.sql_dialect)
        self.states[table.name] = state
        if table.name not in self.metadata.tables:
            table.to_metadata(self.metadata)
        return state

    def _hold_new_columns(self, table: sa.Table, plan: TableMaskingPlan, schema: pa.Schema) -> None:
        """Schema drift: a column the previous package did not have is masked until a template rule covers it."""
        assert self.previous_columns is not None
        new = [c for c in plan.decisions if c not in self.previous_columns[table.name]]
        if not new:
            return
        self.drift[table.name] = new
        for name in new:
            decision = plan.decisions[name]
            if decision.operator != "keep" or decision.source in ("rule", "key"):
                continue
            arrow_type = schema.field(name).type
            if table.c[name].nullable:
                operator = "null"
            elif pa.types.is_string(arrow_type) or pa.types.is_integer(arrow_type):
                operator = "shape"
            else:
                continue  # nothing fits a NOT NULL non-text column; reported in the drift check
            plan.decisions[name] = ColumnDecision(
                column=name, operator=operator, entity=decision.entity, confidence=decision.confidence,
                evidence="new since the previous package: masked until a masking rule reviews it", source="drift",
            )

    def _referenced_column_sets(self, table: sa.Table) -> list[tuple[str, ...]]:
        """Column tuples of ``table`` that other reflected tables point at with foreign keys."""
        sets: set[tuple[str, ...]] = set()
        for other in table.metadata.tables.values():
            for fk in other.foreign_key_constraints:
                if fk.referred_table is table:
                    sets.add(tuple(e.column.name for e in fk.elements))
        pk = tuple(c.name for c in table.primary_key.columns)
        if pk:
            sets.add(pk)
        return sorted(sets)

    def handle_batch(self, table: sa.Table, batch: pa.RecordBatch, role: str, export: str | None,
                     dialect: sa.engine.Dialect) -> None:
        if batch.num_rows == 0:
            return
        batch = _conform(batch, table)
        pk = [c.name for c in table.primary_key.columns if c.name in batch.schema.names]
        export_spec = self.spec.exports.get(export) if export is not None else None
        if export_spec is not None and export_spec.sample is not None:
            batch = batch.filter(sample_mask(batch, pk, export_spec.sample, export_spec.sample_seed))
            if batch.num_rows == 0:
                return
        state = self._state(table, role, batch, dialect)
        if pk:
            fresh = state.pk_seen.add_new(batch_keys(batch, pk))
            if not fresh.all():
                batch = batch.filter(pa.array(fresh))
        if export_spec is not None and export_spec.row_limit is not None:
            room = export_spec.row_limit - self.export_rows[export]
            if batch.num_rows > room:
                if pk:
                    state.pk_seen.discard(batch_keys(batch.slice(max(room, 0)), pk))
                batch = batch.slice(0, max(room, 0))
        if export_spec is not None:  # what the export selected: its row limit and min_rows/max_rows
            self.export_rows[export] += batch.num_rows
        if batch.num_rows == 0:
            return
        for cols in state.referenced:
            if cols != state.pk and all(c in batch.schema.names for c in cols):
                state.present_keys(cols).add(batch_keys(batch, cols, drop_nulls=True))
        for fk in table.foreign_key_constraints:
            child_cols = [e.parent.name for e in fk.elements]
            if not all(c in batch.schema.names for c in child_cols):
                continue
            parent_cols = tuple(e.column.name for e in fk.elements)
            self.needed[fk.referred_table.name][parent_cols].add(batch_keys(batch, child_cols, drop_nulls=True))
        if export is not None:
            for (ref_export, column), keyset in self.reference_keys.items():
                if ref_export == export and column in batch.schema.names:
                    keyset.add(batch_keys(batch, [column], drop_nulls=True))
        self._mask_and_write(state, batch)
        state.rows += batch.num_rows
        self.progress(f"{table.name}: {state.rows} rows")

    def _write(self, state: _TableState, masked: pa.RecordBatch | None, *, flush: bool = False) -> None:
        """Gather masked batches into row groups; the writer thread encodes them while reading and masking go on."""
        if masked is not None and masked.num_rows:
            state.unwritten.append(masked)
            state.unwritten_rows += masked.num_rows
            if state.sql is not None:
                state.sql.write_rows(state.table, masked)
            elif self._script is not None:
                self._script.write_rows(state.table, masked)
        if not state.unwritten or (state.unwritten_rows < ROW_GROUP_ROWS and not flush):
            return
        group = pa.Table.from_batches(state.unwritten)
        state.unwritten, state.unwritten_rows = [], 0
        if state.closed:
            self._reopen(state)
        while len(self._writes) >= PENDING_WRITES:
            self._writes.popleft().result()
        self._writes.append(self._writer_thread.submit(state.writer.write_table, group))

    def _drain_writes(self) -> None:
        self._complete_masking()
        for state in self.states.values():
            self._write(state, None, flush=True)
        while self._writes:
            self._writes.popleft().result()
        for state in self.states.values():
            if state.sql is not None:
                state.sql.flush()
                state.sql_file.close()
        if self._script is not None:
            self._script.flush()

    def _sql_parts(self) -> dict[str, Any] | None:
        """Where each table's INSERTs are (``write_package`` copies them in dependency order), or None."""
        if self.sql_dialect is None or self._script is not None:
            return None
        return {"dialect": self.sql_dialect,
                "files": {name: f"{SQL_PARTS_DIR}/{s.sql_part}" for name, s in self.states.items()},
                "removed_nul_characters": sum(s.sql.removed_nul_characters for s in self.states.values() if s.sql)}

    def _mask_and_write(self, state: _TableState, batch: pa.RecordBatch) -> None:
        """Mask in memory, then write; remember originals of masked columns (memory only) for the leak check.

        A table with free text is masked in two halves on two threads: the structured columns of a batch
        (compiled work, mostly without the GIL) on the masking thread while this thread redacts the text of
        the batch before it (mostly Python). Batches are written in the order they came.
        """
        by_operator: dict[str, str] = {}
        for name, decision in state.plan.decisions.items():
            if decision.operator != "keep":
                # once the collector is full (``truncated``) it takes no more originals: skip the call
                if not self.leaks.truncated:
                    self.leaks.add_column(state.table.name, name, decision.operator, batch.column(name))
                by_operator[decision.operator] = name
        if not TEXT_OPERATORS & set(by_operator):
            self._complete_masking()
            self._write(state, self._checked(state, batch, self.masker.mask_batch(state.plan, batch)))
            return
        structured = self._mask_thread.submit(self.masker.mask_structured_columns, state.plan, batch)
        self._masking.append((state, batch, structured))
        # while the analyzer is still being built, more batches go ahead with their structured columns
        ahead = 1 if self._analyzer is None or self._analyzer.prepared.is_set() else MASK_AHEAD_WHILE_PREPARING
        while len(self._masking) > ahead:
            self._complete_oldest()

    def _complete_oldest(self) -> None:
        state, batch, structured = self._masking.popleft()
        masked = self.masker.mask_text_columns(state.plan, batch, structured.result())
        self._write(state, self._checked(state, batch, masked))

    def _complete_masking(self) -> None:
        while self._masking:
            self._complete_oldest()

    def _checked(self, state: _TableState, batch: pa.RecordBatch, masked: pa.RecordBatch) -> pa.RecordBatch:
        """Where a table masks first and last names, no row's original full name may stay in its masked row."""
        by_operator = {d.operator: name for name, d in state.plan.decisions.items()}
        if "first_name" in by_operator and "last_name" in by_operator:
            self.leaks.check_row_full_names(state.table.name, batch.column(by_operator["first_name"]),
                                            batch.column(by_operator["last_name"]), masked)
        return masked

    # -- extraction --------------------------------------------------------------------------------------
    def run(self) -> StageResult:
        try:
            return self._run()
        finally:
            self.leaks.discard()  # after a success everything was hashed already; after a failure, skip the rest
            self._early_thread.shutdown(wait=True, cancel_futures=True)  # it reads staged files: done before cleanup
            self._mask_thread.shutdown(wait=True, cancel_futures=True)
            self._writer_thread.shutdown(wait=True, cancel_futures=True)
            for state in self.states.values():
                state.writer.close()  # idempotent: a failed build leaves no open file behind
                if state.sql is not None:
                    state.sql.discard()
                    state.sql_file.close()
            if self._script is not None:  # still open: the build failed before its end
                self._script.discard()
                self._script = None
            redactor = getattr(self.masker, "text_redactor", None)
            if redactor is not None and hasattr(redactor, "close"):
                redactor.close()  # worker processes of parallel free-text redaction, if any

    def _run(self) -> StageResult:
        spec = self.spec
        # the text analyzer (classification of text columns, free text) is built while the source is read
        self.analyzer().prepare_in_background()
        order = spec.export_order()
        by_provider: dict[str, list[str]] = defaultdict(list)
        for name in order:
            by_provider[spec.exports[name].provider.upper()].append(name)
        queries = spec.queries()
        with ExitStack() as stack:
            connections: dict[str, tuple[Connection, sa.MetaData]] = {}
            for provider, exports in by_provider.items():
                engine = create_source_engine(provider, self.settings.provider_url(provider))
                stack.callback(engine.dispose)
                conn = stack.enter_context(read_only_snapshot(provider, engine))
                self.dialects[provider] = engine.dialect.name
                try:
                    wanted = [spec.source_table(e) for e in exports]
                    wanted += [child for e in exports for child in spec.exports[e].children]
                    metadata = reflect_tables(provider, conn, wanted)
                except sa.exc.SQLAlchemyError as exc:
                    raise describe_db_error(provider, exc) from None
                connections[provider] = (conn, metadata)
            self._stream_script(connections)
            for run in self._export_runs(order, queries):
                provider = spec.exports[run[0]].provider.upper()
                conn, metadata = connections[provider]
                for name in run:
                    missing = [p for p in queries[name].params if p not in self.params]
                    if missing:
                        raise ProviderError(f"export {name!r} uses :{missing[0]}, which is not a template "
                                            "parameter", hint="declare it under 'parameters:' in the template")
                try:
                    if len(run) > 1:
                        self._stage_chained(conn, metadata, run, queries)
                        continue
                    name = run[0]
                    table = metadata.tables[spec.source_table(name)]
                    query = queries[name]
                    values = {p: self.params.get(p) for p in query.params}
                    self._scan_ended_exports()
                    self.progress(f"{name}: querying")
                    for bound in self._reference_chunks(query, values):
                        for batch in self._export_batches(conn, table, name, query, bound):
                            self.handle_batch(table, batch, "export", name, conn.dialect)
                    for child, child_spec in spec.exports[name].children.items():
                        self._fetch_children(provider, conn, metadata, table, child, child_spec)
                except sa.exc.SQLAlchemyError as exc:
                    raise describe_db_error(provider, exc) from None
                self.leaks.prepare_patterns()  # used by the leak check unless later tables add originals
                self._exports_ended.extend(run)
            if spec.subset.follow_parents:
                for provider, (conn, metadata) in connections.items():
                    self._follow_parents(provider, conn, metadata)
            for name in order:  # an export that selected no rows is still an (empty) table of the package
                conn, metadata = connections[spec.exports[name].provider.upper()]
                table = metadata.tables[spec.source_table(name)]
                if table.name not in self.states:
                    empty = schema_for(table, [c.name for c in table.columns]).empty_table().to_batches()
                    self._state(table, "export", empty[0] if empty else pa.RecordBatch.from_pylist(
                        [], schema=schema_for(table, [c.name for c in table.columns])), conn.dialect)
        return self._finish()

    def _stream_script(self, connections: dict[str, tuple[Connection, sa.MetaData]]) -> None:
        """Start writing the package's SQL script now when its tables are certain before reading: every table
        of the package is an export's (no children, which may stay empty and out of the package), and no
        foreign key points outside them (following parents then only adds rows). Why: otherwise each table's
        INSERTs go to a part file that the end of the build copies into the script and hashes (the bench's
        full build: ~690 MB, ~1.3 s of CPU in its tail)."""
        if self.sql is None or self.sql.gzip_sql:
            return
        if any(export.children for export in self.spec.exports.values()):
            return
        tables: dict[str, sa.Table] = {}
        for name, export in self.spec.exports.items():
            table = connections[export.provider.upper()][1].tables[self.spec.source_table(name)]
            tables[table.name] = table
        fullnames = {str(t.fullname) for t in tables.values()}
        if any(referred_table(fk)[0] not in fullnames for table in tables.values() for fk in table.foreign_keys):
            return
        for table in tables.values():
            if table.name not in self.metadata.tables:
                table.to_metadata(self.metadata)
        self._script = StreamedScript(self.staging, [self.metadata.tables[n] for n in tables], self.spec.name,
                                      self.spec.content_hash(), self.sql)
        self.progress(f"{self.sql.file_name}: written while the tables are read")

    def _export_runs(self, order: list[str], queries: dict[str, ExportQuery]) -> list[list[str]]:
        """Exports in order, consecutive ones read back to back (see :meth:`_stage_chained`) grouped together:
        same provider, plain one-statement queries (no reference to another export, no sample, no children)."""
        def plain(name: str) -> bool:
            export = self.spec.exports[name]
            return not queries[name].references and export.sample is None and not export.children

        def provider(name: str) -> str:
            return self.spec.exports[name].provider.upper()

        runs: list[list[str]] = []
        for name in order:
            last = runs[-1][-1] if runs else None
            if last is not None and plain(last) and plain(name) and provider(last) == provider(name):
                runs[-1].append(name)
            else:
                runs.append([name])
        return runs

    def _stage_chained(self, conn: Connection, metadata: sa.MetaData, run: list[str],
                       queries: dict[str, ExportQuery]) -> None:
        """Exports that need nothing from each other, read back to back by one reader thread: the next query
        goes to the server as soon as the previous result is read, while its last batches are still being
        masked and written (one connection, one snapshot, the same SQL and bound values as one by one)."""
        jobs = [(name, metadata.tables[self.spec.source_table(name)], queries[name]) for name in run]

        def read() -> Iterator[tuple[str, sa.Table, pa.RecordBatch]]:
            for name, table, query in jobs:
                values = {p: self.params.get(p) for p in query.params}
                for batch in stream_query(conn, table, query, values, self.settings.batch_rows,
                                         fast_read=self.settings.fast_read):
                    yield name, table, batch

        current = None
        for name, table, batch in _prefetched(read):
            if name != current:
                if current is not None:
                    self.leaks.prepare_patterns()
                    self._exports_ended.append(current)
                self._scan_ended_exports()
                self.progress(f"{name}: querying")
                current = name
            self.handle_batch(table, batch, "export", name, conn.dialect)
        if current is not None:  # as after an export read on its own
            self.leaks.prepare_patterns()
            self._exports_ended.append(current)

    def _export_batches(self, conn: Connection, table: sa.Table, name: str, query: ExportQuery,
                        bound: dict[str, Any]) -> Iterator[pa.RecordBatch]:
        """An export's rows; a sample reads its keys first and then only the sampled rows, where that is exact.

        (c) of the benchmark: 1% of 1M customers read every row's note to keep 10,000 of them; with keys
        first the server sends 1M ids and then 10,000 rows by primary key (see ``keys_first_sample``).
        ``handle_batch`` applies the sample again, so either way the same rows are kept.
        """
        export = self.spec.exports[name]
        pk = list(table.primary_key.columns)
        plan = None
        # integer or text keys only: they come back from the driver as values that compare equal when bound
        if (export.sample is not None and export.sample <= KEYS_FIRST_MAX_RATE and export.row_limit is None
                and len(pk) == 1 and isinstance(pk[0].type, sa.Integer | sa.String)):
            plan = keys_first_sample(query.sql, pk[0].name, conn.dialect.identifier_preparer.quote)
        if plan is None:
            yield from _prefetched(partial(stream_query, conn, table, query, bound, self.settings.batch_rows,
                                           fast_read=self.settings.fast_read))
            return
        keys_sql, rows_sql = plan
        key = [pk[0].name]
        sampled = [batch.column(0).filter(sample_mask(batch, key, export.sample, export.sample_seed))
                   for batch in stream_query(conn, table, replace(query, sql=keys_sql), bound,
                                             self.settings.batch_rows, fast_read=self.settings.fast_read)]
        keys = pa.concat_arrays(sampled) if sampled else pa.array([], type=pa.int64())
        keys = keys.take(pc.sort_indices(keys)).to_pylist()
        self.progress(f"{name}: {len(keys)} sampled keys")
        by_key = ExportQuery(sql=rows_sql, params=(*query.params, SAMPLE_KEYS_BIND), references=query.references)
        for start in range(0, len(keys), REFERENCE_CHUNK):
            yield from _prefetched(partial(stream_query, conn, table, by_key,
                                           {**bound, SAMPLE_KEYS_BIND: keys[start : start + REFERENCE_CHUNK]},
                                           self.settings.batch_rows, fast_read=self.settings.fast_read))

    def _reference_chunks(self, query: ExportQuery, values: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Bound values for each run of ``query``: large key sets of a reference split into chunks when safe."""
        keysets = {reference_bind_name(*ref): values_of(self.reference_keys[ref].keys()) or [None]
                   for ref in query.references}
        if not keysets:
            yield values
            return
        largest = max(keysets, key=lambda name: len(keysets[name]))
        keys = keysets[largest]
        if len(keys) <= REFERENCE_CHUNK or not chunkable_reference(query.sql, largest):
            yield {**values, **keysets}
            return
        for start in range(0, len(keys), REFERENCE_CHUNK):
            yield {**values, **keysets, largest: keys[start : start + REFERENCE_CHUNK]}

    def _fetch_children(self, provider: str, conn: Connection, metadata: sa.MetaData, parent: sa.Table,
                        child_name: str, child_spec: ChildSpec) -> None:
        """Each staged parent row's children (at most ``max_per_parent`` each), fetched by key."""
        if child_name not in metadata.tables:
            raise ProviderError(f"provider {provider!r} has no table {child_name!r} (children of {parent.name!r})")
        child = metadata.tables[child_name]
        try:
            fk = child_foreign_key(child, parent, child_spec.via)
        except ValueError as exc:
            raise ProviderError(f"children of {parent.name!r}: {exc}") from None
        parent_cols = tuple(e.column.name for e in fk.elements)
        state = self.states.get(parent.name)
        keys = state.present_keys(parent_cols).keys() if state else []
        statement = children_statement(child, fk, child_spec.max_per_parent)
        role = "export" if child_name in self._exported_tables() else "child"
        self.progress(f"{child_name}: children of {key_count(keys)} {parent.name} rows")
        schema = schema_for(child, [c.name for c in child.columns])
        for start in range(0, key_count(keys), REFERENCE_CHUNK):
            chunk = keys[start : start + REFERENCE_CHUNK]
            bound = values_of(chunk) if len(parent_cols) == 1 else list(chunk)
            for batch in _prefetched(partial(stream_statement, conn, statement, {"keys": bound}, schema,
                                             self.settings.batch_rows, fast_read=self.settings.fast_read)):
                self.handle_batch(child, batch, role, None, conn.dialect)

    def _exported_tables(self) -> set[str]:
        return {self.spec.source_table(e) for e in self.spec.exports}

    def _follow_parents(self, provider: str, conn: Connection, metadata: sa.MetaData) -> None:
        """Fetch every referenced parent row not yet staged, transitively, until nothing is missing."""
        while True:
            fetched_any = False
            for parent_name in sorted(self.needed):
                if parent_name not in metadata.tables:
                    continue
                parent = metadata.tables[parent_name]
                for cols, keys in sorted(self.needed[parent_name].items(), key=lambda item: item[0]):
                    state = self.states.get(parent_name)
                    present = state.present_keys(cols) if state else KeySet()
                    missing = keys.difference(present, self.requested[parent_name][cols])
                    if not key_count(missing):
                        continue
                    self.requested[parent_name][cols].add(missing)
                    fetched_any = True
                    role = "export" if parent_name in self._exported_tables() else "parent"
                    self.progress(f"{parent_name}: fetching {key_count(missing)} referenced rows")
                    try:
                        for batch in stream_rows_by_keys(conn, parent, cols, missing, self.settings.batch_rows,
                                                                         fast_read=self.settings.fast_read):
                            self.handle_batch(parent, batch, role, None, conn.dialect)
                    except sa.exc.SQLAlchemyError as exc:
                        raise describe_db_error(provider, exc) from None
            if not fetched_any:
                return

    def _finish(self) -> StageResult:
        self.progress("writing the last row groups")
        self._drain_writes()
        for state in self.states.values():
            state.writer.close()
        dangling = self._dangling_foreign_keys()
        with (self.staging / SCHEMA_FILE).open("wb") as handle:
            pickle.dump(self.metadata, handle)
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="hfit-sql-assemble") as assembler:
            # the script is put together beside the leak check (it does not depend on it); a failed check
            # still waits for it here, so nothing writes into the staging directory once this returns
            assembling = assembler.submit(self._assemble_sql) if self.sql is not None else None
            hits: set[str] = set(self.leaks.row_hits)
            for name in self.states:
                early = self._early_scans.pop(name, None)
                if early is not None and early[0] == self.leaks.version:  # no original since, no row added since
                    self.progress(f"leak check: {name} (scanned while the next tables were read)")
                    hits |= early[1].result()
                    continue
                _settle(early)
                _release_memory()  # freed Arrow buffers go back to the system before each pass (peak RSS)
                self.progress(f"leak check: {name}")
                hits |= self._scan_staged(name, *self.leaks.searched())
            _release_memory()
            assembled = assembling.result() if assembling is not None and not hits else None
        leak_check = {**self.leaks.summary(), "passed": not hits, "columns_with_hits": sorted(hits)}
        if hits:
            raise LeakDetected(
                f"leak check failed, nothing was published: original values of {'; '.join(sorted(hits))}",
                hint="add an explicit masking rule for those columns (e.g. redact_text or null) in the template",
            )
        tables = {
            name: {"role": s.role, "rows": s.rows, "plan": s.plan.to_dict()}
            for name, s in self.states.items()
        }
        checks = {"leak": leak_check, "foreign_keys": dangling, "row_counts": self._row_count_check(),
                  "schema_drift": {"new_columns": self.drift, "compared": self.previous_columns is not None}}
        stage = {
            "template": self.spec.name,
            "template_hash": self.spec.content_hash(),
            "params": self.params,
            "providers": self.dialects,
            "follow_parents": self.spec.subset.follow_parents,
            "tables": tables,
            "checks": checks,
            "staged_at": datetime.now(UTC).isoformat(),
            "sql_parts": self._sql_parts() if assembled is None else None,
            ASSEMBLED_SQL: assembled.to_dict() if assembled is not None else None,
        }
        (self.staging / STAGE_FILE).write_text(json.dumps(stage, default=json_default, indent=2))
        return StageResult(staging=self.staging, tables=tables, checks=checks)

    def _assemble_sql(self) -> AssembledSql:
        assert self.sql is not None
        script, self._script = self._script, None
        if script is not None:
            if script.table_names == set(self.states):
                return script.finish()
            script.discard()  # not the package's tables after all: the script is rendered from the staged Parquet
        stage = {"tables": list(self.states), "template": self.spec.name, "template_hash": self.spec.content_hash(),
                 "sql_parts": self._sql_parts()}
        return assemble_staged_sql(self.staging, stage, self.metadata, self.sql)

    def _scan_staged(self, name: str, patterns: TokenPatterns, origins: list[str]) -> set[str]:
        """The leak check over one staged table, streamed: string columns only, one batch at a time.

        Same result as ``LeakCollector.scan_table`` over the whole table, without holding it in memory;
        :func:`_leak_candidates` first drops (vectorized) the values that cannot contain an original.
        ``patterns`` and ``origins`` are the searched originals (:meth:`LeakCollector.searched` or a
        snapshot): the scan touches nothing else of the build, so it may run beside it.
        """
        path = self.staging / PARQUET_DIR / f"{name}.parquet"
        text = [f.name for f in pq.read_schema(path)
                if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)]
        hits: set[str] = set()
        if not text or not patterns.by_length:
            return hits
        # columns written with dictionaries are read as such: a column chunk's dictionary holds exactly the values
        # written to it, so the distinct values come without hashing every row again (order_items.sku: 0.39 s ->
        # 0.10 s); the others are read plain (as dictionaries Arrow would build them value by value, ~4x slower)
        metadata = pq.read_metadata(path)
        encoded = {metadata.row_group(0).column(i).path_in_schema for i in range(metadata.num_columns)
                   if metadata.row_group(0).column(i).has_dictionary_page} if metadata.num_row_groups else set()
        parquet = pq.ParquetFile(path, read_dictionary=[c for c in text if c in encoded])

        def candidates(column: pa.Array) -> pa.Array:
            distinct = column.dictionary if isinstance(column, pa.DictionaryArray) else pc.unique(column)
            return _leak_candidates(distinct, patterns)

        with ThreadPoolExecutor(max_workers=SCAN_THREADS, thread_name_prefix="hfit-leak") as pool:
            for batch in parquet.iter_batches(batch_size=LEAK_SCAN_ROWS, columns=text):
                for column_name, values in zip(batch.schema.names, pool.map(candidates, batch.columns), strict=True):
                    if len(values):  # the exact scan (checks/leak.py) decides; the pre-filter only drops values
                        found = scan_values(patterns, origins, values.to_pylist())
                        hits |= {f"{origin} in {name}.{column_name}" for origin in found}
                _release_memory()
        return hits

    def _scan_ended_exports(self) -> None:
        """Start the leak scan of the tables whose exports ended, beside the exports still to read.

        Their Parquet is closed for it; the scan searches the originals collected so far (a snapshot) and
        counts at the end only if no original came after it and no row was added to the table since (rows
        of followed parents reopen the file); otherwise the end of the build scans the table again. Why:
        the bench's customers took ~1 s of the build's tail, where the SQL assembly runs too.
        """
        ended, self._exports_ended = self._exports_ended, []
        for export in ended:
            state = self.states.get(self.spec.source_table(export))
            if state is None or state.closed or state.table.name in self._early_scans:
                continue
            snapshot = self.leaks.snapshot()
            if snapshot is None:  # no original yet: nothing to search for
                return
            version, searched = snapshot
            self._complete_masking()  # the table's last batches, then its last row group
            self._write(state, None, flush=True)
            while self._writes:
                self._writes.popleft().result()
            state.writer.close()
            state.closed = True
            name = state.table.name

            def scan(name: str = name, searched: Future[tuple[TokenPatterns, list[str]]] = searched) -> set[str]:
                return self._scan_staged(name, *searched.result())

            self._early_scans[name] = (version, self._early_thread.submit(scan))

    def _reopen(self, state: _TableState) -> None:
        """More rows for a table closed early (parents followed into an export): its early scan no longer
        counts, and its Parquet is written anew from the closed file's row groups, then goes on."""
        _settle(self._early_scans.pop(state.table.name, None))
        assert state.path is not None
        closed = state.path.with_name(state.path.name + ".closed")
        state.path.rename(closed)
        state.writer = pq.ParquetWriter(state.path, **state.parquet_options)
        source = pq.ParquetFile(closed)
        for group in range(source.num_row_groups):
            state.writer.write_table(source.read_row_group(group))
        del source
        closed.unlink()
        state.closed = False

    def _row_count_check(self) -> dict[str, Any]:
        outside = {}
        for name, export in self.spec.exports.items():
            rows = self.export_rows.get(name, 0)
            low, high = export.min_rows, export.max_rows
            if (low is not None and rows < low) or (high is not None and rows > high):
                outside[name] = {"rows": rows, "min_rows": low, "max_rows": high}
        return {"passed": not outside, "outside_bounds": outside,
                "rows": {name: self.export_rows.get(name, 0) for name in self.spec.exports}}

    def _dangling_foreign_keys(self) -> dict[str, Any]:
        """Referenced keys that are not in the package (source's own dangling rows, or parents not followed)."""
        details: dict[str, int] = {}
        for parent_name, by_cols in self.needed.items():
            state = self.states.get(parent_name)
            for cols, keys in by_cols.items():
                missing = key_count(keys.difference(state.present_keys(cols))) if state else len(keys)
                if missing:
                    details[f"{parent_name}({', '.join(cols)})"] = missing
        return {"dangling_references": sum(details.values()), "by_parent": details}


def _settle(early: tuple[int, Future[set[str]]] | None) -> None:
    """An early leak scan that no longer counts: not started, dropped; running, waited for (it reads the
    table's file), its outcome ignored (the table is scanned again)."""
    if early is not None and not early[1].cancel():
        try:
            early[1].result()
        except Exception:  # noqa: BLE001 - superseded: the scan of the final file decides
            pass


def _dictionary_columns(first: pa.RecordBatch) -> list[str]:
    """Columns worth Parquet dictionary encoding: text and binary whose values repeat (statuses, SKUs, cities),
    judged on the table's first batch.

    Why not every column (pyarrow's default): ids, timestamps and decimals are nearly unique, so the
    writer builds a dictionary per row group only to drop it when it overflows; at the bench's default
    scale that was about half of the Parquet CPU time (5.8 s -> 3.1 s) and the files got bigger. The same
    holds for text that is mostly distinct (emails, phones): the bench's customers take 0.32 s instead of
    0.44 s without dictionaries for those, and their file is smaller.
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


def _leak_candidates(values: pa.Array, patterns: TokenPatterns | None) -> pa.Array:
    """The values that may contain a searched original; the collector's scan runs on these only.

    The leak check tokenizes with Python's ``\\w+`` and ``str.lower``, which on ASCII text are
    ``[0-9a-z_]+`` after ASCII lower-casing: an ASCII value is kept when a run of its tokens hashes like a
    searched sequence, which is exactly what the scan decides, here in C over the whole batch. Non-ASCII
    values are always kept (Unicode word rules are left to Python).
    """
    values = values.drop_null()
    if patterns is None or not len(values):
        return values
    if not patterns.by_length:
        return values.slice(0, 0)
    ascii_mask = pc.string_is_ascii(values)
    others = values.filter(pc.invert(ascii_mask))
    plain = values.filter(ascii_mask)
    hit = np.zeros(len(plain), dtype=bool)
    for index, _ in patterns.matches(ascii_tokens(plain)):
        hit[index] = True
    return pa.concat_arrays([plain.filter(pa.array(hit)), others])


def _release_memory() -> None:
    """Hand freed memory back to the system between phases, so one phase's garbage does not raise the peak.

    Arrow's allocator and glibc's malloc both keep freed pages for reuse (glibc also raises its mmap threshold
    after large frees, so later numpy arrays come from a heap that never shrinks by itself).
    """
    pa.default_memory_pool().release_unused()
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def _load_libc() -> Any:
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
        return libc
    except (OSError, AttributeError):  # not glibc (macOS, musl): nothing to trim
        return None


_LIBC = _load_libc()


class _End:
    """The end of a prefetched stream (``error`` set when the reader failed)."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error


def _prefetched(make: Callable[[], Iterator[T]], depth: int = PREFETCH_BATCHES) -> Iterator[T]:
    """The batches of ``make()``, produced by a reader thread up to ``depth`` batches ahead.

    Why: the socket waits and Arrow's decoding release the GIL, so reading the next batches overlaps
    masking and writing this one. The connection is used by the reader thread only while this iterator
    runs; when it ends (exhausted, failed, or abandoned by the consumer) the thread has closed the result,
    so the connection is free again. A reader error is raised here, in the consumer's thread.
    """
    channel: queue.Queue[T | _End] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def offer(item: T | _End) -> bool:
        while not stop.is_set():
            try:
                channel.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        batches = None
        try:
            batches = make()
            for batch in batches:
                if not offer(batch):
                    break
        except BaseException as exc:  # handed to the consumer, which raises it
            if batches is not None and hasattr(batches, "close"):
                batches.close()
            offer(_End(exc))
            return
        if batches is not None and hasattr(batches, "close"):
            batches.close()
        offer(_End())

    reader = threading.Thread(target=produce, name="hfit-reader", daemon=True)
    reader.start()
    try:
        while True:
            item = channel.get()
            if isinstance(item, _End):
                if item.error is not None:
                    raise item.error
                return
            yield item
    finally:
        stop.set()
        reader.join()


def _conform(batch: pa.RecordBatch, table: sa.Table) -> pa.RecordBatch:
    """The batch with every column of ``table`` in table order; columns the query did not select are NULL."""
    names = [c.name for c in table.columns]
    if batch.schema.names == names:
        return batch
    full = schema_for(table, names)
    arrays = [batch.column(n) if n in batch.schema.names else pa.nulls(batch.num_rows, full.field(n).type)
              for n in names]
    return pa.RecordBatch.from_arrays(arrays, schema=full)


def stage_template(spec: TemplateSpec, params: dict[str, Any], settings: HfitSettings, staging: Path,
                   progress: Progress = _quiet, previous_columns: dict[str, set[str]] | None = None,
                   sql_dialect: str | None = None, sql: SqlOptions | None = None) -> StageResult:
    """Extract and mask every table of ``spec`` into ``staging`` (see module docstring).

    ``previous_columns`` (table → columns of the previous package) turns on the schema-drift rule.
    ``sql_dialect``, when the package's SQL dialect is known already, renders each table's INSERTs while
    staging (on writer threads, beside reading and masking), so ``write_package`` only copies them instead of
    reading the Parquet back; without it ``write_package`` renders from the Parquet. ``sql`` (``hfit build``)
    goes one step further: the whole script is assembled while the leak check runs, and ``write_package``
    with the same options only writes the manifest.
    """
    return _Stager(spec, params, settings, staging, progress, previous_columns, sql_dialect, sql).run()
