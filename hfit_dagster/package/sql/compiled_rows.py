"""The compiled row writer: INSERT rows written by one loop, without the GIL, straight from the Arrow buffers.

This is the fast path of the script writer (``SqlScriptWriter(compiled_rows=True)``); its reference is the Arrow
path (``arrow_literals.ArrowLiterals``: a cast to text per column, one replace per escape character present,
quotes joined element-wise, NULLs filled, then a join of the literals into rows), which makes several passes over
every value and copies the text twice, while here each row is measured, then written once. Integers, decimals,
dates, timestamps, MySQL/PostgreSQL text and decimal text (a PostgreSQL numeric's, written as the number) are read
from the batch; every other column is copied from the
literals the Arrow path rendered. The text is exactly the Arrow path's (tests compare both, byte for byte, in every
dialect, compiled and with ``NUMBA_DISABLE_JIT=1``). A column whose values the loop does not cover (a year outside
1-9999, PostgreSQL text holding NUL, unsigned 64-bit values above the signed range, decimals over 18 digits,
decimal text other than plain digits: NaN, infinities, money) is handed to the Arrow path instead.

A batch is described column by column (see :class:`RowSource`): a kind, the values as int64 (numbers,
days, microseconds) or as bytes and offsets (text, pre-rendered literals), and validity.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from hfit_dagster.arrow_strings import pack_byte_columns, string_buffers
from hfit_dagster.jit import compiled

# column kinds
NUMBER, TIMESTAMP, DATE, TEXT, LITERAL, BARE = 0, 1, 2, 3, 4, 5  # BARE: text written as it is, unquoted
MYSQL_ESCAPES, POSTGRESQL_ESCAPES = 0, 1  # text escaping rules (SQLite text takes the Arrow path)
_MAX_INT64 = 2**63 - 1


@dataclass
class RowSource:
    """The columns of one batch as the row writer reads them (``add_*`` in column order)."""

    rows: int
    kinds: list[int]
    params: list[tuple[int, int]]  # NUMBER: (scale, 0); TIMESTAMP: (date only, suffix); TEXT: (escaping, 0)
    numbers: list[np.ndarray]
    valid: list[np.ndarray]
    data: list[np.ndarray]
    offsets: list[np.ndarray]

    @classmethod
    def empty(cls, rows: int) -> RowSource:
        return cls(rows, [], [], [], [], [], [])

    def _add(self, kind: int, param: tuple[int, int], numbers: np.ndarray | None, valid: np.ndarray | None,
             data: np.ndarray | None, offsets: np.ndarray | None) -> None:
        self.kinds.append(kind)
        self.params.append(param)
        self.numbers.append(numbers if numbers is not None else np.zeros(self.rows, dtype=np.int64))
        self.valid.append(valid if valid is not None else np.ones(self.rows, dtype=np.bool_))
        self.data.append(data if data is not None else np.zeros(0, dtype=np.uint8))
        self.offsets.append(offsets if offsets is not None else np.zeros(self.rows + 1, dtype=np.int64))

    def add_literals(self, literals: pa.Array) -> None:
        """Text already rendered as SQL (``NULL`` included): copied as it is."""
        data, offsets = string_buffers(literals)
        self._add(LITERAL, (0, 0), None, None, data, offsets)

    def add_integers(self, arr: pa.Array) -> bool:
        if arr.type == pa.uint64() and arr.null_count < len(arr) and pc.max(arr).as_py() > _MAX_INT64:
            return False
        values = arr if arr.type == pa.int64() else arr.cast(pa.int64(), safe=False)
        self._add(NUMBER, (0, 0), _int64(values), _validity(arr), None, None)
        return True

    def add_decimals(self, arr: pa.Array) -> bool:
        t = arr.type
        if not pa.types.is_decimal128(t) or t.precision > 18 or t.scale < 0:
            return False
        words = np.frombuffer(arr.buffers()[1], dtype=np.int64)[2 * arr.offset : 2 * (arr.offset + len(arr))]
        values = np.ascontiguousarray(words[0::2])  # the low 64 bits of each little-endian 128-bit value
        self._add(NUMBER, (t.scale, 0), values, _validity(arr), None, None)
        return True

    def add_timestamps(self, micros: pa.Array, date_only: bool, zone_suffix: bool) -> bool:
        """``timestamp[us]`` as ``'YYYY-MM-DD HH:MM:SS.ffffff'`` (``+00`` after it with ``zone_suffix``) or
        ``'YYYY-MM-DD'``."""
        values = _int64(micros.cast(pa.int64()))
        if not _years_in_range(micros.cast(pa.int64()), True):
            return False
        self._add(TIMESTAMP, (int(date_only), int(zone_suffix)), values, _validity(micros), None, None)
        return True

    def add_dates(self, arr: pa.Array) -> bool:
        as_int = arr.cast(pa.int32()).cast(pa.int64())
        days = _int64(as_int)
        if not _years_in_range(as_int, False):
            return False
        self._add(DATE, (1, 0), days, _validity(arr), None, None)
        return True

    def add_text(self, arr: pa.Array, escaping: int) -> bool:
        """Text as a quoted string literal, escaped by ``MYSQL_ESCAPES`` or ``POSTGRESQL_ESCAPES`` rules."""
        data, offsets = string_buffers(arr)
        valid = _validity(arr)
        if escaping == POSTGRESQL_ESCAPES and _has_nul(data, offsets, valid):
            return False  # PostgreSQL text cannot hold NUL: the Arrow path removes and counts it
        self._add(TEXT, (escaping, 0), None, valid, data, offsets)
        return True

    def add_plain_decimals(self, arr: pa.Array) -> bool:
        """Decimal text (``-12.50``) as the number it spells, unquoted, as the Arrow path writes it into a DECIMAL
        column; only when every value is plain (an optional minus, digits, optionally a point and digits)."""
        data, offsets = string_buffers(arr)
        valid = _validity(arr)
        if not _all_plain_decimals(data, offsets, valid):
            return False
        self._add(BARE, (0, 0), None, valid, data, offsets)
        return True

    def bound(self) -> int:
        """At most how many bytes :meth:`rows` writes."""
        per_row = len(self.kinds) + 3  # "(" + separators + ")" + line end
        total = per_row * self.rows
        for kind, offsets in zip(self.kinds, self.offsets, strict=True):
            if kind == LITERAL or kind == BARE:
                total += int(offsets[-1] - offsets[0]) + (4 * self.rows if kind == BARE else 0)
            elif kind == TEXT:
                total += 2 * int(offsets[-1] - offsets[0]) + 3 * self.rows
            else:
                total += _MAX_WIDTH[kind] * self.rows
        return total

    def rows_text(self) -> tuple[np.ndarray, np.ndarray]:
        """``(text, row_starts)``: every row as ``(`` values ``),\\n``, back to back; row ``i`` is
        ``text[row_starts[i]:row_starts[i + 1]]``."""
        k, n = len(self.kinds), self.rows
        numbers = np.empty((k, n), dtype=np.int64)
        valid = np.empty((k, n), dtype=np.bool_)
        for j in range(k):
            numbers[j] = self.numbers[j]
            valid[j] = self.valid[j]
        data, offsets = pack_byte_columns(list(zip(self.data, self.offsets, strict=True)), n)
        out = np.empty(self.bound(), dtype=np.uint8)
        starts = np.empty(n + 1, dtype=np.int64)
        _write_rows(np.array(self.kinds, dtype=np.int64), np.array(self.params, dtype=np.int64).reshape(-1, 2),
                    numbers, valid, data, offsets, out, starts)
        return out[: starts[-1]], starts


_MAX_WIDTH = {NUMBER: 21, TIMESTAMP: 31, DATE: 12}  # sign, 19 digits and a point; quotes, 26 characters, +00


def _int64(arr: pa.Array) -> np.ndarray:
    return np.asarray(arr.fill_null(0) if arr.null_count else arr)


def _validity(arr: pa.Array) -> np.ndarray:
    if arr.null_count == 0:
        return np.ones(len(arr), dtype=np.bool_)
    return np.asarray(arr.is_valid(), dtype=np.bool_)


@compiled
def _has_nul(data: np.ndarray, offsets: np.ndarray, valid: np.ndarray) -> bool:  # pragma: no cover - compiled
    for i in range(offsets.shape[0] - 1):
        if valid[i]:
            for p in range(offsets[i], offsets[i + 1]):
                if data[p] == 0:
                    return True
    return False


@compiled
def _all_plain_decimals(data: np.ndarray, offsets: np.ndarray, valid: np.ndarray) -> bool:  # pragma: no cover
    """Whether every valid value matches ``^-?[0-9]+(\\.[0-9]+)?$`` (the Arrow path's plain decimal)."""
    for i in range(offsets.shape[0] - 1):
        if not valid[i]:
            continue
        p, end = offsets[i], offsets[i + 1]
        if p < end and data[p] == 45:  # -
            p += 1
        digits = 0
        while p < end and 48 <= data[p] <= 57:
            p += 1
            digits += 1
        if digits == 0:
            return False
        if p < end:
            if data[p] != 46:  # .
                return False
            p += 1
            fraction = 0
            while p < end and 48 <= data[p] <= 57:
                p += 1
                fraction += 1
            if fraction == 0 or p < end:
                return False
    return True


_PER_DAY = 86_400_000_000


@compiled
def _civil(days: int) -> tuple[int, int, int]:  # pragma: no cover - compiled
    """(year, month, day) of a day number since 1970-01-01 (H. Hinnant's ``civil_from_days``)."""
    z = days + 719468
    era = (z if z >= 0 else z - 146096) // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (1 if month <= 2 else 0), month, day


def _years_in_range(values: pa.Array, micros: bool) -> bool:
    """Whether every value falls in the years 1-9999: the smallest and the largest tell (years only grow)."""
    low, high = pc.min_max(values).values()
    if low.as_py() is None:
        return True
    return all(1 <= _civil(v // _PER_DAY if micros else v)[0] <= 9999 for v in (low.as_py(), high.as_py()))


_POWERS = np.array([10**k for k in range(20)], dtype=np.uint64)


@compiled
def _magnitude(v: int) -> np.uint64:  # pragma: no cover - compiled
    return np.uint64(-(v + 1)) + np.uint64(1) if v < 0 else np.uint64(v)  # also right for the smallest int64


@compiled
def _number_width(v: int, scale: int) -> int:  # pragma: no cover - compiled
    u = _magnitude(v)
    digits = 1
    while digits < 20 and u >= _POWERS[digits]:  # comparisons, not divisions
        digits += 1
    if digits <= scale:  # at least one digit before the point
        digits = scale + 1
    return (1 if v < 0 else 0) + digits + (1 if scale > 0 else 0)


@compiled
def _put_number(out: np.ndarray, at: int, v: int, scale: int, width: int) -> int:  # pragma: no cover - compiled
    """Writes backwards from the end of the ``width`` bytes :func:`_number_width` measured."""
    end = at + width
    pos = end
    if v < 0:
        out[at] = 45  # -
    u = _magnitude(v)
    written = 0
    while u > np.uint64(0) or written <= scale:
        pos -= 1
        q = u // np.uint64(10)
        out[pos] = 48 + np.uint8(u - q * np.uint64(10))
        u = q
        written += 1
        if written == scale:
            pos -= 1
            out[pos] = 46  # .
    return end


@compiled
def _put_digits(out: np.ndarray, at: int, value: int, width: int) -> int:  # pragma: no cover - compiled
    """``value`` (not negative) in ``width`` digits, zero-padded."""
    u = np.uint64(value)
    for k in range(width - 1, -1, -1):
        q = u // np.uint64(10)
        out[at + k] = 48 + np.uint8(u - q * np.uint64(10))
        u = q
    return at + width


@compiled
def _put_time(out: np.ndarray, at: int, v: int, micros: bool, date_only: bool,
              zone_suffix: bool) -> int:  # pragma: no cover - compiled
    days = v // _PER_DAY if micros else v  # floor: times before 1970 count back from midnight
    rest = v - days * _PER_DAY if micros else 0
    year, month, day = _civil(days)
    out[at] = 39  # '
    at = _put_digits(out, at + 1, year, 4)
    out[at] = 45
    at = _put_digits(out, at + 1, month, 2)
    out[at] = 45
    at = _put_digits(out, at + 1, day, 2)
    if not date_only:
        seconds = rest // 1_000_000
        out[at] = 32  # space
        at = _put_digits(out, at + 1, seconds // 3600, 2)
        out[at] = 58  # :
        at = _put_digits(out, at + 1, (seconds // 60) % 60, 2)
        out[at] = 58
        at = _put_digits(out, at + 1, seconds % 60, 2)
        out[at] = 46  # .
        at = _put_digits(out, at + 1, rest % 1_000_000, 6)
        if zone_suffix:
            out[at] = 43  # +
            out[at + 1] = 48
            out[at + 2] = 48
            at += 3
    out[at] = 39
    return at + 1


@compiled
def _escaped(c: int, escaping: int) -> int:  # pragma: no cover - compiled
    """The letter after the backslash that escapes byte ``c``, or 0 when ``c`` goes as it is.

    MySQL: ``\\``, NUL, ``'``, LF, CR and Ctrl-Z; PostgreSQL (``E''``): ``\\``, ``'``, LF and CR."""
    if c == 92 or c == 39:
        return c
    if c == 10:
        return 110  # n
    if c == 13:
        return 114  # r
    if escaping == 0 and c == 0:
        return 48  # 0
    if escaping == 0 and c == 26:
        return 90  # Z
    return 0


@compiled
def _write_rows(kinds: np.ndarray, params: np.ndarray, numbers: np.ndarray, valid: np.ndarray, data: np.ndarray,
                offsets: np.ndarray, out: np.ndarray, starts: np.ndarray) -> None:  # pragma: no cover - compiled
    k, n = kinds.shape[0], starts.shape[0] - 1
    at = 0
    for i in range(n):
        starts[i] = at
        out[at] = 40  # (
        at += 1
        for j in range(k):
            if j:
                out[at] = 44  # ,
                at += 1
            kind = kinds[j]
            if kind == 4:
                for p in range(offsets[j, i], offsets[j, i + 1]):
                    out[at] = data[p]
                    at += 1
            elif not valid[j, i]:
                out[at] = 78  # NULL
                out[at + 1] = 85
                out[at + 2] = 76
                out[at + 3] = 76
                at += 4
            elif kind == 5:
                for p in range(offsets[j, i], offsets[j, i + 1]):
                    out[at] = data[p]
                    at += 1
            elif kind == 0:
                v = numbers[j, i]
                at = _put_number(out, at, v, params[j, 0], _number_width(v, params[j, 0]))
            elif kind == 1 or kind == 2:
                at = _put_time(out, at, numbers[j, i], kind == 1, params[j, 0] == 1, params[j, 1] == 1)
            else:
                escaping = params[j, 0]
                if escaping == 1:
                    out[at] = 69  # E
                    at += 1
                out[at] = 39
                at += 1
                for p in range(offsets[j, i], offsets[j, i + 1]):
                    c = data[p]
                    letter = _escaped(c, escaping)
                    if letter:
                        out[at] = 92
                        out[at + 1] = letter
                        at += 2
                    else:
                        out[at] = c
                        at += 1
                out[at] = 39
                at += 1
        out[at] = 41  # )
        out[at + 1] = 44  # , (the caller makes it ; where a statement ends)
        out[at + 2] = 10  # newline
        at += 3
    starts[n] = at
