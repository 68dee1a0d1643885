"""MySQL and MariaDB: the script that loads with ``mysql db < package.sql``.

Backslash escapes in strings, ``X'..'`` bytes, InnoDB tables in utf8mb4, foreign keys right after the indexes
they need, checks off while loading and strict mode so that a value too long fails the load instead of being
truncated. A MySQL row holds at most 65,535 bytes and an index key 3,072: long strings from other families
move to LONGTEXT, and indexes over them get prefix lengths.
"""

from __future__ import annotations

import base64
import copy
from typing import Any

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.engine.interfaces import Dialect
from sqlalchemy.sql import sqltypes
from sqlalchemy.types import TypeEngine

from hfit_dagster.package.sql import column_types as ct
from hfit_dagster.package.sql.arrow_text import as_text, enclose, replace_all
from hfit_dagster.package.sql.base import REFERENTIAL_ACTIONS, SqlDialect
from hfit_dagster.package.sql.compiled_rows import MYSQL_ESCAPES

MAX_KEY_BYTES = 3072  # InnoDB, DYNAMIC row format
MAX_ROW_BYTES = 65535
KEY_VARCHAR = 255  # an unbounded string that must be indexed whole
INDEX_PREFIX = 255  # prefix length for an unbounded string in a non-unique index

BASE64_FROM_BYTES = 4096
_ESCAPES = (("\\", "\\\\"), ("\x00", "\\0"), ("'", "\\'"), ("\n", "\\n"), ("\r", "\\r"), ("\x1a", "\\Z"))


class MySqlDialect(SqlDialect):
    name = "mysql"
    load_command = "mysql <database> < package.sql"
    max_identifier_length = 64
    compiled_text_escaping = MYSQL_ESCAPES
    accepts_text_for_bytes = True
    foreign_key_placement = "after_indexes"
    index_names_per_table = True
    names_primary_key = False  # always PRIMARY
    case_insensitive_columns = True
    default_statement_limit = 16 << 20  # MariaDB's default max_allowed_packet (MySQL 8: 64 MB)
    # pieces of a large value: 2 MiB take at most 4 MiB escaped (2.7 MiB as base64), far below the packet
    append_piece_bytes = 2 << 20
    referential_actions = REFERENTIAL_ACTIONS - {"SET DEFAULT"}  # InnoDB rejects it
    non_finite_decimals = False

    @staticmethod
    def sqlalchemy_dialect() -> Dialect:
        # the named paramstyle: a script has no parameters, and the driver's format style doubles every % of a
        # name or default (`50%` written `50%%`, another column)
        return mysql.dialect(paramstyle="named")  # type: ignore[no-any-return]

    def load_header(self) -> list[str]:
        return [
            "SET NAMES utf8mb4;",
            "SET FOREIGN_KEY_CHECKS=0;",
            "SET UNIQUE_CHECKS=0;",
            "SET SQL_MODE='NO_AUTO_VALUE_ON_ZERO,STRICT_ALL_TABLES';",  # too long/invalid fails, never truncates
            "SET time_zone='+00:00';",
            "SET autocommit=0;",
        ]

    def load_footer(self, after_data: list[str]) -> list[str]:
        return [*super().load_footer(after_data), "SET FOREIGN_KEY_CHECKS=1;", "SET UNIQUE_CHECKS=1;"]

    # ------------------------------------------------------------------ literals

    def quote_text(self, arr: pa.Array) -> tuple[pa.Array, int]:
        return enclose(replace_all(as_text(arr), _ESCAPES)), 0

    def bytes_literals(self, values: list[Any]) -> list[str | None]:
        """``X'..'`` hex, and ``FROM_BASE64('..')`` from ``BASE64_FROM_BYTES`` bytes on: a statement holds one
        value in 4/3 of its size instead of twice it, so a 12 MB blob still fits MariaDB's default 16 MB
        ``max_allowed_packet`` (hex: 8 MB)."""
        return [None if v is None else _bytes_literal(bytes(v)) for v in values]

    # ------------------------------------------------------------------ column types

    def same_family_type(self, source: TypeEngine) -> TypeEngine:
        """The reflected MySQL type, moved to utf8mb4 if it had another character set (a TEXT-family column of
        one other than utf8, such as latin1, one size up: its limit counts bytes, and 255 ``é`` take 510 in UTF-8).
        An ENUM gets an explicit '' label: a non-strict source stores '' for an invalid value, which a strict load
        refuses otherwise."""
        if isinstance(source, mysql.ENUM) and "" not in source.enums:
            widened: Any = copy.copy(source)
            widened.enums = [*source.enums, ""]
            source = widened
        charset = getattr(source, "charset", None)
        collation = getattr(source, "collation", None)
        if charset in (None, "utf8mb4") and (collation is None or collation.startswith("utf8mb4_")):
            return source
        adapted: Any = _wider_text(source) if charset not in (None, "utf8", "utf8mb3") else copy.copy(source)
        adapted.charset = None
        adapted.ascii = False
        adapted.unicode = False
        adapted.national = False
        adapted.collation = utf8mb4_collation(collation)
        return adapted

    def portable_type(self, info: ct.TypeInfo, role: int) -> TypeEngine:
        kind = info.kind
        if kind == ct.BOOL:
            return mysql.TINYINT(display_width=1)
        if kind == ct.INT:
            cls = {8: mysql.TINYINT, 16: mysql.SMALLINT, 24: mysql.MEDIUMINT, 64: mysql.BIGINT}.get(
                info.bits or 32, mysql.INTEGER
            )
            return cls(unsigned=info.unsigned) if info.unsigned else cls()
        if kind == ct.DECIMAL:
            if not fits_decimal(info):  # decimal text: every digit (and NaN) kept (note)
                return mysql.VARCHAR(KEY_VARCHAR, collation="utf8mb4_bin") if role == ct.ROLE_KEY else mysql.LONGTEXT()
            precision, scale = ct.decimal_bounds(info, max_precision=65, max_scale=30)
            return mysql.DECIMAL(precision=precision, scale=scale)
        if kind == ct.BIT and info.fixed and info.length is not None and info.length <= 64:
            return mysql.BIT(info.length)
        if kind == ct.FLOAT:
            return mysql.FLOAT() if info.bits == 32 else mysql.DOUBLE()
        if kind == ct.DATE:
            return sa.DATE()
        if kind == ct.DATETIME:
            return mysql.DATETIME(fsp=ct.capped_fsp(info))
        if (kind == ct.INTERVAL and info.text) or (kind == ct.TIME and info.timezone):
            return mysql.VARCHAR(64)  # its text (note)
        if kind in (ct.TIME, ct.INTERVAL):
            return mysql.TIME(fsp=ct.capped_fsp(info))
        if kind == ct.YEAR:
            return mysql.YEAR()
        if kind == ct.JSON or kind == ct.ARRAY:
            return mysql.JSON()
        if kind == ct.UUID:
            return mysql.CHAR(36, collation="utf8mb4_bin" if role == ct.ROLE_KEY else None)
        if kind == ct.ENUM:
            return mysql.ENUM(*info.values)
        if kind == ct.SET:
            return mysql.SET(*info.values)
        if kind == ct.BINARY:
            length = info.length
            if role == ct.ROLE_KEY and (length is None or length > MAX_KEY_BYTES):
                return mysql.VARBINARY(KEY_VARCHAR)
            if length is None or length > 16_383:
                return mysql.LONGBLOB()
            return mysql.BINARY(length) if info.fixed and length <= 255 else mysql.VARBINARY(length)
        # STRING, BIT (PostgreSQL bit strings arrive as text), UNKNOWN
        length = info.length if kind in (ct.STRING, ct.BIT) else None
        collation = "utf8mb4_bin" if role == ct.ROLE_KEY else None
        if role == ct.ROLE_KEY:
            if length is None:
                return mysql.VARCHAR(KEY_VARCHAR, collation=collation)
            length = min(length, MAX_KEY_BYTES // 4)
        if length is None or length > 16_383 or (info.text and role != ct.ROLE_KEY):
            return mysql.LONGTEXT()
        if info.fixed and length <= 255:
            return mysql.CHAR(length, collation=collation)
        return mysql.VARCHAR(length, collation=collation)

    def representation_note(self, info: ct.TypeInfo, target: TypeEngine) -> str | None:
        if info.kind == ct.DECIMAL and isinstance(target, sa.String):
            return "text of the decimal value: MySQL DECIMAL holds 65 digits, 30 after the point, and no NaN"
        if info.kind == ct.INTERVAL and isinstance(target, sa.String):
            return "text of the interval: MySQL TIME holds neither months nor more than 838 hours"
        if info.kind == ct.TIME and isinstance(target, sa.String):
            return "text of the time with its UTC offset: MySQL TIME has no offset"
        return None

    def autoincrement_in_key(self, position: int, key_columns: int) -> bool:
        return position == 0  # InnoDB wants AUTO_INCREMENT first in an index

    def bit_literal(self, digits: str) -> str:
        return "b'" + (digits or "0") + "'"

    def append_statement(self, table: str, column: str, literal: str, where: str) -> str:
        """``CONCAT`` onto the stored value: each statement stays small, though the value itself must still fit
        ``max_allowed_packet`` (CONCAT refuses a longer result)."""
        # names quoted by the dialect, values rendered as literals of the package script (its INSERTs alike)
        return f"UPDATE {table} SET {column} = CONCAT({column}, {literal}) WHERE {where};"  # noqa: S608

    def fit_row(self, types: dict[str, TypeEngine], key_columns: set[str]) -> None:
        """Long VARCHARs from other databases move to LONGTEXT until the row fits MySQL's 65,535 bytes."""
        while row_bytes(list(types.values())) > MAX_ROW_BYTES - 1024:
            candidates = [(column_bytes(t) or 0, n) for n, t in types.items()
                          if n not in key_columns and isinstance(t, sa.String)
                          and not isinstance(t, (mysql.ENUM, mysql.SET))
                          and column_bytes(t) is not None]
            if not candidates:
                return
            _, widest = max(candidates)
            types[widest] = mysql.LONGTEXT()

    # ------------------------------------------------------------------ DDL

    def table_options(self, source: sa.Table, same_family: bool) -> dict[str, Any]:
        options: dict[str, Any] = {"mysql_engine": "InnoDB", "mysql_default_charset": "utf8mb4"}
        collation = utf8mb4_collation(source.dialect_kwargs.get("mysql_collate")) if same_family else None
        if collation:
            options["mysql_collate"] = collation
        return options

    def adapt_index(self, unique: bool, columns: list[sa.Column[Any]], kwargs: dict[str, Any]) -> str | None:
        if any(isinstance(c.type, sa.JSON) for c in columns):
            return "MySQL cannot index a JSON column"
        if not unique:
            prefixes = _prefix_lengths(columns)
            if prefixes:
                kwargs["mysql_length"] = prefixes
        return None

    def takes_literal_default(self, target: TypeEngine, kind: str) -> bool:
        return column_bytes(target) is not None or kind in (ct.ENUM, ct.SET)  # TEXT/BLOB/JSON take none

    def current_timestamp(self, target: TypeEngine) -> str:
        fsp = getattr(target, "fsp", None)
        return f"CURRENT_TIMESTAMP({fsp})" if fsp else "CURRENT_TIMESTAMP"


_WIDER_TEXT = ((mysql.TINYTEXT, mysql.TEXT), (mysql.MEDIUMTEXT, mysql.LONGTEXT), (mysql.LONGTEXT, mysql.LONGTEXT),
               (mysql.TEXT, mysql.MEDIUMTEXT))


def _wider_text(source: TypeEngine) -> TypeEngine:
    """A copy of a TEXT-family type one size up (TINYTEXT -> TEXT ...), keeping its collation; other types
    copied as they are."""
    for narrow, wide in _WIDER_TEXT:
        if isinstance(source, narrow):
            return wide(collation=getattr(source, "collation", None))
    return copy.copy(source)


def fits_decimal(info: ct.TypeInfo) -> bool:
    """Whether MySQL's DECIMAL holds every value of a decimal column (bounded, 65 digits, 30 decimals)."""
    return info.precision is not None and info.precision <= 65 and (info.scale or 0) <= 30


def _bytes_literal(value: bytes) -> str:
    if not value:
        return "''"
    if len(value) >= BASE64_FROM_BYTES:
        return "FROM_BASE64('" + base64.b64encode(value).decode("ascii") + "')"
    return "X'" + value.hex() + "'"


def utf8mb4_collation(collation: str | None) -> str | None:
    """A source column/table collation carried into utf8mb4; None lets the table default apply."""
    if not collation:
        return None
    if collation.startswith("utf8mb4_"):
        return collation
    if collation.endswith("_bin") or collation == "binary":
        return "utf8mb4_bin"
    for suffix in ("_general_ci", "_unicode_ci", "_unicode_520_ci"):
        if collation.endswith(suffix):
            return "utf8mb4" + suffix
    return None


def column_bytes(type_: TypeEngine) -> int | None:
    """Bytes a value takes in an InnoDB row or index (utf8mb4 strings); None if stored off-row (TEXT/BLOB)."""
    t: Any = type_
    if isinstance(t, (sa.Text, mysql.TINYTEXT, mysql.MEDIUMTEXT, mysql.LONGTEXT, sa.JSON)):
        return None
    if isinstance(t, (mysql.ENUM, mysql.SET)):
        return 8
    if isinstance(t, sa.String):
        return 4 * (t.length or 0) + 2
    if isinstance(t, (sa.BINARY, sa.VARBINARY)):
        return (t.length or 0) + 2
    if isinstance(t, sqltypes._Binary):
        return None
    return 8


def row_bytes(types: list[TypeEngine]) -> int:
    """Approximate MySQL row size (the 65,535-byte limit counts TEXT/BLOB as a 12-byte pointer)."""
    return sum(column_bytes(t) or 12 for t in types)


def _prefix_lengths(columns: list[sa.Column[Any]]) -> dict[str, int]:
    """Prefix lengths that keep a non-unique MySQL index within 3,072 bytes (TEXT needs one anyway)."""
    widths = {str(c.name): column_bytes(c.type) for c in columns}
    variable = [c for c in columns if isinstance(c.type, (sa.String, sa.LargeBinary, sa.types._Binary))
                and not isinstance(c.type, (mysql.ENUM, mysql.SET))]
    if not variable:
        return {}
    if all(w is not None for w in widths.values()) and sum(w or 0 for w in widths.values()) <= MAX_KEY_BYTES:
        return {}
    fixed = sum(w or 0 for c, w in widths.items() if c not in {str(v.name) for v in variable})
    share = max(1, (MAX_KEY_BYTES - fixed) // len(variable))
    result = {}
    for column in variable:
        per_char = 4 if isinstance(column.type, sa.String) else 1
        length = min(INDEX_PREFIX, share // per_char)
        own = getattr(column.type, "length", None)
        result[str(column.name)] = max(1, min(length, own) if own else length)
    return result
