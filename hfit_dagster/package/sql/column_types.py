"""What the columns of a reflected source table hold, independent of any target dialect.

A reflected SQLAlchemy type (of any source: SQLite, MySQL/MariaDB, PostgreSQL) is reduced to a `TypeInfo`
(kind, width, length, precision); each dialect module rebuilds it as its own type (``SqlDialect.column_type``).
Across families the rule is "never lose a value": unbounded text stays unbounded, unbounded NUMERIC gets the
widest DECIMAL, fractional seconds are kept, unsigned 64-bit integers go to NUMERIC(20,0) where there is no
unsigned type.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql
from sqlalchemy.sql import sqltypes
from sqlalchemy.types import TypeEngine

from hfit_dagster.extract.arrow_types import DIALECT_INFO

# What a column holds, independent of any dialect.
BOOL = "bool"
INT = "int"
DECIMAL = "decimal"
FLOAT = "float"
STRING = "string"
BINARY = "binary"
DATE = "date"
DATETIME = "datetime"
TIME = "time"
INTERVAL = "interval"
JSON = "json"
UUID = "uuid"
ENUM = "enum"
SET = "set"
YEAR = "year"
BIT = "bit"
ARRAY = "array"
UNKNOWN = "unknown"

TEXTUAL_KINDS = frozenset({STRING, ENUM, SET, JSON, UUID, UNKNOWN, INTERVAL})

# Role of a column in the table's keys; decides whether an unbounded string may stay unbounded.
ROLE_NONE = 0
ROLE_INDEX = 1  # in a non-unique secondary index only
ROLE_KEY = 2  # in a primary key, unique constraint/index or foreign key



@dataclass(frozen=True)
class TypeInfo:
    """What a column holds, independent of dialect."""

    kind: str
    bits: int | None = None  # integer and float width
    unsigned: bool = False
    precision: int | None = None  # decimal precision; fractional-second digits for temporal kinds
    scale: int | None = None
    length: int | None = None  # character or byte length; None means unbounded
    fixed: bool = False  # CHAR / BINARY
    text: bool = False  # a TEXT/CLOB type (MySQL sizes it, others do not); an interval with calendar parts
    timezone: bool = False
    values: tuple[str, ...] = ()  # ENUM and SET members
    item: TypeInfo | None = field(default=None, compare=False)  # ARRAY element


def source_family(table: sa.Table) -> str:
    """The SQL family a reflected table comes from: "mysql", "postgresql" or "generic" (SQLite, unknown).

    Set ``table.info["hfit_source_dialect"]`` to say it explicitly; a table reflected from a MySQL/MariaDB or
    PostgreSQL source names its dialect (``DIALECT_INFO``): a PostgreSQL table of generic types only (``integer``,
    ``numeric``) cannot be told from a SQLite one by its types. Otherwise it is read from the reflected table
    options and column types.
    """
    forced = table.info.get("hfit_source_dialect")
    if forced:
        return "mysql" if forced in ("mysql", "mariadb") else str(forced)
    reflected = table.info.get(DIALECT_INFO)
    if reflected in ("mysql", "mariadb", "postgresql"):
        return "mysql" if reflected != "postgresql" else "postgresql"
    if any(key.startswith(("mysql_", "mariadb_")) for key in table.dialect_kwargs):
        return "mysql"
    for column in table.columns:
        if column.identity is not None:  # SQLite and MySQL have no identity columns
            return "postgresql"
        module = type(column.type).__module__
        if ".dialects.mysql" in module:
            return "mysql"
        if ".dialects.postgresql" in module:
            return "postgresql"
        default = column.server_default
        text = str(getattr(default, "arg", "")) if default is not None else ""
        if "::" in text or "nextval(" in text:
            return "postgresql"
    return "generic"


def _mysql_text_length(type_: TypeEngine) -> int | None:
    if isinstance(type_, mysql.TINYTEXT):
        return 255
    if isinstance(type_, mysql.MEDIUMTEXT):
        return 16_777_215
    if isinstance(type_, mysql.LONGTEXT):
        return None
    return getattr(type_, "length", None) or (65_535 if isinstance(type_, mysql.TEXT) else None)


def classify(type_: TypeEngine, family: str = "generic") -> TypeInfo:
    """Reduce a reflected SQLAlchemy type to what it holds."""
    t: Any = type_
    if isinstance(t, postgresql.DOMAIN):
        t = sqltypes.to_instance(t.data_type)
    if isinstance(t, mysql.SET):
        return TypeInfo(SET, values=tuple(t.values))
    if isinstance(t, mysql.YEAR):
        return TypeInfo(YEAR)
    if isinstance(t, (mysql.BIT, postgresql.BIT)):
        varying = bool(getattr(t, "varying", False))
        return TypeInfo(BIT, length=getattr(t, "length", None) or (None if varying else 1), fixed=not varying)
    if isinstance(t, sa.Boolean):
        return TypeInfo(BOOL)
    if isinstance(t, sa.Enum):
        values = tuple(str(v) for v in t.enums)
        return TypeInfo(ENUM, values=values, length=max((len(v) for v in values), default=1))
    if isinstance(t, sa.Integer):
        if family in ("generic", "sqlite"):  # SQLite stores every integer in 8 bytes, whatever its declared type
            return TypeInfo(INT, bits=64)
        if isinstance(t, mysql.TINYINT):
            bits = 8
        elif isinstance(t, sa.SmallInteger):
            bits = 16
        elif isinstance(t, mysql.MEDIUMINT):
            bits = 24
        elif isinstance(t, sa.BigInteger):
            bits = 64
        else:
            bits = 32
        return TypeInfo(INT, bits=bits, unsigned=bool(getattr(t, "unsigned", False)))
    if isinstance(t, (postgresql.OID, postgresql.REGCLASS)):
        return TypeInfo(INT, bits=32, unsigned=True)
    if isinstance(t, sa.Float):
        return TypeInfo(FLOAT, bits=_float_bits(t, family))
    if isinstance(t, postgresql.MONEY):
        return TypeInfo(DECIMAL, precision=19, scale=2)
    if isinstance(t, sa.Numeric):
        return TypeInfo(DECIMAL, precision=t.precision, scale=t.scale)
    if isinstance(t, sa.DateTime):
        return TypeInfo(DATETIME, precision=_fsp(t), timezone=bool(getattr(t, "timezone", False)))
    if isinstance(t, sa.Date):
        return TypeInfo(DATE)
    if isinstance(t, sa.Time):
        if type(t).__module__.startswith("sqlalchemy.dialects.mysql"):
            return TypeInfo(INTERVAL, precision=_fsp(t))  # MySQL TIME is a signed interval up to ±838 h
        return TypeInfo(TIME, precision=_fsp(t), timezone=bool(getattr(t, "timezone", False)))
    if isinstance(t, postgresql.INTERVAL):
        return TypeInfo(INTERVAL, text=True)  # years, months, days and time: no MySQL TIME holds it
    if isinstance(t, sqltypes._AbstractInterval):
        return TypeInfo(INTERVAL)
    if isinstance(t, (sa.JSON, postgresql.HSTORE)):
        return TypeInfo(JSON)
    if isinstance(t, sa.ARRAY):
        return TypeInfo(ARRAY, item=classify(sqltypes.to_instance(t.item_type), family))
    if isinstance(t, sa.Uuid):
        return TypeInfo(UUID)
    if isinstance(t, sa.String):
        if isinstance(t, (sa.Text, mysql.TINYTEXT, mysql.MEDIUMTEXT, mysql.LONGTEXT)):
            length = _mysql_text_length(t) if family == "mysql" else t.length
            return TypeInfo(STRING, length=length, text=True)
        return TypeInfo(STRING, length=t.length, fixed=isinstance(t, (sa.CHAR, sa.NCHAR)))
    if isinstance(t, (postgresql.INET, postgresql.CIDR)):
        return TypeInfo(STRING, length=43)
    if isinstance(t, (postgresql.MACADDR, postgresql.MACADDR8)):
        return TypeInfo(STRING, length=23)
    if isinstance(t, postgresql.TSVECTOR):
        return TypeInfo(STRING)
    if isinstance(t, sqltypes._Binary):
        if isinstance(t, mysql.TINYBLOB):
            return TypeInfo(BINARY, length=255)
        if isinstance(t, mysql.MEDIUMBLOB):
            return TypeInfo(BINARY, length=16_777_215)
        if isinstance(t, (sa.BINARY, sa.VARBINARY)):
            return TypeInfo(BINARY, length=t.length, fixed=isinstance(t, sa.BINARY))
        return TypeInfo(BINARY)
    return TypeInfo(UNKNOWN)


def _float_bits(t: Any, family: str) -> int:
    if isinstance(t, sa.Double) or isinstance(t, (mysql.DOUBLE, mysql.REAL)):
        return 64
    precision = getattr(t, "precision", None)
    if isinstance(t, mysql.FLOAT):
        return 32 if precision is None or precision <= 24 else 64
    # SQLite stores every REAL/FLOAT in 8 bytes; only PostgreSQL's REAL is single precision.
    if family == "postgresql" and (isinstance(t, sa.REAL) or (precision is not None and precision <= 24)):
        return 32
    return 64


def _fsp(t: Any) -> int | None:
    value = getattr(t, "fsp", None)
    if value is None:
        value = getattr(t, "precision", None)
    return int(value) if value is not None else None


# --------------------------------------------------------------------------------------------- shared rules


def decimal_bounds(info: TypeInfo, *, max_precision: int, max_scale: int) -> tuple[int, int]:
    if info.precision is None:
        return max_precision, min(max_scale, 30)
    precision = min(info.precision, max_precision)
    scale = min(info.scale or 0, max_scale, precision)
    return precision, scale


def capped_fsp(info: TypeInfo, default: int | None = 6) -> int | None:
    if info.precision is None:
        return default
    return min(info.precision, 6)
