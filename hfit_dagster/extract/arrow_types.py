"""Arrow types for reflected SQL column types, and Python rows → Arrow record batches.

Values keep what the source holds (docs/templates.md, "How source values are read"):

* MySQL/MariaDB ``FLOAT`` and PostgreSQL ``real`` are float32 (the server's 4-byte value, exactly);
* PostgreSQL ``interval``, ``timetz``, JSON and ``numeric`` (bounded or not: any may hold ``NaN``, an unbounded
  one ``Infinity`` too) are the server's text (field metadata ``hfit.text``; a bounded numeric's scale in
  ``hfit.scale``: readers that treat numbers as numbers treat these so too, ``is_decimal_text``);
* MySQL/MariaDB dates that are not calendar dates (``0000-00-00``, ``2024-00-00``, ``2024-02-30``) are NULL;
  every MySQL/MariaDB DATE, DATETIME and TIMESTAMP field says so in its metadata (``hfit.zero_date: null``);
* PostgreSQL ``infinity``/``-infinity`` are the largest/smallest value of the Arrow type, BC dates are
  astronomical years (1 BC is year 0, 44 BC is -43), ``24:00:00`` is the time 86,400 s after midnight
  (field metadata ``hfit.edge_values``).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from hfit_dagster.errors import ProviderError
from hfit_dagster.extract.spatial import SpatialType

#: ``Table.info`` key naming the SQLAlchemy dialect a table was reflected from (set by ``reflect_tables``)
DIALECT_INFO = "hfit_dialect"
ZERO_DATE = "hfit.zero_date"
TEXT_OF = "hfit.text"
EDGE_VALUES = "hfit.edge_values"
DECIMAL_SCALE = "hfit.scale"  # a numeric read as text: its declared scale (absent: unbounded)
_MYSQL = ("mysql", "mariadb")


def arrow_type_for(column_type: sa.types.TypeEngine[Any], dialect: str | None = None) -> pa.DataType | None:
    """The Arrow type that holds every value of a SQL type exactly, or None to let Arrow infer.

    ``dialect`` (SQLAlchemy's name of the source) separates types that reflect alike: ``REAL`` is 4 bytes in
    PostgreSQL and 8 in SQLite.
    """
    t = column_type
    name = type(t).__name__.upper()
    if _float32(t, dialect):
        return pa.float32()
    if dialect == "postgresql" and (_interval(t) or (isinstance(t, sa.Time) and t.timezone)):
        return pa.string()
    if isinstance(t, SpatialType):
        return pa.binary()
    if isinstance(t, sa.Boolean):
        return pa.bool_()
    if name == "YEAR":
        return pa.int16()
    if name == "BIT":
        return pa.binary()
    if isinstance(t, sa.Integer):
        if getattr(t, "unsigned", False) and isinstance(t, sa.BigInteger):
            return pa.uint64()
        return pa.int64()
    if isinstance(t, sa.Float) or name in ("DOUBLE", "REAL", "DOUBLE_PRECISION"):
        return pa.float64()
    if isinstance(t, sa.Numeric):
        if dialect == "postgresql":
            return pa.string()  # its text: any PostgreSQL numeric, numeric(p,s) too, may hold NaN
        precision, scale = t.precision, t.scale
        if precision is not None and precision <= 76:
            scale = scale or 0
            return pa.decimal128(precision, scale) if precision <= 38 else pa.decimal256(precision, scale)
        return pa.string()
    if isinstance(t, sa.DateTime):
        return pa.timestamp("us", tz="UTC" if t.timezone else None)
    if isinstance(t, sa.Date):
        return pa.date32()
    if isinstance(t, sa.Time):
        # MySQL TIME is an interval (-838:59:59 .. 838:59:59; pymysql returns timedelta), not a time of day
        return pa.duration("us") if _is_mysql(t) else pa.time64("us")
    if isinstance(t, sa.Interval):
        return pa.duration("us")
    if isinstance(t, sa.JSON):
        return pa.string()
    if isinstance(t, sa.LargeBinary | sa.types._Binary):
        return pa.binary()
    if isinstance(t, sa.String | sa.Enum) or name in ("SET", "ENUM", "UUID"):
        return pa.string()
    return None


def _is_mysql(column_type: sa.types.TypeEngine[Any]) -> bool:
    return type(column_type).__module__.startswith("sqlalchemy.dialects.mysql")


def _interval(column_type: sa.types.TypeEngine[Any]) -> bool:
    """SQLAlchemy's Interval and PostgreSQL's INTERVAL (which is not a subclass of it)."""
    return isinstance(column_type, sa.Interval) or type(column_type).__name__.upper() == "INTERVAL"


def _float32(column_type: sa.types.TypeEngine[Any], dialect: str | None) -> bool:
    """MySQL/MariaDB FLOAT (4 bytes; DOUBLE and REAL are 8) and PostgreSQL real."""
    if _is_mysql(column_type) or dialect in _MYSQL:
        return isinstance(column_type, sa.FLOAT) and not isinstance(column_type, sa.Double)
    return dialect == "postgresql" and isinstance(column_type, sa.REAL)


def field_metadata(column_type: sa.types.TypeEngine[Any], dialect: str | None) -> dict[str, str]:
    """What a reader of the batches needs to know about a column's values beyond its Arrow type."""
    if dialect in _MYSQL and isinstance(column_type, sa.Date | sa.DateTime):
        return {ZERO_DATE: "null"}
    if dialect == "postgresql":
        if _interval(column_type):
            return {TEXT_OF: "iso8601_interval"}
        if isinstance(column_type, sa.Time) and column_type.timezone:
            return {TEXT_OF: "timetz"}
        if isinstance(column_type, sa.JSON):
            return {TEXT_OF: "json"}
        if isinstance(column_type, sa.Numeric) and not isinstance(column_type, sa.Float):
            scale = column_type.scale if column_type.precision is not None else None
            return {TEXT_OF: "numeric", **({} if scale is None else {DECIMAL_SCALE: str(scale)})}
        if isinstance(column_type, sa.Date | sa.DateTime):
            return {EDGE_VALUES: "infinity=max,-infinity=min,bc=astronomical_year"}
        if isinstance(column_type, sa.Time):
            return {EDGE_VALUES: "24:00:00=86400s"}
    return {}


def is_decimal_text(f: pa.Field) -> bool:
    """A number read as its decimal text (a PostgreSQL ``numeric``, which may hold NaN and infinities): a number
    to every reader that treats numbers as numbers, text only to keep its values exact."""
    return bool(f.metadata) and f.metadata.get(TEXT_OF.encode()) == b"numeric"


def decimal_scale(f: pa.Field) -> int | None:
    """The declared scale of a decimal field (an Arrow decimal's, or a decimal text's); None when unbounded or not
    a decimal."""
    t = f.type.value_type if pa.types.is_dictionary(f.type) else f.type
    if pa.types.is_decimal(t):
        return int(t.scale)
    scale = f.metadata.get(DECIMAL_SCALE.encode()) if is_decimal_text(f) and f.metadata else None
    return int(scale) if scale is not None else None


def json_text(value: Any) -> str:
    """A list or dict from the driver (a PostgreSQL array) as valid JSON text; a Decimal element keeps its
    digits (``1.50``); NaN and infinities, which JSON has no number for, and other values JSON cannot hold
    become strings of their text (``"NaN"``, which PostgreSQL's array input reads back as the number)."""
    if isinstance(value, list):
        return "[" + ", ".join(json_text(v) for v in value) + "]"
    if isinstance(value, Decimal | float) and not math.isfinite(value):
        return json.dumps(str(value) if isinstance(value, Decimal) else json.dumps(value))
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(str(k), ensure_ascii=False)}: {json_text(v)}"
                               for k, v in value.items()) + "}"
    if value is None or isinstance(value, str | int | float | bool):
        return json.dumps(value, ensure_ascii=False)
    return json.dumps(str(value), ensure_ascii=False)


def _normalise(value: Any, target: pa.DataType | None) -> Any:
    if value is None:
        return None
    if target is not None and pa.types.is_string(target):
        if isinstance(value, str):
            return value
        if isinstance(value, dict | list):
            return json_text(value)
        if isinstance(value, set | frozenset):
            return ",".join(sorted(value))
        if isinstance(value, bytes):
            return value.decode("utf-8", errors="replace")
        if isinstance(value, Decimal):  # the digits as written (0.0000001, never 1E-7); NaN, Infinity as such
            return format(value, "f") if value.is_finite() else str(value)
        return str(value)
    if target is not None and pa.types.is_binary(target) and isinstance(value, int):
        return value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")
    if target is not None and pa.types.is_binary(target) and isinstance(value, str):
        return value.encode("utf-8")  # text in a SQLite BLOB column: its bytes, as CAST(x AS BLOB) gives
    if target is not None and pa.types.is_decimal(target) and isinstance(value, float | int):
        return Decimal(str(value))
    return value


def rows_to_batch(rows: list[Any], schema: pa.Schema,
                  processors: list[Callable[[Any], Any] | None] | None = None) -> pa.RecordBatch:
    """Columnar conversion of DB-API rows; values that Arrow cannot take as-is are normalised first.

    ``processors`` are the SQL types' result processors (e.g. SQLite's text → datetime), applied per
    column when the rows come from an untyped textual query.
    """
    columns: list[Any] = list(zip(*rows, strict=True)) if rows else [() for _ in schema]
    if processors:
        columns = [_processed(values, proc, field.type) if proc else values
                   for values, proc, field in zip(columns, processors, schema, strict=True)]
    arrays = [values_to_array(values, field.type, column=field.name)
              for values, field in zip(columns, schema, strict=True)]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


class UnreadableValue(ProviderError):
    """A source value that does not fit its column's Arrow type (the message names the column, never the value)."""


_EPOCH = datetime(1970, 1, 1)


def _processed(values: Any, processor: Callable[[Any], Any], arrow_type: pa.DataType) -> list[Any]:
    """``processor`` applied to each value. A loosely typed source (SQLite stores any value in any column)
    may hold values the processor refuses: a number in a DATE/DATETIME column is Unix time in seconds (as
    SQLite's ``unixepoch`` reads it); anything else is left as it is, and :func:`values_to_array` converts it
    or names the column."""
    try:
        return [processor(v) for v in values]
    except (TypeError, ValueError, ArithmeticError):
        pass
    temporal = pa.types.is_timestamp(arrow_type) or pa.types.is_date(arrow_type)
    out = []
    for value in values:
        try:
            out.append(processor(value))
        except (TypeError, ValueError, ArithmeticError):
            if temporal and isinstance(value, int | float) and not isinstance(value, bool):
                try:
                    moment = _EPOCH + timedelta(seconds=value)
                except OverflowError:  # beyond the calendar: values_to_array names the column
                    out.append(value)
                    continue
                out.append(moment.date() if pa.types.is_date(arrow_type) else moment)
            else:
                out.append(value)
    return out


_CONVERSION_ERRORS = (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError)


def values_to_array(values: Any, arrow_type: pa.DataType, *, column: str | None = None) -> pa.Array:
    """One column of Python values as an Arrow array of ``arrow_type``, normalising values Arrow refuses.

    A value that still does not fit (MySQL's zero dates, which the driver returns as text) is a
    :class:`ProviderError` naming the column, never quoting the value (it may be personal data).
    """
    try:
        return pa.array(values, type=arrow_type)
    except _CONVERSION_ERRORS:
        pass
    if _is_temporal(arrow_type):
        try:  # ISO text (PostgreSQL's dates and timestamps): parsed by Arrow, a batch at a time
            return pc.cast(pa.array(values, type=pa.string()), arrow_type)
        except (*_CONVERSION_ERRORS, pa.ArrowNotImplementedError):
            pass
        try:
            return _temporal_with_text(values, arrow_type)
        except _CONVERSION_ERRORS:
            pass
    try:
        return pa.array([_normalise(v, arrow_type) for v in values], type=arrow_type)
    except _CONVERSION_ERRORS:
        pass
    where = f"column {column!r}" if column else "a column"
    raise UnreadableValue(
        f"{where} has a value that is not a valid {arrow_type} (the source does not enforce the column's type)",
        hint=f"leave out or convert such values in the template query, or correct them in the source (on SQLite, "
             f"typeof({column or 'col'}) tells each value's storage class)",
    ) from None


def _is_temporal(arrow_type: pa.DataType) -> bool:
    return pa.types.is_date32(arrow_type) or pa.types.is_timestamp(arrow_type) or pa.types.is_time64(arrow_type)


_INT64 = np.iinfo(np.int64)
_INT32 = np.iinfo(np.int32)
_TEXT_DATE = re.compile(r"^(\d{1,7})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?)?"
                        r"(?:([+-])(\d{2})(?::?(\d{2}))?(?::?(\d{2}))?)?( bc)?$")
_TEXT_TIME = re.compile(r"^(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?$")
_UNIT_PER_SECOND = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}


def _temporal_with_text(values: Any, arrow_type: pa.DataType) -> pa.Array:
    """A date, timestamp or time column whose driver returned text for some values: what Python's types
    cannot hold (PostgreSQL infinity, BC dates, years after 9999, 24:00:00) and what is not a calendar date
    (MySQL 0000-00-00, 2024-02-30). The text values become the documented Arrow values (module docstring);
    a text that is none of these raises ValueError."""
    values = list(values)
    texts = [i for i, v in enumerate(values) if isinstance(v, str)]
    if not texts:
        raise ValueError("no text values")
    plain = pa.array([None if isinstance(v, str) else v for v in values], type=arrow_type)
    storage = pa.int32() if pa.types.is_date32(arrow_type) else pa.int64()
    numbers = pc.fill_null(plain.cast(storage), 0).to_numpy(zero_copy_only=False).astype(np.int64)
    valid = np.asarray(plain.is_valid())
    for i in texts:
        number = _text_temporal(values[i], arrow_type)
        valid[i] = number is not None
        numbers[i] = number or 0
    return pa.Array.from_buffers(arrow_type, len(values), [
        pa.py_buffer(np.packbits(valid, bitorder="little")),
        pa.py_buffer(numbers.astype(np.int32 if storage == pa.int32() else np.int64))],
        null_count=int(len(values) - np.count_nonzero(valid)))


def _text_temporal(text: str, arrow_type: pa.DataType) -> int | None:
    """The Arrow storage value of one temporal text, or None for a date that is not on the calendar."""
    low = text.strip().lower()
    is_date = pa.types.is_date32(arrow_type)
    if low in ("infinity", "-infinity"):
        bounds = _INT32 if is_date else _INT64
        return int(bounds.max if low == "infinity" else bounds.min)
    if pa.types.is_time64(arrow_type):
        match = _TEXT_TIME.match(low)
        if not match:
            raise ValueError("not a time")
        hours, minutes, seconds = (int(g) for g in match.groups()[:3])
        micros = ((hours * 60 + minutes) * 60 + seconds) * 1_000_000 + int((match.group(4) or "0").ljust(6, "0"))
        if micros > 86_400_000_000:
            raise ValueError("not a time of day")
        return micros if arrow_type.unit == "us" else micros * 1000
    match = _TEXT_DATE.match(low)
    if not match:
        raise ValueError("not a date")
    year, month, day = (int(g) for g in match.groups()[:3])
    if match.group(12):
        year = 1 - year  # astronomical numbering: 1 BC is year 0
    if not (1 <= month <= 12) or not (1 <= day <= _days_in_month(year, month)):
        return None  # a MySQL zero or invalid date
    days = _days_from_civil(year, month, day)
    if is_date:
        return days
    hour, minute, second = (int(g or 0) for g in match.groups()[3:6])
    fraction = match.group(7) or ""
    nanos = int(fraction.ljust(9, "0")[:9]) if fraction else 0
    seconds = ((days * 24 + hour) * 60 + minute) * 60 + second
    if match.group(8):
        sign = -1 if match.group(8) == "-" else 1
        seconds -= sign * (int(match.group(9)) * 3600 + int(match.group(10) or 0) * 60 + int(match.group(11) or 0))
    per_second = _UNIT_PER_SECOND[arrow_type.unit]
    return seconds * per_second + nanos * per_second // 1_000_000_000


def _days_in_month(year: int, month: int) -> int:
    if month == 2:
        return 29 if (year % 4 == 0 and year % 100 != 0) or year % 400 == 0 else 28
    return 30 if month in (4, 6, 9, 11) else 31


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date, any year (H. Hinnant's algorithm)."""
    y = year - 1 if month <= 2 else year
    era = y // 400  # floor division: the C original subtracts 399 from a negative y for its truncating division
    yoe = y - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def schema_for(table: sa.Table, column_names: list[str]) -> pa.Schema:
    """The Arrow schema of ``column_names`` of ``table`` (its source dialect from ``table.info``)."""
    dialect = table.info.get(DIALECT_INFO)
    fields = []
    for name in column_names:
        col = table.c[name]
        arrow_type = arrow_type_for(col.type, dialect) or pa.string()
        metadata = {"sql_type": type_name(col), **field_metadata(col.type, dialect)}
        fields.append(pa.field(name, arrow_type, nullable=True, metadata=metadata))
    return pa.schema(fields)


def type_name(col: sa.Column[Any]) -> str:
    """The column's SQL type as text for Parquet metadata and the manifest, without literals from the source:
    ENUM and SET labels can be personal data, so only their count is named (``ENUM(3 labels)``)."""
    labels = getattr(col.type, "enums", None) or getattr(col.type, "values", None)
    if isinstance(labels, list | tuple) and labels and all(isinstance(v, str) for v in labels):
        kind = "SET" if "set" in type(col.type).__name__.lower() else "ENUM"
        return f"{kind}({len(labels)} labels)"
    try:
        return str(col.type)
    except Exception:  # some reflected types cannot render without a dialect
        return type(col.type).__name__
