"""The date-of-birth operator: a stable, non-zero shift of up to ±180 days derived from the date itself."""

from __future__ import annotations

import datetime as dt
import re

import pyarrow as pa
import pyarrow.compute as pc

from hfit_dagster.masking.operators.base import MaskContext, Operator, is_text_type, unsupported
from hfit_dagster.masking.operators.keyed import keyed_int, shape_preserve

DOB_MAX_SHIFT_DAYS = 180
_UNITS_PER_DAY = {"s": 86_400, "ms": 86_400_000, "us": 86_400_000_000, "ns": 86_400_000_000_000}
_ISO_DATE = re.compile(r"^(\d{4})([-/])(\d{2})\2(\d{2})(.*)$", re.S)
_DMY_DATE = re.compile(r"^(\d{2})\.(\d{2})\.(\d{4})(.*)$", re.S)


class DateOfBirthOperator(Operator):
    """Shift a date by a stable, non-zero offset of up to ±180 days derived from the HMAC of the date.

    Why derived from the date itself: the same birth date shifts the same way in every table and run, and
    ages stay realistic. Works on date32/date64/timestamp arrays and on ISO (``YYYY-MM-DD...``) or
    ``DD.MM.YYYY`` strings; unparseable strings are shape-preserved.
    """

    name = "date_of_birth"

    def offset_days(self, day: dt.date, key: bytes) -> int:
        """The stable shift for one calendar day (never 0)."""
        r = keyed_int(key, self.name, day.isoformat(), 2 * DOB_MAX_SHIFT_DAYS)
        return r - DOB_MAX_SHIFT_DAYS if r < DOB_MAX_SHIFT_DAYS else r - DOB_MAX_SHIFT_DAYS + 1

    def shift(self, day: dt.date, key: bytes) -> dt.date:
        try:
            return day + dt.timedelta(days=self.offset_days(day, key))
        except OverflowError:
            return day - dt.timedelta(days=abs(self.offset_days(day, key)))

    def mask_distinct(self, values: pa.Array, ctx: MaskContext) -> pa.Array:
        t = values.type
        if pa.types.is_date(t):
            return pa.array([self.shift(v, ctx.key) for v in values.to_pylist()], type=t)
        if pa.types.is_timestamp(t):
            as_int = values.cast(pa.int64())
            days = [self.offset_days(d, ctx.key) for d in values.cast(pa.date32()).to_pylist()]
            shifted = pc.add(as_int, pc.multiply(pa.array(days, pa.int64()), _UNITS_PER_DAY[t.unit]))
            return shifted.cast(t)
        if is_text_type(t):
            return pa.array([self.fake_text(v, ctx.key) for v in values.to_pylist()], type=t)
        raise unsupported(self.name, t)

    def fake_texts(self, values: pa.Array, key: bytes) -> pa.Array | None:
        return self.mask_distinct(values, MaskContext(key))

    def fake_text(self, value: str, key: bytes) -> str:
        """Shift a date written as text, keeping its format and any time part."""
        m = _ISO_DATE.match(value.strip())
        try:
            if m:
                y, sep, mo, d, rest = m.groups()
                new = self.shift(dt.date(int(y), int(mo), int(d)), key)
                return f"{new.year:04d}{sep}{new.month:02d}{sep}{new.day:02d}{rest}"
            m = _DMY_DATE.match(value.strip())
            if m:
                d, mo, y, rest = m.groups()
                new = self.shift(dt.date(int(y), int(mo), int(d)), key)
                return f"{new.day:02d}.{new.month:02d}.{new.year:04d}{rest}"
        except ValueError:
            pass
        return shape_preserve(key, self.name, value) if value.strip() else value
