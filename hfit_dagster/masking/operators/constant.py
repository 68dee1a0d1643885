"""Operators that do not depend on the value: keep it, replace it by NULL, or by one configured constant."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pyarrow as pa

from hfit_dagster.errors import MaskingError
from hfit_dagster.masking.operators.base import MaskContext, Operator, is_text_type, unsupported


class KeepOperator(Operator):
    name = "keep"

    def operate(self, values: pa.Array, ctx: MaskContext) -> pa.Array:
        return values

    def mask_distinct(self, values: pa.Array, ctx: MaskContext) -> pa.Array:
        return values


class NullOperator(Operator):
    name = "null"

    def operate(self, values: pa.Array, ctx: MaskContext) -> pa.Array:
        return pa.nulls(len(values), type=values.type)

    def mask_distinct(self, values: pa.Array, ctx: MaskContext) -> pa.Array:
        return pa.nulls(len(values), type=values.type)


class FixedOperator(Operator):
    """Every non-null value becomes one configured constant.

    The constant is looked up in ``fixed_values`` as ``"table.column"``, then ``"column"``, then ``"*"``;
    otherwise strings get ``"REDACTED"``, numbers 0 (a number held as text too), booleans false and dates the epoch.
    """

    name = "fixed"

    def mask_distinct(self, values: pa.Array, ctx: MaskContext) -> pa.Array:
        t = values.type
        value = self._lookup(ctx)
        if value is None:
            # a number read as its decimal text (a PostgreSQL numeric) takes a number too
            value = "0" if ctx.limits.number and is_text_type(t) else self._type_default(t)
        try:
            return pa.array([value] * len(values)).cast(t) if len(values) else values
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
            raise MaskingError(
                f"the fixed value configured for column '{ctx.column}' does not fit its type {t}",
                hint="set fixed_values to a value of the column's type",
            ) from exc

    def fit_to_column(self, originals: pa.Array, masked: pa.Array, ctx: MaskContext) -> pa.Array:
        """An enum column's constant is one label for every row (picked by the constant, not by each original)."""
        if ctx.limits.labels and is_text_type(masked.type):
            return super().fit_to_column(masked, masked, ctx)
        return super().fit_to_column(originals, masked, ctx)

    @staticmethod
    def _lookup(ctx: MaskContext) -> Any:
        for k in (f"{ctx.table}.{ctx.column}", ctx.column, "*"):
            if k and k in ctx.fixed_values:
                return ctx.fixed_values[k]
        return None

    @staticmethod
    def _type_default(t: pa.DataType) -> Any:
        if is_text_type(t):
            return "REDACTED"
        if pa.types.is_boolean(t):
            return False
        if pa.types.is_decimal(t):
            return Decimal(0)  # an int's inferred int64 does not fit a DECIMAL(9,0)
        if pa.types.is_integer(t) or pa.types.is_floating(t):
            return 0
        if pa.types.is_date(t):
            return dt.date(1970, 1, 1)
        if pa.types.is_timestamp(t):
            return dt.datetime(1970, 1, 1)
        if pa.types.is_binary(t) or pa.types.is_large_binary(t):
            return b"REDACTED"
        raise unsupported("fixed", t)
