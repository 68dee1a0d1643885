"""The package's SQL script: DDL and batched INSERTs for a target dialect, written while streaming.

``SqlScriptWriter`` takes tables as reflected from the source (SQLite, MySQL/MariaDB or PostgreSQL) and
Arrow record batches of already-masked rows, and writes UTF-8 SQL that loads with the target's own client
(``mysql db < package.sql``, ``psql -f``, ``sqlite3 db < package.sql``).

Design choices:

- DDL is compiled by SQLAlchemy from an adapted copy of each table (types from ``sql_types``), with every
  identifier force-quoted by the target dialect's identifier preparer.
- Rows are written by one compiled loop (``sql_literals``) straight from the batch for integers, decimals,
  dates, timestamps and MySQL/PostgreSQL text; other columns are rendered per column with Arrow compute
  (casts, substring replacement, element-wise joins) and copied in. A row is one line, a statement is a run
  of rows no larger than ``max_statement_bytes``. Python touches values one by one only for rare types
  (binary as hex, JSON-like nested values, durations).
- Foreign keys come after the indexes they need (MySQL) or after the data (PostgreSQL, so cycles and
  self-references load); keys to tables outside the package are left out and reported.
- Nothing here logs, and no error message carries a value.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import uuid
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any, BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.engine.interfaces import Dialect
from sqlalchemy.schema import AddConstraint, CreateIndex, CreateTable
from sqlalchemy.sql import quoted_name
from sqlalchemy.types import TypeEngine

from hfit_dagster.errors import BuildError
from hfit_dagster.package import sql_literals
from hfit_dagster.package import sql_types as st

SUPPORTED_DIALECTS = ("mysql", "postgresql", "sqlite")

_DIALECTS: dict[str, Callable[[], Dialect]] = {
    "mysql": mysql.dialect,
    "postgresql": postgresql.dialect,
    "sqlite": sqlite.dialect,
}
_MAX_NAME = {"mysql": 64, "postgresql": 63, "sqlite": 128}
_FK_ACTIONS = {"CASCADE", "SET NULL", "SET DEFAULT", "RESTRICT", "NO ACTION"}
_NOT_NULL_PREDICATE = re.compile(r'^\(?\s*[`"\[]?(\w+)[`"\]]?\s+IS\s+NOT\s+NULL\s*\)?$', re.IGNORECASE)

Renderer = Callable[[pa.Array], pa.Array]
_TOO_LARGE = (pa.ArrowCapacityError, OverflowError)
_MAX_BATCH_BYTES = 256 << 20  # larger batches are written in halves: SQL text stays far below 2 GiB


# Rows are written by one compiled loop (``sql_literals``) that reads integers, decimals, dates, timestamps
# and MySQL/PostgreSQL text straight from the batch and copies every other column's literals from the Arrow
# path below; False sends every column through the Arrow path (tests compare both, byte for byte).
FAST_LITERALS = True
_FAST_TEXT = {"mysql": sql_literals.MYSQL, "postgresql": sql_literals.POSTGRESQL}

# Literals are built as Arrow `string` (32-bit offsets: about twice as fast to join as `large_string`);
# a batch whose SQL would pass 2 GiB is split in halves (see SqlScriptWriter.write_rows).
_TEXT = pa.string()

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


def _s(text: str) -> pa.Scalar:
    return pa.scalar(text, _TEXT)


_NULL = _s("NULL")
_EMPTY = _s("")
_QUOTE = _s("'")
_NO_TEXT = pa.scalar(None, _TEXT)


# ------------------------------------------------------------------------------------- dependency order


def _table_key(table: sa.Table) -> str:
    return str(table.fullname)


def referred_table(fk: sa.ForeignKey) -> tuple[str, str]:
    """(fullname, name) of the table a foreign key points at, resolved or parsed from its target."""
    try:
        parent = fk.column.table
        return str(parent.fullname), str(parent.name)
    except (sa.exc.NoReferencedTableError, sa.exc.NoReferencedColumnError, AttributeError):
        fullname = fk.target_fullname.rsplit(".", 1)[0]
        return fullname, fullname.rsplit(".", 1)[-1]


def _referred_column(fk: sa.ForeignKey) -> str:
    try:
        return str(fk.column.name)
    except (sa.exc.NoReferencedTableError, sa.exc.NoReferencedColumnError, AttributeError):
        return fk.target_fullname.rsplit(".", 1)[-1]


def tables_in_dependency_order(tables: list[sa.Table]) -> list[sa.Table]:
    """Parents before children (foreign-key order); among tables free to go, the smallest name first.

    A cycle is broken at its smallest-named table, so the order is the same on every run.
    """
    by_key = {_table_key(t): t for t in tables}
    by_name = {str(t.name): _table_key(t) for t in tables}
    parents: dict[str, set[str]] = {}
    for key, table in by_key.items():
        refs: set[str] = set()
        for fk in table.foreign_keys:
            fullname, name = referred_table(fk)
            parent = fullname if fullname in by_key else by_name.get(name)
            if parent is not None and parent != key:
                refs.add(parent)
        parents[key] = refs

    def sort_key(key: str) -> tuple[str, str]:
        return str(by_key[key].name), key

    def in_cycle(start: str, remaining: set[str]) -> bool:
        seen: set[str] = set()
        stack = [p for p in parents[start] if p in remaining]
        while stack:
            node = stack.pop()
            if node == start:
                return True
            if node not in seen:
                seen.add(node)
                stack.extend(p for p in parents[node] if p in remaining)
        return False

    ordered: list[sa.Table] = []
    remaining = set(by_key)
    while remaining:
        ready = [k for k in remaining if not (parents[k] & remaining)]
        if not ready:
            ready = [k for k in remaining if in_cycle(k, remaining)]
        pick = min(ready, key=sort_key)
        ordered.append(by_key[pick])
        remaining.discard(pick)
    return ordered


# ------------------------------------------------------------------------------------- value rendering


_MYSQL_ESCAPES = (("\\", "\\\\"), ("\x00", "\\0"), ("'", "\\'"), ("\n", "\\n"), ("\r", "\\r"),
                  ("\x1a", "\\Z"))
_POSTGRESQL_ESCAPES = (("\x00", ""), ("\\", "\\\\"), ("'", "\\'"), ("\n", "\\n"), ("\r", "\\r"))


def _has_any(arr: pa.Array, needles: tuple[str, ...]) -> bool:
    """Whether any value of a string array contains one of the (single-byte) needles: a scan of its bytes."""
    buffers = arr.buffers()
    if buffers[2] is None or len(arr) == 0:
        return False
    offsets = np.frombuffer(buffers[1], dtype=np.int32 if arr.type == _TEXT else np.int64)
    first, last = int(offsets[arr.offset]), int(offsets[arr.offset + len(arr)])
    data = bytes(memoryview(buffers[2])[first:last])  # type: ignore[arg-type]
    return any(needle.encode() in data for needle in needles)


def _replace_all(arr: pa.Array, pairs: tuple[tuple[str, str], ...]) -> pa.Array:
    """Replace in order (backslash first); one byte scan skips columns with nothing to escape (the usual case)."""
    if (arr.type == _TEXT or arr.type == pa.large_string()) and all(len(n.encode()) == 1 for n, _ in pairs) and \
            not _has_any(arr, tuple(n for n, _ in pairs)):
        return arr
    pattern = "[" + "".join(re.escape(needle) for needle, _ in pairs) + "]"
    mask = pc.fill_null(pc.match_substring_regex(arr, pattern), False)
    dirty_count = pc.sum(mask).as_py() or 0
    if not dirty_count:
        return arr
    sparse = dirty_count * 4 < len(arr)
    dirty = pc.filter(arr, mask) if sparse else arr  # usually few values need escaping: work on those only
    for needle, replacement in pairs:
        if pc.any(pc.match_substring(dirty, needle)).as_py():
            dirty = pc.replace_substring(dirty, needle, replacement)
    return pc.replace_with_mask(arr, mask, dirty) if sparse else dirty


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, set | frozenset):
        return sorted(value)
    return str(value)


def _to_json_value(value: Any, arrow_type: pa.DataType) -> Any:
    """Arrow's Python form of a map is a list of pairs; JSON wants an object."""
    if value is None:
        return None
    if pa.types.is_map(arrow_type):
        return {str(k): _to_json_value(v, arrow_type.item_type) for k, v in value}
    if pa.types.is_struct(arrow_type):
        return {f.name: _to_json_value(value[f.name], f.type) for f in arrow_type}
    if pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type) or pa.types.is_fixed_size_list(
        arrow_type
    ):
        return [_to_json_value(v, arrow_type.value_type) for v in value]
    return value


def _pg_array_text(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, list | tuple):
        return "{" + ",".join(_pg_array_text(v) for v in value) + "}"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, int | float | Decimal):
        return str(value)
    text = value.isoformat() if isinstance(value, datetime | date | time) else str(value)
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _format_duration(micros: int | None) -> str | None:
    if micros is None:
        return None
    sign = "-" if micros < 0 else ""
    hours, rest = divmod(abs(micros), 3_600_000_000)
    minutes, rest = divmod(rest, 60_000_000)
    seconds, fraction = divmod(rest, 1_000_000)
    return f"{sign}{hours:02d}:{minutes:02d}:{seconds:02d}.{fraction:06d}"


def _plain_decimal(value: Decimal | None) -> str | None:
    if value is None:
        return None
    return format(value, "f") if value.is_finite() else None


class _ValueRenderer:
    """Turns one Arrow column into SQL literals of one dialect (an Arrow string array, NULL as ``NULL``)."""

    def __init__(self, dialect: str) -> None:
        self.dialect = dialect
        self.removed_nul = 0  # PostgreSQL text cannot hold U+0000
        self._count_lock = threading.Lock()  # columns render on several threads

    # Text the compiled row writer leaves here (SQLite, PostgreSQL text with NUL, UUIDs, JSON): one vectorised
    # replace per special character actually present.
    def quote(self, arr: pa.Array) -> pa.Array:
        arr = arr if arr.type == _TEXT else pc.cast(arr, _TEXT)
        if self.dialect == "mysql":
            return pc.binary_join_element_wise(_QUOTE, _replace_all(arr, _MYSQL_ESCAPES), _QUOTE, _EMPTY)
        if self.dialect == "postgresql":
            if pc.any(pc.match_substring(arr, "\x00")).as_py():
                removed = int(pc.sum(pc.count_substring(arr, "\x00")).as_py() or 0)
                with self._count_lock:
                    self.removed_nul += removed
            arr = _replace_all(arr, _POSTGRESQL_ESCAPES)
            return pc.binary_join_element_wise(_s("E'"), arr, _QUOTE, _EMPTY)
        quoted = pc.binary_join_element_wise(_QUOTE, _replace_all(arr, (("'", "''"),)), _QUOTE, _EMPTY)
        awkward = pc.fill_null(pc.match_substring_regex(arr, "[\\x00\\n\\r]"), False)
        if not pc.any(awkward).as_py():
            return quoted
        # SQLite strings have no escapes: text with NUL or line breaks goes as UTF-8 bytes cast to TEXT,
        # so every row stays on one line and no newline translation can alter a value.
        as_bytes = pa.array(
            [None if v is None else "CAST(X'" + v.encode("utf-8").hex() + "' AS TEXT)"
             for v in pc.filter(arr, awkward).to_pylist()], _TEXT)
        return pc.replace_with_mask(quoted, awkward, as_bytes)

    def quote_plain(self, arr: pa.Array, suffix: str = "") -> pa.Array:
        """Quote text known to hold no special character (dates, times, numbers as text)."""
        arr = arr if arr.type == _TEXT else pc.cast(arr, _TEXT)
        return pc.binary_join_element_wise(_QUOTE, arr, _s(suffix + "'"), _EMPTY)

    def quote_python(self, values: list[str | None]) -> pa.Array:
        return self.quote(pa.array(values, _TEXT))

    def hex_literals(self, values: list[Any]) -> pa.Array:
        if self.dialect == "postgresql":
            out = [None if v is None else "'\\x" + bytes(v).hex() + "'" for v in values]
        elif self.dialect == "mysql":
            out = [None if v is None else ("X'" + bytes(v).hex() + "'" if len(v) else "''") for v in values]
        else:
            out = [None if v is None else "X'" + bytes(v).hex() + "'" for v in values]
        return pa.array(out, _TEXT)

    def renderer(self, arrow_type: pa.DataType, target_kind: str, target: TypeEngine) -> Renderer:
        """The function that renders a column of `arrow_type` into a column of `target`."""
        t = arrow_type
        d = self.dialect
        if pa.types.is_dictionary(t):
            inner = self.renderer(t.value_type, target_kind, target)
            return lambda arr: inner(arr.dictionary_decode())
        if isinstance(t, pa.ExtensionType):
            if t.extension_name == "arrow.uuid":
                return lambda arr: self.quote_python(
                    [None if v is None else str(uuid.UUID(bytes=bytes(v))) for v in arr.storage.to_pylist()]
                )
            inner = self.renderer(t.storage_type, target_kind, target)
            return lambda arr: inner(arr.storage)
        if pa.types.is_null(t):
            return lambda arr: pa.nulls(len(arr), _TEXT)
        if pa.types.is_boolean(t):
            true, false = ("TRUE", "FALSE") if d == "postgresql" and target_kind == st.BOOL else ("1", "0")
            return lambda arr: pc.if_else(arr, _s(true), _s(false))
        if pa.types.is_integer(t):
            if d == "postgresql" and target_kind == st.BOOL:
                return lambda arr: pc.if_else(pc.not_equal(arr, 0), _s("TRUE"), _s("FALSE"))
            return lambda arr: pc.cast(arr, _TEXT)
        if pa.types.is_floating(t):
            return self._floats
        if pa.types.is_decimal(t):
            if t.scale < 0:
                return lambda arr: pa.array([_plain_decimal(v) for v in arr.to_pylist()], _TEXT)
            return lambda arr: pc.cast(arr, _TEXT)
        if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
            if target_kind == st.BINARY and d != "mysql":
                return lambda arr: self.hex_literals(
                    [None if v is None else v.encode("utf-8") for v in arr.to_pylist()]
                )
            return self.quote
        if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t) or (
            pa.types.is_binary_view(t)
        ):
            return self._binary_renderer(target_kind, target)
        if pa.types.is_date(t):
            return lambda arr: self.quote_plain(pc.cast(arr, _TEXT))
        if pa.types.is_timestamp(t):
            return self._timestamp_renderer(t, target_kind, target)
        if pa.types.is_time(t):
            return lambda arr: self.quote_plain(
                pc.cast(pc.cast(arr, pa.time64("us"), safe=False), _TEXT)
            )
        if pa.types.is_duration(t):
            return lambda arr: self.quote_plain(pa.array(
                [_format_duration(v) for v in pc.cast(pc.cast(arr, pa.duration("us"), safe=False),
                                                      pa.int64()).to_pylist()],
                _TEXT,
            ))
        if pa.types.is_nested(t):
            return self._nested_renderer(t, target_kind)
        return lambda arr: self.quote_python([None if v is None else str(v) for v in arr.to_pylist()])

    def _floats(self, arr: pa.Array) -> pa.Array:
        if arr.type == pa.float16():
            arr = pc.cast(arr, pa.float32())
        text = pc.cast(arr, _TEXT)
        if self.dialect == "postgresql":  # the bare literal -0 is integer zero there
            text = pc.if_else(pc.equal(text, "-0"), _s("'-0'"), text)
        finite = pc.is_finite(arr)
        if pc.all(finite).as_py() is not False:
            return text
        if self.dialect == "mysql":
            return pc.if_else(finite, text, _NO_TEXT)
        if self.dialect == "postgresql":
            nan, pos, neg = _s("'NaN'"), _s("'Infinity'"), _s("'-Infinity'")
        else:  # SQLite has no NaN (it becomes NULL); 9e999 overflows to +Inf
            nan, pos, neg = _NO_TEXT, _s("9e999"), _s("-9e999")
        special = pc.if_else(pc.is_nan(arr), nan, pc.if_else(pc.greater(arr, 0), pos, neg))
        return pc.if_else(finite, text, special)

    def _binary_renderer(self, target_kind: str, target: TypeEngine) -> Renderer:
        if target_kind == st.UUID:
            def uuids(arr: pa.Array) -> pa.Array:
                return self.quote_python([
                    None if v is None else (str(uuid.UUID(bytes=v)) if len(v) == 16 else v.decode("utf-8"))
                    for v in arr.to_pylist()
                ])
            return uuids
        if target_kind in (st.INT, st.BOOL) or (target_kind == st.BIT and self.dialect != "mysql"):
            def integers(arr: pa.Array) -> pa.Array:
                return pa.array(
                    [None if v is None else str(int.from_bytes(v, "big")) for v in arr.to_pylist()],
                    _TEXT,
                )
            return integers
        if target_kind in st.TEXTUAL_KINDS and self.dialect != "mysql":
            def text(arr: pa.Array) -> pa.Array:
                try:
                    return self.quote(pc.cast(arr, _TEXT))
                except pa.ArrowInvalid:  # not UTF-8: keep the bytes
                    return self.hex_literals(arr.to_pylist())
            return text
        return lambda arr: self.hex_literals(arr.to_pylist())

    def _timestamp_renderer(self, t: pa.TimestampType, target_kind: str, target: TypeEngine) -> Renderer:
        suffix = "+00" if self.dialect == "postgresql" and getattr(target, "timezone", False) else ""

        def render(arr: pa.Array) -> pa.Array:
            # A zone-aware timestamp is stored as UTC; dropping the zone keeps the UTC wall-clock time.
            naive = pc.cast(arr, pa.timestamp("us"), safe=False)
            if target_kind == st.DATE:
                return self.quote_plain(pc.cast(pc.cast(naive, pa.date32()), _TEXT))
            return self.quote_plain(pc.cast(naive, _TEXT), suffix)

        return render

    def _nested_renderer(self, t: pa.DataType, target_kind: str) -> Renderer:
        if target_kind == st.SET:
            def set_members(arr: pa.Array) -> pa.Array:
                return self.quote_python(
                    [None if v is None else ",".join(str(x) for x in v) for v in arr.to_pylist()]
                )
            return set_members
        if target_kind == st.ARRAY and self.dialect == "postgresql":
            return lambda arr: self.quote_python([None if v is None else _pg_array_text(v)
                                                  for v in arr.to_pylist()])

        def as_json(arr: pa.Array) -> pa.Array:
            return self.quote_python([
                None if v is None else json.dumps(_to_json_value(v, t), ensure_ascii=False,
                                                  default=_json_default)
                for v in arr.to_pylist()
            ])
        return as_json


# ------------------------------------------------------------------------------------- table plans


@dataclass
class _ColumnPlan:
    name: str
    target: TypeEngine
    target_kind: str
    generated: bool


@dataclass
class _TablePlan:
    name: str
    quoted: str
    columns: dict[str, _ColumnPlan]
    ddl: list[str]
    renderers: dict[tuple[str, str], Renderer] = field(default_factory=dict)
    headers: dict[tuple[str, ...], str] = field(default_factory=dict)


class SqlScriptWriter:
    """Writes one SQL script (DDL + data) for a target dialect to a binary stream, as UTF-8.

    Call order: ``set_written_tables`` and ``write_preamble``; ``write_create_table`` for every table
    (parents first, see ``tables_in_dependency_order``); ``write_rows`` for each table's batches, after its
    DDL; ``write_postamble`` last. Properties report what could not be carried over (omitted foreign keys,
    skipped indexes, NUL characters PostgreSQL cannot store) for the manifest.

    ``write_rows`` renders on a background thread, a batch or two behind the caller (so reading the next
    batch overlaps rendering this one); the text reaches ``out`` in call order by the next write of any
    kind, ``flush()`` or ``write_postamble()``, and a rendering error is raised by that call.
    """

    def __init__(self, out: BinaryIO, dialect: str = "mysql", *, include_indexes: bool = True,
                 max_statement_bytes: int = 1_000_000) -> None:
        if dialect not in SUPPORTED_DIALECTS:
            raise BuildError(f"unsupported SQL dialect {dialect!r}",
                             hint=f"choose one of {', '.join(SUPPORTED_DIALECTS)}")
        self._out = out
        self.dialect = dialect
        self.include_indexes = include_indexes
        self.max_statement_bytes = max(1, int(max_statement_bytes))
        self._sa_dialect = _DIALECTS[dialect]()
        self._preparer = self._sa_dialect.identifier_preparer
        self._values = _ValueRenderer(dialect)
        self._written: set[str] | None = None
        self._omitted: list[str] = []
        self._skipped_indexes: list[str] = []
        self._plans: dict[str, _TablePlan] = {}
        self._schema_names: set[str] = set()  # names that share one namespace per database/schema
        self._enum_types: set[str] = set()
        self._deferred: list[str] = []  # PostgreSQL: foreign keys and sequence resets, after the data
        self._rendering: deque[Future[list[pa.Array]]] = deque()
        self._renderer_thread: ThreadPoolExecutor | None = None
        self.bytes_written = 0
        self.rows_written = 0

    # ------------------------------------------------------------------ public API

    @property
    def omitted_foreign_keys(self) -> list[str]:
        """Foreign keys left out: parent table not in the package ("child.col -> parent.col")."""
        return list(self._omitted)

    @property
    def skipped_indexes(self) -> list[str]:
        """Indexes that cannot be carried into the target dialect ("table.index: reason")."""
        return list(self._skipped_indexes)

    @property
    def removed_nul_characters(self) -> int:
        """NUL characters dropped from text values (PostgreSQL text cannot hold them)."""
        return self._values.removed_nul

    def set_written_tables(self, names: set[str]) -> None:
        """The tables in this package; foreign keys to any other table are left out and reported."""
        self._written = {str(n) for n in names}
        if self.dialect != "mysql":  # tables and indexes share one namespace there
            self._schema_names |= {n.lower() for n in self._written}

    def write_preamble(self, comment_lines: list[str]) -> None:
        """Comment header, then session settings: UTF-8 (utf8mb4), UTC, checks off while loading, and one
        transaction (MySQL: strict mode, so a value that does not fit fails the load instead of being
        silently truncated)."""
        lines = ["-- " + _as_comment(str(line)) for line in comment_lines]
        if self.dialect == "mysql":
            lines += [
                "SET NAMES utf8mb4;",
                "SET FOREIGN_KEY_CHECKS=0;",
                "SET UNIQUE_CHECKS=0;",
                "SET SQL_MODE='NO_AUTO_VALUE_ON_ZERO,STRICT_ALL_TABLES';",  # too long/invalid fails, never truncates
                "SET time_zone='+00:00';",
                "SET autocommit=0;",
            ]
        elif self.dialect == "postgresql":
            lines += [
                "SET client_encoding = 'UTF8';",
                "SET standard_conforming_strings = on;",
                "SET TIME ZONE 'UTC';",
                "SET client_min_messages = warning;",
                "BEGIN;",
            ]
        else:
            lines += ["PRAGMA foreign_keys=OFF;", "BEGIN;"]
        self._write("\n".join(lines) + "\n\n")

    def write_create_table(self, table: sa.Table) -> None:
        """DROP + CREATE of `table` adapted to the target dialect, its indexes and (MySQL) foreign keys."""
        statements = self._plan(table).ddl
        title = _as_comment(f"Table {self._q(str(table.name))}")
        self._write(f"--\n-- {title}\n--\n" + "".join(s.rstrip() + ";\n" for s in statements) + "\n")

    def write_rows(self, table: sa.Table, batch: pa.RecordBatch | pa.Table) -> int:
        """Multi-row INSERTs for `batch` (columns named as in `table`); returns the rows written."""
        if isinstance(batch, pa.Table):
            return sum(self.write_rows(table, b) for b in batch.to_batches())
        if batch.num_rows == 0:
            return 0
        plan = self._plan(table)
        names = [n for n in batch.schema.names if not self._column(plan, n).generated]
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

    def _render_batch(self, plan: _TablePlan, batch: pa.RecordBatch, names: list[str]) -> list[pa.Array]:
        """The batch's INSERT text: one Arrow string per row (a batch whose text could pass 2 GiB in halves)."""
        try:
            if batch.nbytes > _MAX_BATCH_BYTES and batch.num_rows > 1:
                raise pa.ArrowCapacityError("batch too large")
            return [self._render_statements(plan, batch, names)]
        except _TOO_LARGE:
            if batch.num_rows < 2:
                raise BuildError(f"table {plan.name}: a row is too large to write as SQL") from None
            half = batch.num_rows // 2
            return (self._render_batch(plan, batch.slice(0, half), names)
                    + self._render_batch(plan, batch.slice(half), names))

    def write_postamble(self) -> None:
        """Commit; checks back on (MySQL); foreign keys and SERIAL sequences after the data (PostgreSQL)."""
        if self.dialect == "mysql":
            tail = ["COMMIT;", "SET FOREIGN_KEY_CHECKS=1;", "SET UNIQUE_CHECKS=1;"]
        elif self.dialect == "postgresql":
            tail = [s.rstrip() + ";" for s in self._deferred] + ["COMMIT;"]
        else:
            tail = ["COMMIT;"]
        self._write("\n".join(tail) + "\n-- end of hfit package\n")
        if self._renderer_thread is not None:
            self._renderer_thread.shutdown(wait=True)
            self._renderer_thread = None

    # ------------------------------------------------------------------ output

    def _write(self, text: str) -> None:
        self._drain(0)  # rows handed over before come first
        data = text.encode("utf-8")
        self._out.write(data)
        self.bytes_written += len(data)

    @staticmethod
    def _column(plan: _TablePlan, name: str) -> _ColumnPlan:
        column = plan.columns.get(name)
        if column is None:
            raise BuildError(f"table {plan.name}: the rows have a column {name!r} that the table lacks")
        return column

    def _render_statements(self, plan: _TablePlan, batch: pa.RecordBatch, names: list[str]) -> pa.Array:
        """The batch as INSERT statement text: one Arrow string per row, statement head and tail included."""
        columns = [self._fast_column(batch.column(name), plan.columns[name]) for name in names]
        slow = [i for i, fast in enumerate(columns) if fast is None]

        def render(index: int) -> pa.Array | BaseException:
            arr = batch.column(names[index])
            try:
                return self._literals(plan, names[index], arr)
            except _TOO_LARGE as exc:
                return exc
            except (pa.ArrowException, ValueError, TypeError) as exc:  # the message may quote a value
                return BuildError(f"table {plan.name}, column {names[index]}: cannot write {arr.type} values "
                                  f"as SQL ({type(exc).__name__})")

        if len(slow) > 1 and _RENDER_THREADS > 1 and batch.num_rows * len(slow) >= _PARALLEL_MIN_CELLS:
            results = dict(zip(slow, _render_pool().map(render, slow), strict=True))
        else:
            results = {i: render(i) for i in slow}
        n = batch.num_rows
        source = sql_literals.RowSource.empty(n)
        for index, fast in enumerate(columns):
            if fast is not None and fast(source):
                continue
            result = results[index] if index in results else render(index)  # the loop declined its values
            if isinstance(result, BaseException):  # the first failing column, in column order
                raise result
            source.add_literals(result)
        header = plan.headers.get(tuple(names))
        if header is None:
            header = f"INSERT INTO {plan.quoted} ({','.join(self._q(n) for n in names)}) VALUES\n"
            plan.headers[tuple(names)] = header
        head = np.frombuffer(header.encode("utf-8"), dtype=np.uint8)
        if source.bound() >= 2**31 - 1:
            raise pa.ArrowCapacityError("SQL text of a batch over 2 GiB")  # rendered in halves by the caller
        text, starts = source.rows_text()
        # Rows go into statements of at most max_statement_bytes (a single larger row gets its own); a
        # statement's last row ends in ";" instead of ","; its head goes in front of its first row.
        ends = starts[1:]
        budget = self.max_statement_bytes - len(head)
        first = np.zeros(n, dtype=bool)
        begin = consumed = 0
        pieces = []
        while begin < n:
            stop = max(int(np.searchsorted(ends, consumed + budget, side="right")), begin + 1)
            first[begin] = True
            text[ends[stop - 1] - 2] = 59  # ;
            pieces += [head, text[starts[begin] : ends[stop - 1]]]
            consumed = int(ends[stop - 1])
            begin = stop
        joined = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.uint8)
        if len(joined) >= 2**31 - 1:
            raise pa.ArrowCapacityError("SQL text of a batch over 2 GiB")
        heads_before = np.cumsum(first) - first  # statement heads in front of row i, not counting its own
        row_offsets = np.empty(n + 1, dtype=np.int32)
        row_offsets[:-1] = starts[:-1] + heads_before * len(head)
        row_offsets[-1] = len(joined)
        return pa.StringArray.from_buffers(n, pa.py_buffer(row_offsets), pa.py_buffer(joined))

    def _literals(self, plan: _TablePlan, name: str, arr: pa.Array) -> pa.Array:
        """One column as SQL literals by the Arrow path, ``NULL`` included."""
        column = plan.columns[name]
        key = (name, str(arr.type))
        renderer = plan.renderers.get(key)
        if renderer is None:
            renderer = plan.renderers[key] = self._values.renderer(arr.type, column.target_kind, column.target)
        rendered = renderer(arr)
        if rendered.type != _TEXT:
            rendered = pc.cast(rendered, _TEXT)
        return pc.fill_null(rendered, _NULL) if rendered.null_count else rendered

    def _fast_column(self, arr: pa.Array, column: _ColumnPlan) -> Callable[[sql_literals.RowSource], bool] | None:
        """How the compiled row writer takes this column (False from it: these values take the Arrow path),
        or None when its type always takes the Arrow path."""
        if not FAST_LITERALS:
            return None
        t = arr.type
        if pa.types.is_dictionary(t) and (pa.types.is_string(t.value_type) or pa.types.is_large_string(t.value_type)):
            arr, t = arr.dictionary_decode(), t.value_type
        d = self.dialect
        if pa.types.is_integer(t):
            if d == "postgresql" and column.target_kind == st.BOOL:
                return None
            return lambda source: source.add_integers(arr)
        if pa.types.is_decimal128(t):
            return lambda source: source.add_decimals(arr)
        if pa.types.is_date32(t):
            return lambda source: source.add_dates(arr)
        if pa.types.is_timestamp(t):
            zone = d == "postgresql" and bool(getattr(column.target, "timezone", False))
            return lambda source: source.add_timestamps(pc.cast(arr, pa.timestamp("us"), safe=False),
                                                        column.target_kind == st.DATE, zone)
        if (pa.types.is_string(t) or pa.types.is_large_string(t)) and d in _FAST_TEXT and not (
                column.target_kind == st.BINARY and d != "mysql"):
            return lambda source: source.add_text(arr, _FAST_TEXT[d])
        return None

    # ------------------------------------------------------------------ DDL

    def _q(self, name: str) -> str:
        return self._preparer.quote_identifier(name)

    def _fit(self, name: str) -> str:
        limit = _MAX_NAME[self.dialect]
        if len(name) <= limit:
            return name
        digest = hashlib.sha1(name.encode("utf-8")).hexdigest()[:8]  # noqa: S324 - a name, not security
        return name[: limit - 9] + "_" + digest

    def _claim(self, name: str | None, scope: set[str]) -> str | None:
        """A constraint/index name unique in `scope` (None stays None: the target names it)."""
        if not name:
            return None
        candidate = self._fit(str(name))
        n = 2
        while candidate.lower() in scope:
            candidate = self._fit(f"{name}_{n}")
            n += 1
        scope.add(candidate.lower())
        return candidate

    def _plan(self, table: sa.Table) -> _TablePlan:
        """The table adapted to the target, built once (its DDL, names and reports are fixed then)."""
        plan = self._plans.get(_table_key(table))
        if plan is None:
            plan = self._plans[_table_key(table)] = self._build_plan(table)
        return plan

    def _build_plan(self, source: sa.Table) -> _TablePlan:
        d = self.dialect
        family = st.source_family(source)
        same = family == d
        name = str(source.name)
        pk_names = [str(c.name) for c in source.primary_key.columns]

        unique_sets: list[list[str]] = [pk_names] if pk_names else []
        unique_sets += [[str(c.name) for c in uc.columns] for uc in _unique_constraints(source)]
        unique_sets += [[str(c.name) for c in ix.columns] for ix in source.indexes if ix.unique]
        key_columns = {c for cols in unique_sets for c in cols}
        key_columns |= {str(fk.parent.name) for fk in source.foreign_keys}
        index_columns = {str(c.name) for ix in source.indexes if not ix.unique for c in ix.columns}

        try:
            autoinc = source.autoincrement_column
        except (sa.exc.ArgumentError, sa.exc.CompileError):
            autoinc = None

        infos = {str(c.name): st.classify(c.type, family) for c in source.columns}
        types: dict[str, TypeEngine] = {}
        for column in source.columns:
            cname = str(column.name)
            role = st.ROLE_KEY if cname in key_columns else st.ROLE_INDEX if cname in index_columns else 0
            types[cname] = st.target_type(column.type, infos[cname], d, family, role=role)
        if not same:
            self._match_foreign_key_types(source, family, types)
            if d == "mysql":
                self._fit_mysql_row(types, key_columns)

        metadata = sa.MetaData()
        table_kwargs: dict[str, Any] = {}
        if d == "mysql":
            table_kwargs = {"mysql_engine": "InnoDB", "mysql_default_charset": "utf8mb4"}
            collation = st.mysql_collation(source.dialect_kwargs.get("mysql_collate")) if same else None
            if collation:
                table_kwargs["mysql_collate"] = collation
            if source.comment:
                table_kwargs["comment"] = source.comment
        target = sa.Table(quoted_name(name, True), metadata, **table_kwargs)
        plans: dict[str, _ColumnPlan] = {}
        for column in source.columns:
            cname = str(column.name)
            target_type = types[cname]
            is_autoinc = autoinc is not None and column is autoinc and isinstance(target_type, sa.Integer)
            computed = None
            if same and column.computed is not None:
                computed = sa.Computed(column.computed.sqltext, persisted=column.computed.persisted)
            default = None
            if not is_autoinc and computed is None:
                default = self._server_default(column, infos[cname], target_type, same)
            kwargs: dict[str, Any] = {}
            if default is not None:
                kwargs["server_default"] = default
            target.append_column(sa.Column(
                quoted_name(cname, True), target_type, *([computed] if computed is not None else []),
                nullable=bool(column.nullable) and cname not in pk_names,
                autoincrement=is_autoinc,
                comment=column.comment if d == "mysql" else None,
                **kwargs,
            ))
            plans[cname] = _ColumnPlan(cname, target_type, st.classify(target_type, d).kind,
                                       generated=computed is not None)

        table_scope: set[str] = set()  # MySQL: index names are per table
        name_scope = table_scope if d == "mysql" else self._schema_names
        if pk_names:
            pk_name = self._claim(source.primary_key.name, name_scope) if same and d != "mysql" else None
            target.append_constraint(sa.PrimaryKeyConstraint(
                *[quoted_name(c, True) for c in pk_names], name=_qn(pk_name)))
        for uc in _unique_constraints(source):
            target.append_constraint(sa.UniqueConstraint(
                *[quoted_name(str(c.name), True) for c in uc.columns],
                name=_qn(self._claim(uc.name, name_scope))))

        indexes = self._indexes(source, target, family, name_scope)
        foreign_keys = self._foreign_keys(source, target, metadata)

        statements: list[str] = []
        if d == "postgresql":
            statements += self._enum_types_for(target)
            statements.append(f"DROP TABLE IF EXISTS {self._q(name)} CASCADE")
        else:
            statements.append(f"DROP TABLE IF EXISTS {self._q(name)}")
        inline_fks = None if d == "sqlite" else []
        statements.append(str(CreateTable(target, include_foreign_key_constraints=inline_fks)
                              .compile(dialect=self._sa_dialect)).strip())
        statements += [str(CreateIndex(ix).compile(dialect=self._sa_dialect)) for ix in indexes]
        fk_ddl = [str(AddConstraint(fk).compile(dialect=self._sa_dialect)) for fk in foreign_keys]
        if d == "mysql":
            statements += fk_ddl
        elif d == "postgresql":
            self._deferred += fk_ddl
            if autoinc is not None and isinstance(types[str(autoinc.name)], sa.Integer):
                self._deferred.append(self._pg_sequence_reset(target, target.c[str(autoinc.name)]))

        return _TablePlan(name, self._q(name), plans, statements)

    def _match_foreign_key_types(self, source: sa.Table, family: str, types: dict[str, TypeEngine]) -> None:
        """Across families, an integer foreign key takes its parent's integer type (MySQL insists)."""
        for fk in source.foreign_keys:
            try:
                parent = fk.column
            except (sa.exc.NoReferencedTableError, sa.exc.NoReferencedColumnError):
                continue
            child_info = st.classify(fk.parent.type, family)
            parent_info = st.classify(parent.type, family)
            if child_info.kind == st.INT and parent_info.kind == st.INT:
                types[str(fk.parent.name)] = st.target_type(
                    parent.type, parent_info, self.dialect, family, role=st.ROLE_KEY)

    @staticmethod
    def _fit_mysql_row(types: dict[str, TypeEngine], key_columns: set[str]) -> None:
        """Long VARCHARs from other databases move to LONGTEXT until the row fits MySQL's 65,535 bytes."""
        while st.mysql_row_bytes(list(types.values())) > st.MYSQL_MAX_ROW_BYTES - 1024:
            candidates = [(st.mysql_column_bytes(t) or 0, n) for n, t in types.items()
                          if n not in key_columns and isinstance(t, sa.String)
                          and not isinstance(t, (mysql.ENUM, mysql.SET))
                          and st.mysql_column_bytes(t) is not None]
            if not candidates:
                return
            _, widest = max(candidates)
            types[widest] = mysql.LONGTEXT()

    def _server_default(self, column: sa.Column[Any], info: st.TypeInfo, target: TypeEngine,
                        same: bool) -> Any:
        server_default = column.server_default
        if server_default is None or isinstance(server_default, sa.Identity) or column.identity is not None:
            return None
        arg = getattr(server_default, "arg", None)
        if arg is None:
            return None
        text = str(arg.text if isinstance(arg, sa.TextClause) else arg).strip()
        if same:
            if "nextval(" in text.lower():
                return None
            return arg if isinstance(arg, sa.TextClause) else sa.literal_column(text)
        return _portable_default(text, info, target, self.dialect)

    def _indexes(self, source: sa.Table, target: sa.Table, family: str, scope: set[str]) -> list[sa.Index]:
        d = self.dialect
        same = family == d
        result: list[sa.Index] = []
        for ix in sorted(source.indexes, key=lambda i: str(i.name or "")):
            if not ix.unique and not self.include_indexes:
                continue
            label = f"{source.name}.{ix.name}"
            exprs = list(ix.expressions)
            columns = [c for c in exprs if isinstance(c, sa.Column)]
            if len(columns) != len(exprs) and not same:
                self._skipped_indexes.append(f"{label}: expression index")
                continue
            kwargs: dict[str, Any] = {}
            where = None
            for key, value in ix.dialect_kwargs.items():
                if key.startswith(f"{d}_") and same:
                    kwargs[key] = value
                elif key.endswith("_where") and value is not None:
                    where = str(value)
            if where is not None and not same:
                if ix.unique and not _NOT_NULL_PREDICATE.match(where.strip()):
                    self._skipped_indexes.append(f"{label}: partial unique index")
                    continue
            if d == "mysql" and not same and any(
                    isinstance(target.c[str(c.name)].type, sa.JSON) for c in columns):
                self._skipped_indexes.append(f"{label}: MySQL cannot index a JSON column")
                continue
            if d == "mysql" and not same and not ix.unique:
                prefixes = _mysql_prefix_lengths([target.c[str(c.name)] for c in columns])
                if prefixes:
                    kwargs["mysql_length"] = prefixes
            elements: list[Any] = [
                target.c[str(e.name)] if isinstance(e, sa.Column) else e for e in exprs
            ]
            index_name = self._claim(str(ix.name), scope)
            result.append(sa.Index(_qn(index_name), *elements, unique=bool(ix.unique), _table=target,
                                   **kwargs))
        return result

    def _foreign_keys(self, source: sa.Table, target: sa.Table,
                      metadata: sa.MetaData) -> list[sa.ForeignKeyConstraint]:
        d = self.dialect
        kept: list[sa.ForeignKeyConstraint] = []
        constraints = sorted(source.foreign_key_constraints,
                             key=lambda c: (str(c.name or ""), [str(x.name) for x in c.columns]))
        for fkc in constraints:
            fullname, parent_name = referred_table(fkc.elements[0])
            child_cols = [str(e.parent.name) for e in fkc.elements]
            parent_cols = [_referred_column(e) for e in fkc.elements]
            if self._written is not None and not {parent_name, fullname} & self._written:
                self._omitted.append(
                    f"{source.name}.{','.join(child_cols)} -> {parent_name}.{','.join(parent_cols)}")
                continue
            if parent_name == str(source.name):
                parent = target
            else:
                found = metadata.tables.get(parent_name)
                parent = found if found is not None else sa.Table(quoted_name(parent_name, True), metadata)
            for col in parent_cols:
                if col not in parent.c:
                    parent.append_column(sa.Column(quoted_name(col, True), sa.Integer()))
            options: dict[str, Any] = {}
            for option in ("ondelete", "onupdate"):
                action = (getattr(fkc, option) or "").upper()
                if action in _FK_ACTIONS and not (d == "mysql" and action == "SET DEFAULT"):
                    options[option] = action
            if d == "postgresql" and st.source_family(source) == d:
                options["deferrable"] = fkc.deferrable
                options["initially"] = fkc.initially
            scope = self._schema_names if d == "mysql" else set()
            fk = sa.ForeignKeyConstraint(
                [target.c[c] for c in child_cols], [parent.c[c] for c in parent_cols],
                name=_qn(self._claim(fkc.name, scope)), **options,
            )
            target.append_constraint(fk)
            kept.append(fk)
        return kept

    def _enum_types_for(self, target: sa.Table) -> list[str]:
        """PostgreSQL named ENUM types a same-family table uses, created once per script."""
        statements = []
        for column in target.columns:
            enum = column.type
            if isinstance(enum, postgresql.ENUM) and enum.name and enum.name not in self._enum_types:
                self._enum_types.add(enum.name)
                labels = ", ".join(_pg_string(v) for v in enum.enums)
                statements.append(f"DROP TYPE IF EXISTS {self._q(enum.name)} CASCADE")
                statements.append(f"CREATE TYPE {self._q(enum.name)} AS ENUM ({labels})")
                column.type = postgresql.ENUM(*enum.enums, name=quoted_name(enum.name, True),
                                              create_type=False)
        return statements

    def _pg_sequence_reset(self, table: sa.Table, column: sa.Column[Any]) -> str:
        """After loading explicit ids, the SERIAL sequence continues after the largest one."""
        sequence = sa.func.pg_get_serial_sequence(sa.literal(self._q(str(table.name)), sa.String()),
                                                  sa.literal(str(column.name), sa.String()))
        largest = sa.func.max(column)
        statement = sa.select(sa.func.setval(sequence, sa.func.coalesce(largest, 1), largest.is_not(None)))
        return str(statement.compile(dialect=self._sa_dialect, compile_kwargs={"literal_binds": True}))


def _as_comment(text: str) -> str:
    """Text safe inside a ``--`` comment: no line break can end the comment early."""
    return re.sub(r"[\x00-\x1f\x7f\u2028\u2029\x85]", " ", text)


def _unique_constraints(table: sa.Table) -> list[sa.UniqueConstraint]:
    found = [c for c in table.constraints
             if isinstance(c, sa.UniqueConstraint) and not isinstance(c, sa.PrimaryKeyConstraint)]
    return sorted(found, key=lambda c: (str(c.name or ""), [str(x.name) for x in c.columns]))


def _qn(name: str | None) -> Any:
    return quoted_name(name, True) if name else None


def _pg_string(text: str) -> str:
    return "E'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _mysql_prefix_lengths(columns: list[sa.Column[Any]]) -> dict[str, int]:
    """Prefix lengths that keep a non-unique MySQL index within 3,072 bytes (TEXT needs one anyway)."""
    widths = {str(c.name): st.mysql_column_bytes(c.type) for c in columns}
    variable = [c for c in columns if isinstance(c.type, (sa.String, sa.LargeBinary, sa.types._Binary))
                and not isinstance(c.type, (mysql.ENUM, mysql.SET))]
    if not variable:
        return {}
    if all(w is not None for w in widths.values()) and sum(w or 0 for w in widths.values()) <= (
            st.MYSQL_MAX_KEY_BYTES):
        return {}
    fixed = sum(w or 0 for c, w in widths.items() if c not in {str(v.name) for v in variable})
    share = max(1, (st.MYSQL_MAX_KEY_BYTES - fixed) // len(variable))
    result = {}
    for column in variable:
        per_char = 4 if isinstance(column.type, sa.String) else 1
        length = min(st.MYSQL_INDEX_PREFIX, share // per_char)
        own = getattr(column.type, "length", None)
        result[str(column.name)] = max(1, min(length, own) if own else length)
    return result


_CAST_SUFFIX = re.compile(r"(::[A-Za-z_][\w ]*(\(\d+(\s*,\s*\d+)?\))?(\[\])?)+$")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_STRING = re.compile(r"^'((?:[^']|'')*)'$", re.DOTALL)
_NOW = re.compile(r"^(current_timestamp|now|localtimestamp|statement_timestamp|transaction_timestamp)"
                  r"\s*(\(\s*\d*\s*\))?$", re.IGNORECASE)
_DATE_TEXT = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME_TEXT = re.compile(r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(\.\d{1,6})?$")
_TIME_TEXT = re.compile(r"^-?\d{2,3}:\d{2}:\d{2}(\.\d{1,6})?$")


def _strip_default(text: str) -> str:
    previous = None
    while previous != text:
        previous = text
        text = _CAST_SUFFIX.sub("", text).strip()
        if text.startswith("(") and text.endswith(")") and _balanced(text[1:-1]):
            text = text[1:-1].strip()
    return text


def _balanced(text: str) -> bool:
    depth = 0
    in_string = False
    for ch in text:
        if ch == "'":
            in_string = not in_string
        elif not in_string:
            depth += {"(": 1, ")": -1}.get(ch, 0)
            if depth < 0:
                return False
    return depth == 0 and not in_string


def _portable_default(text: str, info: st.TypeInfo, target: TypeEngine, dialect: str) -> Any:
    """A source default carried across SQL families when it is a plain literal or "now"; else None."""
    value = _strip_default(text)
    kind = info.kind
    lowered = value.lower()
    if lowered == "null" or not value:
        return None
    if dialect == "mysql" and (st.mysql_column_bytes(target) is None and kind not in (st.ENUM, st.SET)):
        return None  # TEXT/BLOB/JSON columns take no literal default on MySQL
    if kind == st.DATETIME and _NOW.match(value):
        fsp = getattr(target, "fsp", None)
        return sa.literal_column(f"CURRENT_TIMESTAMP({fsp})" if dialect == "mysql" and fsp
                                 else "CURRENT_TIMESTAMP")
    string_match = _STRING.match(value)
    literal = string_match.group(1).replace("''", "'") if string_match else None
    number = value if _NUMBER.match(value) else (literal if literal and _NUMBER.match(literal) else None)
    if kind == st.BOOL:
        truth = {"1": True, "0": False, "true": True, "false": False, "t": True, "f": False}
        flag = truth.get((literal if literal is not None else lowered).lower())
        if flag is None:
            return None
        if dialect == "postgresql":
            return sa.literal_column("true" if flag else "false")
        return sa.literal_column("1" if flag else "0")
    if kind in (st.INT, st.YEAR, st.DECIMAL, st.FLOAT):
        if number is None or (kind in (st.INT, st.YEAR) and not re.match(r"^[+-]?\d+$", number)):
            return None
        return sa.literal_column(number)
    if kind in (st.STRING, st.ENUM, st.SET, st.UUID):
        if literal is None and number is None:
            return None
        result = literal if literal is not None else number
        if kind == st.ENUM and result not in info.values:
            return None
        return result
    if literal is not None and (
        (kind == st.DATE and _DATE_TEXT.match(literal))
        or (kind == st.DATETIME and _DATETIME_TEXT.match(literal))
        or (kind == st.TIME and _TIME_TEXT.match(literal))
    ):
        return literal
    return None
