"""SQLite: the script that loads with ``sqlite3 db < package.sql``.

Strings have no escapes (a quote is doubled; text with NUL or a line break goes as UTF-8 bytes cast to TEXT),
bytes are ``X'..'``, foreign keys sit inside CREATE TABLE (SQLite cannot add them later) and are not checked
while loading. Column types are declared affinities; NaN is stored as the text 'NaN', 9e999 is infinity.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine.interfaces import Dialect
from sqlalchemy.types import TypeEngine

from hfit_dagster.package.sql import column_types as ct
from hfit_dagster.package.sql.arrow_text import TEXT, as_text, enclose, replace_all
from hfit_dagster.package.sql.base import SqlDialect

EXACT_NUMERIC_DIGITS = 15  # a decimal of at most 15 significant digits comes back exactly from a double


class SqliteDialect(SqlDialect):
    name = "sqlite"
    load_command = "sqlite3 -bail <file.db> < package.sql"
    max_identifier_length = 128
    foreign_key_placement = "inline"
    case_insensitive_tables = True
    quotes_numbers_for_text = True
    case_insensitive_columns = True
    # 9e999 overflows to +Inf; SQLite has no NaN, a REAL column keeps the text 'NaN' instead (documented)
    non_finite_floats = ("'NaN'", "9e999", "-9e999")

    @staticmethod
    def sqlalchemy_dialect() -> Dialect:
        return sqlite.dialect()  # type: ignore[no-any-return]

    def load_header(self) -> list[str]:
        return ["PRAGMA foreign_keys=OFF;", "BEGIN;"]

    # ------------------------------------------------------------------ literals

    def autoincrement_in_key(self, position: int, key_columns: int) -> bool:
        return key_columns == 1  # AUTOINCREMENT belongs to a single-column INTEGER PRIMARY KEY

    def quote_text(self, arr: pa.Array) -> tuple[pa.Array, int]:
        arr = as_text(arr)
        quoted = enclose(replace_all(arr, (("'", "''"),)))
        awkward = pc.fill_null(pc.match_substring_regex(arr, "[\\x00\\n\\r]"), False)
        if not pc.any(awkward).as_py():
            return quoted, 0
        # Text with NUL or line breaks goes as UTF-8 bytes cast to TEXT, so every row stays on one line and no
        # newline translation can alter a value.
        as_bytes = pa.array(
            [None if v is None else "CAST(X'" + v.encode("utf-8").hex() + "' AS TEXT)"
             for v in pc.filter(arr, awkward).to_pylist()], TEXT)
        return pc.replace_with_mask(quoted, awkward, as_bytes), 0

    def bytes_literals(self, values: list[Any]) -> list[str | None]:
        return [None if v is None else "X'" + bytes(v).hex() + "'" for v in values]

    # ------------------------------------------------------------------ column types

    def column_type(self, source: TypeEngine, info: ct.TypeInfo, family: str, role: int) -> TypeEngine:
        """Always the declared affinity of what the column holds, whatever the source."""
        return self.portable_type(info, role)

    def portable_type(self, info: ct.TypeInfo, role: int) -> TypeEngine:
        kind = info.kind
        if kind == ct.BOOL:
            return sa.BOOLEAN()
        if kind in (ct.INT, ct.YEAR):
            if info.bits == 64 and info.unsigned:
                return sa.TEXT()  # above the signed 64-bit range: decimal digits (note)
            # INTEGER for every width: a single-column key stays SQLite's rowid alias, and it holds 64 bits.
            return sa.INTEGER()
        if kind == ct.BIT:
            return sa.TEXT()  # binary digits, one per bit (note)
        if kind == ct.DECIMAL:
            if info.precision is None or info.precision > EXACT_NUMERIC_DIGITS:
                return sa.TEXT()  # NUMERIC affinity would round it to a double (note)
            return sa.NUMERIC(info.precision, info.scale)
        if kind == ct.FLOAT:
            return sa.REAL() if info.bits == 32 else sa.Double()
        if kind == ct.DATE:
            return sa.DATE()
        if kind == ct.DATETIME:
            return sa.DATETIME()
        if kind == ct.TIME:
            return sa.TIME()
        if kind in (ct.JSON, ct.ARRAY):
            return sa.JSON()
        if kind == ct.UUID:
            return sa.CHAR(36)
        if kind == ct.BINARY:
            return sa.BLOB()
        if kind == ct.UNKNOWN:
            return sa.BLOB()  # no declared affinity: values keep the storage class they arrive with
        if kind in (ct.STRING, ct.ENUM) and not info.text and info.length is not None:
            return sa.CHAR(info.length) if info.fixed else sa.VARCHAR(info.length)
        return sa.TEXT()

    def representation_note(self, info: ct.TypeInfo, target: TypeEngine) -> str | None:
        if not isinstance(target, sa.TEXT):
            return None
        if info.kind in (ct.INT, ct.YEAR):
            return "TEXT of decimal digits: SQLite integers hold 64 signed bits"
        if info.kind == ct.BIT:
            return "TEXT of binary digits, one per bit"
        if info.kind == ct.DECIMAL:
            return (f"TEXT of the decimal value: SQLite NUMERIC keeps {EXACT_NUMERIC_DIGITS} significant digits")
        return None
