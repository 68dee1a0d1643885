"""Arrow types for reflected SQL column types, and Python rows → Arrow record batches."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pyarrow as pa
import sqlalchemy as sa

from hfit_dagster.errors import ProviderError
from hfit_dagster.extract.spatial import SpatialType


def arrow_type_for(column_type: sa.types.TypeEngine[Any]) -> pa.DataType | None:
    """The Arrow type that holds every value of a SQL type exactly, or None to let Arrow infer."""
    t = column_type
    name = type(t).__name__.upper()
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


def _normalise(value: Any, target: pa.DataType | None) -> Any:
    if value is None:
        return None
    if target is not None and pa.types.is_string(target):
        if isinstance(value, str):
            return value
        if isinstance(value, dict | list):
            return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
        if isinstance(value, set | frozenset):
            return ",".join(sorted(value))
        if isinstance(value, bytes):
            return value.decode("utf-8", errors="replace")
        return str(value)
    if target is not None and pa.types.is_binary(target) and isinstance(value, int):
        return value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")
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
        columns = [[proc(v) for v in values] if proc else values
                   for values, proc in zip(columns, processors, strict=True)]
    arrays = [values_to_array(values, field.type, column=field.name)
              for values, field in zip(columns, schema, strict=True)]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


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
    try:
        return pa.array([_normalise(v, arrow_type) for v in values], type=arrow_type)
    except _CONVERSION_ERRORS:
        pass
    where = f"column {column!r}" if column else "a column"
    zero_dates = pa.types.is_date(arrow_type) or pa.types.is_timestamp(arrow_type)
    raise ProviderError(
        f"{where} has a value that is not a valid {arrow_type}"
        + (" (MySQL zero dates such as 0000-00-00 are not dates)" if zero_dates else ""),
        hint=(f"select such values as NULL in the template query, e.g. NULLIF({column or 'col'}, '0000-00-00') "
              f"AS {column or 'col'}" if zero_dates else "cast the column in the template query to a type it fits"),
    ) from None


def schema_for(table: sa.Table, column_names: list[str]) -> pa.Schema:
    fields = []
    for name in column_names:
        col = table.c[name]
        arrow_type = arrow_type_for(col.type) or pa.string()
        fields.append(pa.field(name, arrow_type, nullable=True, metadata={"sql_type": str(_safe_type(col))}))
    return pa.schema(fields)


def _safe_type(col: sa.Column[Any]) -> str:
    try:
        return str(col.type)
    except Exception:  # some reflected types cannot render without a dialect
        return type(col.type).__name__
