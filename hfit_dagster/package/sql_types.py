"""Column types of a reflected source table, carried into a target SQL dialect.

A reflected type is first reduced to a `TypeInfo` (what the column holds: kind, width, length, precision),
then rebuilt for the target. When source and target are the same family (MySQL/MariaDB into MySQL, PostgreSQL
into PostgreSQL) the reflected type is kept as it is, so unsigned integers, ENUM, SET, YEAR, BIT, JSON, the
TEXT sizes and column collations survive exactly. Across families the rule is "never lose a value": unbounded
text stays unbounded, unbounded NUMERIC gets the widest DECIMAL, fractional seconds are kept, unsigned 64-bit
integers go to NUMERIC(20,0) where there is no unsigned type.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql
from sqlalchemy.sql import sqltypes
from sqlalchemy.types import NullType, TypeEngine

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

MYSQL_MAX_KEY_BYTES = 3072  # InnoDB, DYNAMIC row format
MYSQL_MAX_ROW_BYTES = 65535
MYSQL_KEY_VARCHAR = 255  # an unbounded string that must be indexed whole
MYSQL_INDEX_PREFIX = 255  # prefix length for an unbounded string in a non-unique index


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
    text: bool = False  # a TEXT/CLOB type (MySQL sizes it, others do not)
    timezone: bool = False
    values: tuple[str, ...] = ()  # ENUM and SET members
    item: TypeInfo | None = field(default=None, compare=False)  # ARRAY element


def source_family(table: sa.Table) -> str:
    """The SQL family a reflected table comes from: "mysql", "postgresql" or "generic" (SQLite, unknown).

    Set ``table.info["hfit_source_dialect"]`` to say it explicitly; otherwise it is read from the
    reflected table options and column types.
    """
    forced = table.info.get("hfit_source_dialect")
    if forced:
        return "mysql" if forced in ("mysql", "mariadb") else str(forced)
    if any(key.startswith(("mysql_", "mariadb_")) for key in table.dialect_kwargs):
        return "mysql"
    for column in table.columns:
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
        return TypeInfo(BIT, length=getattr(t, "length", None) or 1)
    if isinstance(t, sa.Boolean):
        return TypeInfo(BOOL)
    if isinstance(t, sa.Enum):
        values = tuple(str(v) for v in t.enums)
        return TypeInfo(ENUM, values=values, length=max((len(v) for v in values), default=1))
    if isinstance(t, sa.Integer):
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


# --------------------------------------------------------------------------------------------- targets


def target_type(
    source: TypeEngine, info: TypeInfo, dialect: str, family: str, *, role: int = ROLE_NONE
) -> TypeEngine:
    """The type a column of `source` gets in `dialect`."""
    same = family == dialect and not isinstance(source, NullType)  # unknown to SQLAlchemy: no DDL for it
    if dialect == "mysql":
        return _mysql_same_family(source) if same else _to_mysql(info, role)
    if dialect == "postgresql":
        return _postgresql_same_family(source) if same else _to_postgresql(info)
    if dialect == "sqlite":
        return _to_sqlite(info)
    raise ValueError(f"unsupported SQL dialect {dialect!r}")


def mysql_collation(collation: str | None) -> str | None:
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


def _mysql_same_family(source: TypeEngine) -> TypeEngine:
    """The reflected MySQL type, moved to utf8mb4 if it had another character set."""
    charset = getattr(source, "charset", None)
    collation = getattr(source, "collation", None)
    if charset in (None, "utf8mb4") and (collation is None or collation.startswith("utf8mb4_")):
        return source
    adapted: Any = copy.copy(source)
    adapted.charset = None
    adapted.ascii = False
    adapted.unicode = False
    adapted.national = False
    adapted.collation = mysql_collation(collation)
    return adapted


def _postgresql_same_family(source: TypeEngine) -> TypeEngine:
    if isinstance(source, postgresql.DOMAIN):
        return sqltypes.to_instance(source.data_type)
    return source


def _to_mysql(info: TypeInfo, role: int) -> TypeEngine:
    kind = info.kind
    if kind == BOOL:
        return mysql.TINYINT(display_width=1)
    if kind == INT:
        cls = {8: mysql.TINYINT, 16: mysql.SMALLINT, 24: mysql.MEDIUMINT, 64: mysql.BIGINT}.get(
            info.bits or 32, mysql.INTEGER
        )
        return cls(unsigned=info.unsigned) if info.unsigned else cls()
    if kind == DECIMAL:
        precision, scale = _decimal_bounds(info, max_precision=65, max_scale=30)
        return mysql.DECIMAL(precision=precision, scale=scale)
    if kind == FLOAT:
        return mysql.FLOAT() if info.bits == 32 else mysql.DOUBLE()
    if kind == DATE:
        return sa.DATE()
    if kind == DATETIME:
        return mysql.DATETIME(fsp=_capped_fsp(info))
    if kind in (TIME, INTERVAL):
        return mysql.TIME(fsp=_capped_fsp(info))
    if kind == YEAR:
        return mysql.YEAR()
    if kind == JSON or kind == ARRAY:
        return mysql.JSON()
    if kind == UUID:
        return mysql.CHAR(36, collation="utf8mb4_bin" if role == ROLE_KEY else None)
    if kind == ENUM:
        return mysql.ENUM(*info.values)
    if kind == SET:
        return mysql.SET(*info.values)
    if kind == BINARY:
        length = info.length
        if role == ROLE_KEY and (length is None or length > MYSQL_MAX_KEY_BYTES):
            return mysql.VARBINARY(MYSQL_KEY_VARCHAR)
        if length is None or length > 16_383:
            return mysql.LONGBLOB()
        return mysql.BINARY(length) if info.fixed and length <= 255 else mysql.VARBINARY(length)
    # STRING, BIT (PostgreSQL bit strings arrive as text), UNKNOWN
    length = info.length if kind in (STRING, BIT) else None
    collation = "utf8mb4_bin" if role == ROLE_KEY else None
    if role == ROLE_KEY:
        if length is None:
            return mysql.VARCHAR(MYSQL_KEY_VARCHAR, collation=collation)
        length = min(length, MYSQL_MAX_KEY_BYTES // 4)
    if length is None or length > 16_383 or (info.text and role != ROLE_KEY):
        return mysql.LONGTEXT()
    if info.fixed and length <= 255:
        return mysql.CHAR(length, collation=collation)
    return mysql.VARCHAR(length, collation=collation)


def _to_postgresql(info: TypeInfo) -> TypeEngine:
    kind = info.kind
    if kind == BOOL:
        return postgresql.BOOLEAN()
    if kind == INT:
        bits = (info.bits or 32) * (2 if info.unsigned else 1)
        if bits <= 16:
            return postgresql.SMALLINT()
        if bits <= 48:
            return postgresql.INTEGER()
        if bits <= 64:
            return postgresql.BIGINT()
        return postgresql.NUMERIC(20, 0)
    if kind == DECIMAL:
        if info.precision is None:
            return postgresql.NUMERIC()
        precision, scale = _decimal_bounds(info, max_precision=1000, max_scale=1000)
        return postgresql.NUMERIC(precision, scale)
    if kind == FLOAT:
        return postgresql.REAL() if info.bits == 32 else postgresql.DOUBLE_PRECISION()
    if kind == DATE:
        return postgresql.DATE()
    if kind == DATETIME:
        return postgresql.TIMESTAMP(timezone=info.timezone, precision=_capped_fsp(info, default=None))
    if kind == TIME:
        return postgresql.TIME(timezone=info.timezone, precision=_capped_fsp(info, default=None))
    if kind == INTERVAL:
        return postgresql.INTERVAL()
    if kind == YEAR:
        return postgresql.SMALLINT()
    if kind == BIT:
        return postgresql.BIGINT()  # MySQL BIT values arrive as integers
    if kind in (JSON, ARRAY):
        return postgresql.JSONB()
    if kind == UUID:
        return postgresql.UUID()
    if kind == BINARY:
        return postgresql.BYTEA()
    if kind == ENUM:
        return postgresql.VARCHAR(info.length or 1)
    if kind == STRING and not info.text and info.length is not None and info.length <= 10_485_760:
        return postgresql.CHAR(info.length) if info.fixed else postgresql.VARCHAR(info.length)
    return postgresql.TEXT()


def _to_sqlite(info: TypeInfo) -> TypeEngine:
    kind = info.kind
    if kind == BOOL:
        return sa.BOOLEAN()
    if kind in (INT, YEAR, BIT):
        # INTEGER (not BIGINT) for a single-column key keeps SQLite's rowid alias; both hold 64 bits.
        return sa.BIGINT() if info.bits == 64 and not info.unsigned else sa.INTEGER()
    if kind == DECIMAL:
        return sa.NUMERIC(info.precision, info.scale)
    if kind == FLOAT:
        return sa.REAL() if info.bits == 32 else sa.Double()
    if kind == DATE:
        return sa.DATE()
    if kind == DATETIME:
        return sa.DATETIME()
    if kind == TIME:
        return sa.TIME()
    if kind in (JSON, ARRAY):
        return sa.JSON()
    if kind == UUID:
        return sa.CHAR(36)
    if kind == BINARY:
        return sa.BLOB()
    if kind == UNKNOWN:
        return sa.BLOB()  # no declared affinity: values keep the storage class they arrive with
    if kind in (STRING, ENUM) and not info.text and info.length is not None:
        return sa.CHAR(info.length) if info.fixed else sa.VARCHAR(info.length)
    return sa.TEXT()


def _decimal_bounds(info: TypeInfo, *, max_precision: int, max_scale: int) -> tuple[int, int]:
    if info.precision is None:
        return max_precision, min(max_scale, 30)
    precision = min(info.precision, max_precision)
    scale = min(info.scale or 0, max_scale, precision)
    return precision, scale


def _capped_fsp(info: TypeInfo, default: int | None = 6) -> int | None:
    if info.precision is None:
        return default
    return min(info.precision, 6)


# --------------------------------------------------------------------------------------------- MySQL sizes


def mysql_column_bytes(type_: TypeEngine) -> int | None:
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


def mysql_row_bytes(types: list[TypeEngine]) -> int:
    """Approximate MySQL row size (the 65,535-byte limit counts TEXT/BLOB as a 12-byte pointer)."""
    return sum(mysql_column_bytes(t) or 12 for t in types)
