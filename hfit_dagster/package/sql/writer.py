"""The package's SQL script: DDL and batched INSERTs for a target dialect, written while streaming.

``SqlScriptWriter`` takes tables as reflected from the source (SQLite, MySQL/MariaDB or PostgreSQL) and Arrow
record batches of already-masked rows, and writes UTF-8 SQL that loads with the target's own client
(``mysql db < package.sql``, ``psql -f``, ``sqlite3 db < package.sql``). It is the same for every target: what
differs is asked of the dialect (``base.SqlDialect`` and one module per dialect), the DDL comes from the table
planner (``table_plan``).

- Rows are written by the compiled row writer (``compiled_rows``) straight from the batch for integers,
  decimals, dates, timestamps and MySQL/PostgreSQL text; other columns are rendered per column by the Arrow path
  (``arrow_literals``) and copied in. ``compiled_rows=False`` renders every column by the Arrow path (the
  reference: the text is the same byte for byte).
- A row is one line, a statement is a run of rows no larger than ``max_statement_bytes``.
- Nothing here logs, and no error message carries a value.
"""

from __future__ import annotations

import os
import re
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from hfit_dagster.errors import BuildError
from hfit_dagster.package.sql import column_types as ct
from hfit_dagster.package.sql.arrow_literals import ArrowLiterals, dialect_quotes_numbers
from hfit_dagster.package.sql.base import SqlDialect
from hfit_dagster.package.sql.compiled_rows import RowSource
from hfit_dagster.package.sql.registry import dialect_for
from hfit_dagster.package.sql.table_plan import ColumnPlan, TablePlan, TablePlanner

_TOO_LARGE = (pa.ArrowCapacityError, OverflowError)
# text into these columns is rewritten by the Arrow path (money text into numbers, JSON string scalars given their
# quotes back, JSON arrays into array literals)
_TEXT_REWRITTEN = frozenset({ct.DECIMAL, ct.JSON, ct.ARRAY})
_NON_FINITE = r"^\s*[+-]?(nan|inf|infinity)\s*$"
_PACKET_MARGIN = 1024  # a statement's bytes below the packet limit left for the protocol
_MAX_BATCH_BYTES = 256 << 20  # larger batches are written in halves: SQL text stays far below 2 GiB
_MAX_TEXT = 2**31 - 1  # an Arrow string array holds at most this many bytes

# Columns of a batch that take the Arrow path are rendered on a small thread pool: Arrow's kernels release the
# GIL, so on a machine with more than one core they render at the same time (the output is the same).
_RENDER_THREADS = min(4, os.cpu_count() or 1)
_PARALLEL_MIN_CELLS = 20_000
_PIPELINE_DEPTH = 2  # batches rendered ahead while the caller prepares the next one
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _render_pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=_RENDER_THREADS, thread_name_prefix="hfit-sql")
        return _pool


class SqlScriptWriter:
    """Writes one SQL script (DDL + data) for a target dialect to a binary stream, as UTF-8.

    Call order: ``set_written_tables`` and ``write_preamble``; ``write_create_table`` for every table
    (parents first, see ``tables_in_dependency_order``); ``write_rows`` for each table's batches, after its
    DDL; ``write_postamble`` last. Properties report what could not be carried over (omitted foreign keys,
    skipped indexes, NUL characters PostgreSQL cannot store) for the manifest.

    ``write_rows`` renders on a background thread, a batch or two behind the caller (so reading the next
    batch overlaps rendering this one); the text reaches ``out`` in call order by the next write of any
    kind, ``flush()`` or ``write_postamble()``, and a rendering error is raised by that call.

    ``compiled_rows`` chooses the compiled row writer (the fast path) for the columns it covers; False renders
    every column by the Arrow path, its reference.
    """

    def __init__(self, out: BinaryIO, dialect: str | SqlDialect = "mysql", *, include_indexes: bool = True,
                 max_statement_bytes: int = 1_000_000, compiled_rows: bool = True) -> None:
        self._out = out
        self.dialect = dialect if isinstance(dialect, SqlDialect) else dialect_for(dialect)
        self.include_indexes = include_indexes
        self.max_statement_bytes = max(1, int(max_statement_bytes))
        self.compiled_rows = compiled_rows
        self._planner = TablePlanner(self.dialect, include_indexes=include_indexes)
        self._values = ArrowLiterals(self.dialect)
        self._rendering: deque[Future[list[pa.Array]]] = deque()
        self._renderer_thread: ThreadPoolExecutor | None = None
        self.bytes_written = 0
        self.rows_written = 0
        # rows whose INSERT passes the target's default statement limit (MariaDB: 16 MB max_allowed_packet)
        self.oversized_rows = 0
        self._oversized_lock = threading.Lock()

    # ------------------------------------------------------------------ public API

    @property
    def omitted_foreign_keys(self) -> list[str]:
        """Foreign keys left out: parent table not in the package ("child.col -> parent.col")."""
        return list(self._planner.omitted_foreign_keys)

    @property
    def skipped_indexes(self) -> list[str]:
        """Indexes that cannot be carried into the target dialect ("table.index: reason")."""
        return list(self._planner.skipped_indexes)

    @property
    def column_notes(self) -> dict[str, dict[str, str]]:
        """Per table and column, how values are represented where the target has no such type."""
        return {table: dict(notes) for table, notes in self._planner.column_notes.items()}

    @property
    def renamed(self) -> list[str]:
        """Tables and columns renamed because the target folds letter case and two names collided."""
        return list(self._planner.renamed)

    @property
    def nulled_floats(self) -> int:
        """NaN and infinite numbers written as NULL (MySQL's DOUBLE, FLOAT and DECIMAL hold neither)."""
        return self._values.nulled_floats

    @property
    def removed_nul_characters(self) -> int:
        """NUL characters dropped from text values (PostgreSQL text cannot hold them)."""
        return self._values.removed_nul

    def set_written_tables(self, names: set[str]) -> None:
        """The tables in this package; foreign keys to any other table are left out and reported."""
        self._planner.set_written_tables(names)

    def write_preamble(self, comment_lines: list[str]) -> None:
        """Comment header, then the dialect's session settings: UTF-8, UTC, checks off while loading, and one
        transaction."""
        lines = ["-- " + _as_comment(str(line)) for line in comment_lines]
        self._write("\n".join(lines + self.dialect.load_header()) + "\n\n")

    def write_create_table(self, table: sa.Table) -> None:
        """DROP + CREATE of `table` adapted to the target dialect, its indexes and (where the dialect puts them
        there) its foreign keys."""
        statements = self._planner.plan(table).ddl
        title = _as_comment(f"Table {self.dialect.quote_identifier(str(table.name))}")
        self._write(f"--\n-- {title}\n--\n" + "".join(s.rstrip() + ";\n" for s in statements) + "\n")

    def write_rows(self, table: sa.Table, batch: pa.RecordBatch | pa.Table) -> int:
        """Multi-row INSERTs for `batch` (columns named as in `table`); returns the rows written."""
        if isinstance(batch, pa.Table):
            return sum(self.write_rows(table, b) for b in batch.to_batches())
        if batch.num_rows == 0:
            return 0
        plan = self._planner.plan(table)
        names = [n for n in batch.schema.names if n not in plan.left_out and not _column(plan, n).generated]
        if not names:
            return 0
        if self._renderer_thread is None:
            self._renderer_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hfit-sql-batch")
        self._rendering.append(self._renderer_thread.submit(self._render_batch, plan, batch, names))
        self._drain(_PIPELINE_DEPTH)
        return batch.num_rows

    def flush(self) -> None:
        """Write every batch handed to ``write_rows`` so far (raising the first rendering error)."""
        self._drain(0)

    def discard(self) -> None:
        """Drop batches not written yet and stop the rendering thread (a failed build writes nothing more)."""
        for pending in self._rendering:
            pending.cancel()
        self._rendering.clear()
        if self._renderer_thread is not None:
            self._renderer_thread.shutdown(wait=True, cancel_futures=True)
            self._renderer_thread = None

    def write_postamble(self) -> None:
        """What follows the data (foreign keys and sequences where the dialect defers them), the commit, and
        checks back on."""
        self._write("\n".join(self.dialect.load_footer(self._planner.after_data)) + "\n-- end of hfit package\n")
        if self._renderer_thread is not None:
            self._renderer_thread.shutdown(wait=True)
            self._renderer_thread = None

    def row_source(self, table: sa.Table, batch: pa.RecordBatch) -> RowSource:
        """The batch's columns as the row writer reads them: a column of kind ``compiled_rows.LITERAL`` was
        rendered by the Arrow path, any other is read straight from the batch."""
        plan = self._planner.plan(table)
        return self._row_source(plan, batch, [n for n in batch.schema.names
                                              if n not in plan.left_out and not _column(plan, n).generated])

    # ------------------------------------------------------------------ output

    def _write(self, text: str) -> None:
        self._drain(0)  # rows handed over before come first
        data = text.encode("utf-8")
        self._out.write(data)
        self.bytes_written += len(data)

    def _drain(self, keep: int) -> None:
        while len(self._rendering) > keep:
            future = self._rendering.popleft()
            try:
                texts = future.result()
            except BaseException:
                for pending in self._rendering:  # nothing after a failed batch is written
                    pending.cancel()
                self._rendering.clear()
                raise
            for text in texts:
                buffers = text.buffers()
                offsets = np.frombuffer(buffers[1], dtype=np.int32)[text.offset: text.offset + len(text) + 1]
                chunk = memoryview(buffers[2])[int(offsets[0]): int(offsets[-1])]  # type: ignore[arg-type]
                self._out.write(chunk)
                self.bytes_written += len(chunk)
                self.rows_written += len(text)

    # ------------------------------------------------------------------ rows

    def _render_batch(self, plan: TablePlan, batch: pa.RecordBatch, names: list[str]) -> list[pa.Array]:
        """The batch's INSERT text: one Arrow string per row (a batch whose text could pass 2 GiB in halves)."""
        try:
            if batch.nbytes > _MAX_BATCH_BYTES and batch.num_rows > 1:
                raise pa.ArrowCapacityError("batch too large")
            source = self._row_source(plan, batch, names)
            if source.bound() >= _MAX_TEXT:
                raise pa.ArrowCapacityError("SQL text of a batch over 2 GiB")
            text = insert_statements(self._insert_head(plan, names), source, self.max_statement_bytes)
            return [self._fit_statement_limit(plan, batch, names, text)]
        except _TOO_LARGE:
            if batch.num_rows < 2:
                raise BuildError(f"table {plan.name}: a row is too large to write as SQL") from None
            half = batch.num_rows // 2
            return (self._render_batch(plan, batch.slice(0, half), names)
                    + self._render_batch(plan, batch.slice(half), names))

    def _fit_statement_limit(self, plan: TablePlan, batch: pa.RecordBatch, names: list[str],
                             text: pa.Array) -> pa.Array:
        """Rows whose INSERT passes the dialect's default statement limit (such a row is alone in its statement:
        every other statement stays under ``max_statement_bytes``) written by :meth:`_split_row` where it can;
        the others are counted in ``oversized_rows`` and preceded by a comment saying the packet they need."""
        limit = self.dialect.default_statement_limit
        if limit is None or len(text) == 0:
            return text
        lengths = pc.binary_length(text)
        if int(pc.max(lengths).as_py() or 0) <= limit - _PACKET_MARGIN:
            return text
        over = np.flatnonzero(np.asarray(pc.greater(lengths, limit - _PACKET_MARGIN)))
        pieces: list[pa.Array] = []
        done = 0
        for row in over.tolist():
            split = self._split_row(plan, batch.slice(row, 1), names, limit)
            if split is None:
                with self._oversized_lock:
                    self.oversized_rows += 1
                needed = (int(lengths[row].as_py()) + _PACKET_MARGIN + (1 << 20) - 1) >> 20
                split = (f"-- the next statement needs max_allowed_packet of at least {needed} MB (server and "
                         f"client, e.g. mysql --max-allowed-packet={needed}M)\n" + text[row].as_py())
            pieces += [text.slice(done, row - done), pa.array([split], text.type)]
            done = row + 1
        return pa.concat_arrays([*pieces, text.slice(done)])

    def _split_row(self, plan: TablePlan, row: pa.RecordBatch, names: list[str], limit: int) -> str | None:
        """One row as an INSERT with its large text and binary values empty, then statements appending each value
        piece by piece (``append_piece_bytes``), every statement far below ``limit``; the pieces find their row
        by its primary key. None when the dialect cannot, the row has no key, a value is not text or bytes
        (JSON), or one value alone passes ``limit`` (the server refuses to build it)."""
        piece = self.dialect.append_piece_bytes
        if piece is None or not plan.key or any(k not in names for k in plan.key):
            return None
        columns = {n: _decoded(row.column(n)) for n in names}
        large = {}
        for name, arr in columns.items():
            value = arr[0].as_py()
            size = len(value.encode("utf-8")) if isinstance(value, str) else len(value) if isinstance(
                value, bytes) else 0
            if size <= piece:
                continue
            if plan.columns[name].target_kind not in (ct.STRING, ct.BINARY) or size > limit - _PACKET_MARGIN:
                return None
            large[name] = value
        if not large:
            return None
        first = pa.RecordBatch.from_arrays(
            [pa.array([value[:0]], columns[n].type) if (value := large.get(n)) is not None else columns[n]
             for n in names], names=names)
        insert = insert_statements(self._insert_head(plan, names), self._row_source(plan, first, names),
                                   self.max_statement_bytes)[0].as_py()
        if len(insert.encode("utf-8")) > limit - _PACKET_MARGIN:
            return None
        quote = self.dialect.quote_identifier
        where = " AND ".join(f"{quote(plan.columns[k].target_name)} = "
                             f"{self._literals(plan, k, columns[k])[0].as_py()}" for k in plan.key)
        statements = [insert]
        for name, value in large.items():
            column = quote(plan.columns[name].target_name)
            for part in _pieces(value, piece):
                literal = self._literals(plan, name, pa.array([part], columns[name].type))[0].as_py()
                statements.append(self.dialect.append_statement(plan.quoted, column, literal, where) + "\n")
        return "".join(statements)

    def _insert_head(self, plan: TablePlan, names: list[str]) -> str:
        header = plan.headers.get(tuple(names))
        if header is None:
            quote = self.dialect.quote_identifier
            columns = ",".join(quote(plan.columns[n].target_name) for n in names)
            header = f"INSERT INTO {plan.quoted} ({columns}) VALUES\n"
            plan.headers[tuple(names)] = header
        return header

    def _row_source(self, plan: TablePlan, batch: pa.RecordBatch, names: list[str]) -> RowSource:
        """The batch as the compiled row writer reads it: covered columns straight from the batch, the others as
        literals of the Arrow path (rendered on the thread pool when there are several and enough cells)."""
        columns = [self._compiled_column(batch.column(name), plan.columns[name]) for name in names]
        arrow_path = [i for i, compiled in enumerate(columns) if compiled is None]

        def render(index: int) -> pa.Array | BaseException:
            arr = batch.column(names[index])
            try:
                return self._literals(plan, names[index], arr)
            except _TOO_LARGE as exc:
                return exc
            except (pa.ArrowException, ValueError, TypeError) as exc:  # the message may quote a value
                return BuildError(f"table {plan.name}, column {names[index]}: cannot write {arr.type} values "
                                  f"as SQL ({type(exc).__name__})")

        if len(arrow_path) > 1 and _RENDER_THREADS > 1 and batch.num_rows * len(arrow_path) >= _PARALLEL_MIN_CELLS:
            results = dict(zip(arrow_path, _render_pool().map(render, arrow_path), strict=True))
        else:
            results = {i: render(i) for i in arrow_path}
        source = RowSource.empty(batch.num_rows)
        for index, compiled in enumerate(columns):
            if compiled is not None and compiled(source):
                continue
            result = results[index] if index in results else render(index)  # the loop declined its values
            if isinstance(result, BaseException):  # the first failing column, in column order
                raise result
            source.add_literals(result)
        return source

    def _literals(self, plan: TablePlan, name: str, arr: pa.Array) -> pa.Array:
        """One column as SQL literals by the Arrow path, ``NULL`` included."""
        column = plan.columns[name]
        if column.labels:
            arr = _relabel_values(arr, column.labels, set_members=column.target_kind == ct.SET
                                  or (column.source is not None and column.source.kind == ct.SET))
        if column.target_kind == ct.DECIMAL and not self.dialect.non_finite_decimals and (
                pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
            arr = self._finite_decimals(plan, column, arr)
        key = (name, str(arr.type))
        renderer = plan.renderers.get(key)
        if renderer is None:
            renderer = plan.renderers[key] = self._values.renderer(arr.type, column.target_kind, column.target,
                                                                   column.source, column.family)
        return self._values.literals(renderer, arr)

    def _finite_decimals(self, plan: TablePlan, column: ColumnPlan, arr: pa.Array) -> pa.Array:
        """Decimal text (a PostgreSQL numeric) with NaN and infinities written as NULL, for a target whose DECIMAL
        holds neither (counted in ``nulled_floats``); a NOT NULL column refuses them, naming the value's class."""
        special = pc.fill_null(pc.match_substring_regex(arr, _NON_FINITE, ignore_case=True), False)
        count = int(pc.sum(special).as_py() or 0)
        if not count:
            return arr
        if not column.nullable:
            raise BuildError(
                f"table {plan.name}, column {column.name}: {count} value(s) are NaN or Infinity, which a "
                f"{self.dialect.name} DECIMAL cannot hold, and the column is NOT NULL",
                hint="convert them in the template query (e.g. CASE WHEN col = 'NaN' THEN 0 ELSE col END), "
                     "or build for postgresql")
        self._values.count_nulled(count)
        return pc.if_else(special, pa.scalar(None, arr.type), arr)

    def _compiled_column(self, arr: pa.Array, column: ColumnPlan) -> Callable[[RowSource], bool] | None:
        """How the compiled row writer takes this column (False from it: these values take the Arrow path),
        or None when its type always takes the Arrow path."""
        if not self.compiled_rows or column.labels:
            return None
        t = arr.type
        if dialect_quotes_numbers(self.dialect, column.target_kind, t):
            return None  # numbers kept as text: the Arrow path quotes them
        if pa.types.is_dictionary(t) and (pa.types.is_string(t.value_type) or pa.types.is_large_string(t.value_type)):
            arr, t = arr.dictionary_decode(), t.value_type
        dialect = self.dialect
        if pa.types.is_integer(t):
            if dialect.booleans_as_keywords(column.target_kind):
                return None
            return lambda source: source.add_integers(arr)
        if pa.types.is_decimal128(t):
            return lambda source: source.add_decimals(arr)
        if pa.types.is_date32(t):
            return lambda source: source.add_dates(arr)
        if pa.types.is_timestamp(t):
            zone = bool(dialect.timestamp_suffix(column.target))
            return lambda source: source.add_timestamps(pc.cast(arr, pa.timestamp("us"), safe=False),
                                                        column.target_kind == ct.DATE, zone)
        if (pa.types.is_string(t) or pa.types.is_large_string(t)) and column.target_kind == ct.DECIMAL:
            return lambda source: source.add_plain_decimals(arr)
        escaping = dialect.compiled_text_escaping
        if (pa.types.is_string(t) or pa.types.is_large_string(t)) and escaping is not None and not (
                column.target_kind == ct.BINARY and not dialect.accepts_text_for_bytes) \
                and column.target_kind not in _TEXT_REWRITTEN:
            return lambda source: source.add_text(arr, escaping)
        return None


def insert_statements(head: str, source: RowSource, max_statement_bytes: int) -> pa.Array:
    """The rows of `source` as INSERT statement text: one Arrow string per row, statement head and tail included.

    Rows go into statements of at most ``max_statement_bytes`` (a single larger row gets its own); a statement's
    last row ends in ";" instead of ","; its head goes in front of its first row.
    """
    n = source.rows
    head_bytes = np.frombuffer(head.encode("utf-8"), dtype=np.uint8)
    text, starts = source.rows_text()
    ends = starts[1:]
    budget = max_statement_bytes - len(head_bytes)
    first = np.zeros(n, dtype=bool)
    begin = consumed = 0
    pieces = []
    while begin < n:
        stop = max(int(np.searchsorted(ends, consumed + budget, side="right")), begin + 1)
        first[begin] = True
        text[ends[stop - 1] - 2] = 59  # ;
        pieces += [head_bytes, text[starts[begin] : ends[stop - 1]]]
        consumed = int(ends[stop - 1])
        begin = stop
    joined = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.uint8)
    if len(joined) >= _MAX_TEXT:
        raise pa.ArrowCapacityError("SQL text of a batch over 2 GiB")
    heads_before = np.cumsum(first) - first  # statement heads in front of row i, not counting its own
    row_offsets = np.empty(n + 1, dtype=np.int32)
    row_offsets[:-1] = starts[:-1] + heads_before * len(head_bytes)
    row_offsets[-1] = len(joined)
    return pa.StringArray.from_buffers(n, pa.py_buffer(row_offsets), pa.py_buffer(joined))


def _decoded(arr: pa.Array) -> pa.Array:
    return arr.dictionary_decode() if pa.types.is_dictionary(arr.type) else arr


def _pieces(value: str | bytes, size: int) -> list[str | bytes]:
    """``value`` in pieces of at most ``size`` bytes (text cut between characters)."""
    if isinstance(value, bytes):
        return [value[i: i + size] for i in range(0, len(value), size)]
    data = value.encode("utf-8")
    parts: list[str | bytes] = []
    start = 0
    while start < len(data):
        end = min(start + size, len(data))
        while end < len(data) and data[end] & 0xC0 == 0x80:  # inside a character: cut before it
            end -= 1
        parts.append(data[start:end].decode("utf-8"))
        start = end
    return parts


def _relabel_values(arr: pa.Array, labels: dict[str, str], *, set_members: bool) -> pa.Array:
    """ENUM/SET values with the labels schema_text replaced (a SET value's members one by one)."""
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        return arr
    values = arr.to_pylist()
    if set_members:
        mapped = [None if v is None else ",".join(labels.get(m, m) for m in v.split(",")) if v else v for v in values]
    else:
        mapped = [None if v is None else labels.get(v, v) for v in values]
    return pa.array(mapped, arr.type)


def _column(plan: TablePlan, name: str) -> ColumnPlan:
    column = plan.columns.get(name)
    if column is None:
        raise BuildError(f"table {plan.name}: the rows have a column {name!r} that the table lacks")
    return column


def _as_comment(text: str) -> str:
    """Text safe inside a ``--`` comment: no line break can end the comment early."""
    return re.sub(r"[\x00-\x1f\x7f\u2028\u2029\x85]", " ", text)
