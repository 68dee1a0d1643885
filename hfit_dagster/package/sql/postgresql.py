"""PostgreSQL: the script that loads with ``psql -f package.sql``.

``E''`` strings with backslash escapes (text cannot hold NUL: it is removed and counted), ``'\\x..'`` bytea,
TRUE/FALSE flags, 'NaN' and 'Infinity' floats, ``+00`` on zone-aware timestamps. Foreign keys are added after
all the data so that cycles and self-references load; SERIAL sequences continue after the largest loaded id.
"""

from __future__ import annotations

import json
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine.interfaces import Dialect
from sqlalchemy.sql import quoted_name, sqltypes
from sqlalchemy.types import TypeEngine

from hfit_dagster.package.sql import column_types as ct
from hfit_dagster.package.sql.arrow_text import JsonNumeral, as_text, enclose, replace_all, text_scalar
from hfit_dagster.package.sql.base import SqlDialect
from hfit_dagster.package.sql.compiled_rows import POSTGRESQL_ESCAPES

_ESCAPES = (("\x00", ""), ("\\", "\\\\"), ("'", "\\'"), ("\n", "\\n"), ("\r", "\\r"))


EXTENSION_TYPES: dict[type, str] = {postgresql.CITEXT: "citext", postgresql.HSTORE: "hstore"}


class PostgreSqlDialect(SqlDialect):
    name = "postgresql"
    load_command = "psql -v ON_ERROR_STOP=1 -d <database> -f package.sql"
    max_identifier_length = 63
    compiled_text_escaping = POSTGRESQL_ESCAPES
    foreign_key_placement = "after_data"
    native_arrays = True
    identity_columns = True
    non_finite_floats = ("'NaN'", "'Infinity'", "'-Infinity'")

    @staticmethod
    def sqlalchemy_dialect() -> Dialect:
        # the named paramstyle: a script has no parameters, and the driver's format style doubles every % of a
        # name or default (`50%` written `50%%`, another column)
        return postgresql.dialect(paramstyle="named")  # type: ignore[no-any-return]

    def load_header(self) -> list[str]:
        return [
            "SET client_encoding = 'UTF8';",
            "SET standard_conforming_strings = on;",
            "SET TIME ZONE 'UTC';",
            "SET client_min_messages = warning;",
            "BEGIN;",
        ]

    # ------------------------------------------------------------------ literals

    def quote_text(self, arr: pa.Array) -> tuple[pa.Array, int]:
        arr = as_text(arr)
        removed = 0
        if pc.any(pc.match_substring(arr, "\x00")).as_py():
            removed = int(pc.sum(pc.count_substring(arr, "\x00")).as_py() or 0)
        return enclose(replace_all(arr, _ESCAPES), "E'"), removed

    def bytes_literals(self, values: list[Any]) -> list[str | None]:
        return [None if v is None else "'\\x" + bytes(v).hex() + "'" for v in values]

    def booleans_as_keywords(self, target_kind: str) -> bool:
        return target_kind == ct.BOOL

    def finite_float_text(self, text: pa.Array) -> pa.Array:
        return pc.if_else(pc.equal(text, "-0"), text_scalar("'-0'"), text)  # the bare literal -0 is integer zero

    def timestamp_suffix(self, target: TypeEngine) -> str:
        return "+00" if getattr(target, "timezone", False) else ""

    def json_column_text(self, text: pa.Array, target: TypeEngine) -> pa.Array:
        """An hstore column takes its own text: a JSON object of strings (how the reader holds an hstore) is
        written as ``"key"=>"value"`` pairs."""
        if not isinstance(target, postgresql.HSTORE):
            return text
        return pa.array([None if v is None else _hstore_text(v) for v in text.to_pylist()], pa.string())

    def bit_literal(self, digits: str) -> str:
        return "B'" + digits + "'"

    def array_text(self, value: Any) -> str:
        return _array_text(value)

    # ------------------------------------------------------------------ column types

    def same_family_type(self, source: TypeEngine) -> TypeEngine:
        if isinstance(source, postgresql.DOMAIN):
            return sqltypes.to_instance(source.data_type)
        return source

    def portable_type(self, info: ct.TypeInfo, role: int) -> TypeEngine:
        kind = info.kind
        if kind == ct.BOOL:
            return postgresql.BOOLEAN()
        if kind == ct.INT:
            bits = (info.bits or 32) * (2 if info.unsigned else 1)
            if bits <= 16:
                return postgresql.SMALLINT()
            if bits <= 48:
                return postgresql.INTEGER()
            if bits <= 64:
                return postgresql.BIGINT()
            return postgresql.NUMERIC(20, 0)
        if kind == ct.DECIMAL:
            if info.precision is None:
                return postgresql.NUMERIC()
            precision, scale = ct.decimal_bounds(info, max_precision=1000, max_scale=1000)
            return postgresql.NUMERIC(precision, scale)
        if kind == ct.FLOAT:
            return postgresql.REAL() if info.bits == 32 else postgresql.DOUBLE_PRECISION()
        if kind == ct.DATE:
            return postgresql.DATE()
        if kind == ct.DATETIME:
            return postgresql.TIMESTAMP(timezone=info.timezone, precision=ct.capped_fsp(info, default=None))
        if kind == ct.TIME:
            return postgresql.TIME(timezone=info.timezone, precision=ct.capped_fsp(info, default=None))
        if kind == ct.INTERVAL:
            return postgresql.INTERVAL()
        if kind == ct.YEAR:
            return postgresql.SMALLINT()
        if kind == ct.BIT:
            return postgresql.BIT(info.length) if info.fixed else postgresql.BIT(info.length, varying=True)
        if kind in (ct.JSON, ct.ARRAY):
            return postgresql.JSONB()
        if kind == ct.UUID:
            return postgresql.UUID()
        if kind == ct.BINARY:
            return postgresql.BYTEA()
        if kind == ct.ENUM:
            return postgresql.VARCHAR(info.length or 1)
        if kind == ct.STRING and not info.text and info.length is not None and info.length <= 10_485_760:
            return postgresql.CHAR(info.length) if info.fixed else postgresql.VARCHAR(info.length)
        return postgresql.TEXT()

    # ------------------------------------------------------------------ DDL

    def drop_table(self, quoted: str) -> str:
        return f"DROP TABLE IF EXISTS {quoted} CASCADE"

    def type_statements(self, target: sa.Table, created: set[str]) -> list[str]:
        """Named ENUM types a same-family table uses, and the extensions of its types (citext, hstore: trusted
        extensions a database owner may create), once per script."""
        statements = []
        for column in target.columns:
            extension = EXTENSION_TYPES.get(type(column.type))
            if extension and f"extension {extension}" not in created:
                created.add(f"extension {extension}")
                statements.append(f"CREATE EXTENSION IF NOT EXISTS {extension}")
            enum = column.type
            if isinstance(enum, postgresql.ENUM) and enum.name and enum.name not in created:
                created.add(enum.name)
                labels = ", ".join(string_literal(v) for v in enum.enums)
                statements.append(f"DROP TYPE IF EXISTS {self.quote_identifier(enum.name)} CASCADE")
                statements.append(f"CREATE TYPE {self.quote_identifier(enum.name)} AS ENUM ({labels})")
                column.type = postgresql.ENUM(*enum.enums, name=quoted_name(enum.name, True),
                                              create_type=False)
        return statements

    def foreign_key_options(self, constraint: sa.ForeignKeyConstraint, family: str) -> dict[str, Any]:
        options = super().foreign_key_options(constraint, family)
        if family == self.name:
            options["deferrable"] = constraint.deferrable
            options["initially"] = constraint.initially
        return options

    def after_data_statements(self, target: sa.Table, autoincrement: sa.Column[Any]) -> list[str]:
        """After loading explicit ids, the SERIAL sequence continues after the largest one."""
        if not isinstance(autoincrement.type, sa.Integer):
            return []
        sequence = sa.func.pg_get_serial_sequence(
            sa.literal(self.quote_identifier(str(target.name)), sa.String()),
            sa.literal(str(autoincrement.name), sa.String()))
        largest = sa.func.max(autoincrement)
        statement = sa.select(sa.func.setval(sequence, sa.func.coalesce(largest, 1), largest.is_not(None)))
        return [self.compile(statement, compile_kwargs={"literal_binds": True})]

    def boolean_default(self, flag: bool) -> str:
        return "true" if flag else "false"


def string_literal(text: str) -> str:
    return "E'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _array_text(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, list | tuple):
        return "{" + ",".join(_array_text(v) for v in value) + "}"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, int | float | Decimal | JsonNumeral):
        return str(value)
    text = value.isoformat() if isinstance(value, datetime | date | time) else str(value)
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _hstore_text(document: str) -> str:
    try:
        pairs = json.loads(document)
    except ValueError:
        return document  # hstore text already
    if not isinstance(pairs, dict):
        return document

    def quoted(text: str) -> str:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'

    return ", ".join(f"{quoted(str(k))}=>{'NULL' if v is None else quoted(str(v))}" for k, v in pairs.items())
