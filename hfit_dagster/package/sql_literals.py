"""SQL literals of the common column types, written by compiled loops: integers, decimals, dates, timestamps, text.

Why: the Arrow path (a cast to text, escapes replaced per special character, quotes joined element-wise,
NULLs filled) makes several passes over every value, ~30-60 ns a value for text, decimals and timestamps;
these loops write each literal once, without the GIL. Each function gives exactly the text of the Arrow
path in ``sql_script`` (tested byte for byte), NULL written as ``NULL``, or None when a value is outside
what the loop covers (a year outside 1-9999, a PostgreSQL text holding NUL, an unsigned 64-bit value
above the signed range), and the caller then takes the Arrow path.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from hfit_dagster.arrow_strings import string_buffers
from hfit_dagster.jit import compiled

MYSQL, POSTGRESQL = 0, 1  # text escaping rules (SQLite text takes the Arrow path)
_MAX_INT64 = 2**63 - 1


def _validity(arr: pa.Array) -> np.ndarray:
    if arr.null_count == 0:
        return np.ones(len(arr), dtype=np.bool_)
    return np.asarray(arr.is_valid(), dtype=np.bool_)


def _as_text(out: np.ndarray, offsets: np.ndarray, size: int) -> pa.Array:
    n = len(offsets) - 1
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(out[:size]))


def _int64_values(arr: pa.Array) -> np.ndarray:
    """The array's values as int64 (NULL slots hold anything), without a copy where the type allows."""
    if arr.type != pa.int64():
        arr = arr.cast(pa.int64(), safe=False)
    return np.asarray(arr.fill_null(0) if arr.null_count else arr)


def integer_literals(arr: pa.Array) -> pa.Array | None:
    """Integers in decimal digits, as ``CAST(x AS string)`` writes them."""
    if arr.type == pa.uint64() and arr.null_count < len(arr) and pc.max(arr).as_py() > _MAX_INT64:
        return None
    values = _int64_values(arr)
    valid = _validity(arr)
    out = np.empty(len(values) * 20 + 4, dtype=np.uint8)
    offsets = np.empty(len(values) + 1, dtype=np.int64)
    size = _write_numbers(values, valid, 0, out, offsets)
    return _as_text(out, offsets, size)


def decimal_literals(arr: pa.Array) -> pa.Array | None:
    """``decimal128`` values of precision 18 or less (so the unscaled value fits 64 bits), as Arrow writes them."""
    t = arr.type
    if not pa.types.is_decimal128(t) or t.precision > 18 or t.scale < 0:
        return None
    words = np.frombuffer(arr.buffers()[1], dtype=np.int64)[2 * arr.offset : 2 * (arr.offset + len(arr))]
    values = np.ascontiguousarray(words[0::2])  # low 64 bits of each little-endian 128-bit value
    out = np.empty(len(values) * 22 + 4, dtype=np.uint8)
    offsets = np.empty(len(values) + 1, dtype=np.int64)
    size = _write_numbers(values, _validity(arr), t.scale, out, offsets)
    return _as_text(out, offsets, size)


def date_literals(arr: pa.Array) -> pa.Array | None:
    """``date32`` values as ``'YYYY-MM-DD'``."""
    days = np.asarray(arr.cast(pa.int32()).fill_null(0)).astype(np.int64)
    out = np.empty(len(days) * 12 + 4, dtype=np.uint8)
    offsets = np.empty(len(days) + 1, dtype=np.int64)
    size = _write_times(days, _validity(arr), True, False, np.zeros(0, np.uint8), out, offsets)
    return None if size < 0 else _as_text(out, offsets, size)


def timestamp_literals(micros: pa.Array, date_only: bool, suffix: str) -> pa.Array | None:
    """``timestamp[us]`` values as ``'YYYY-MM-DD HH:MM:SS.ffffff<suffix>'``, or ``'YYYY-MM-DD'`` (``date_only``)."""
    values = np.asarray(micros.cast(pa.int64()).fill_null(0))
    tail = np.frombuffer(suffix.encode("ascii"), dtype=np.uint8)
    out = np.empty(len(values) * (30 + len(tail)) + 4, dtype=np.uint8)
    offsets = np.empty(len(values) + 1, dtype=np.int64)
    size = _write_times(values, _validity(micros), date_only, True, tail, out, offsets)
    return None if size < 0 else _as_text(out, offsets, size)


def text_literals(arr: pa.Array, dialect: int) -> pa.Array | None:
    """Quoted, escaped text: MySQL ``'...'`` or PostgreSQL ``E'...'`` (None for a PostgreSQL NUL)."""
    data, bounds = string_buffers(arr)
    n = len(bounds) - 1
    out = np.empty(2 * int(bounds[-1] - bounds[0]) + 4 * n + 4, dtype=np.uint8)
    offsets = np.empty(n + 1, dtype=np.int64)
    size = _write_text(data, bounds, _validity(arr), dialect, out, offsets)
    return None if size < 0 else _as_text(out, offsets, size)


@compiled
def _write_null(out: np.ndarray, at: int) -> int:  # pragma: no cover - compiled
    out[at] = 78  # N
    out[at + 1] = 85  # U
    out[at + 2] = 76  # L
    out[at + 3] = 76  # L
    return at + 4


@compiled
def _write_numbers(values: np.ndarray, valid: np.ndarray, scale: int, out: np.ndarray,
                   offsets: np.ndarray) -> int:  # pragma: no cover - compiled
    """Integers (``scale`` 0) or unscaled decimals with ``scale`` fractional digits."""
    digits = np.empty(24, dtype=np.uint8)
    at = 0
    for i in range(values.shape[0]):
        offsets[i] = at
        if not valid[i]:
            at = _write_null(out, at)
            continue
        v = values[i]
        if v < 0:
            out[at] = 45  # -
            at += 1
            u = np.uint64(-(v + 1)) + np.uint64(1)  # also right for the smallest int64
        else:
            u = np.uint64(v)
        count = 0
        while u > np.uint64(0) or count <= scale:  # at least one digit before the point
            digits[count] = 48 + np.uint8(u % np.uint64(10))
            u //= np.uint64(10)
            count += 1
        for k in range(count - 1, -1, -1):
            if k == scale - 1:
                out[at] = 46  # .
                at += 1
            out[at] = digits[k]
            at += 1
    offsets[values.shape[0]] = at
    return at


@compiled
def _write_digits(out: np.ndarray, at: int, value: int, width: int) -> int:  # pragma: no cover - compiled
    for k in range(width - 1, -1, -1):
        out[at + k] = 48 + value % 10
        value //= 10
    return at + width


@compiled
def _write_times(values: np.ndarray, valid: np.ndarray, date_only: bool, micros: bool, suffix: np.ndarray,
                 out: np.ndarray, offsets: np.ndarray) -> int:  # pragma: no cover - compiled
    """Days (``micros`` False) or microseconds since 1970-01-01 as quoted dates or timestamps; -1 when a year
    falls outside 1-9999. Civil dates from day numbers as in H. Hinnant's ``civil_from_days``."""
    per_day = 86_400_000_000
    at = 0
    for i in range(values.shape[0]):
        offsets[i] = at
        if not valid[i]:
            at = _write_null(out, at)
            continue
        v = values[i]
        days = v // per_day if micros else v  # floor division: times before 1970 count back from midnight
        rest = v - days * per_day if micros else 0
        z = days + 719468
        era = (z if z >= 0 else z - 146096) // 146097
        doe = z - era * 146097
        yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
        doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
        mp = (5 * doy + 2) // 153
        day = doy - (153 * mp + 2) // 5 + 1
        month = mp + 3 if mp < 10 else mp - 9
        year = yoe + era * 400 + (1 if month <= 2 else 0)
        if year < 1 or year > 9999:
            return -1
        out[at] = 39  # '
        at = _write_digits(out, at + 1, year, 4)
        out[at] = 45
        at = _write_digits(out, at + 1, month, 2)
        out[at] = 45
        at = _write_digits(out, at + 1, day, 2)
        if not date_only:
            seconds = rest // 1_000_000
            out[at] = 32  # space
            at = _write_digits(out, at + 1, seconds // 3600, 2)
            out[at] = 58  # :
            at = _write_digits(out, at + 1, (seconds // 60) % 60, 2)
            out[at] = 58
            at = _write_digits(out, at + 1, seconds % 60, 2)
            out[at] = 46  # .
            at = _write_digits(out, at + 1, rest % 1_000_000, 6)
            for b in range(suffix.shape[0]):
                out[at] = suffix[b]
                at += 1
        out[at] = 39
        at += 1
    offsets[values.shape[0]] = at
    return at


@compiled
def _write_text(data: np.ndarray, bounds: np.ndarray, valid: np.ndarray, dialect: int, out: np.ndarray,
                offsets: np.ndarray) -> int:  # pragma: no cover - compiled
    """MySQL: ``\\``, NUL, ``'``, LF, CR and Ctrl-Z backslash-escaped; PostgreSQL (``E''``): ``\\``, ``'``, LF and
    CR; -1 when a PostgreSQL value holds NUL (the caller removes and counts those)."""
    at = 0
    for i in range(bounds.shape[0] - 1):
        offsets[i] = at
        if not valid[i]:
            at = _write_null(out, at)
            continue
        if dialect == 1:
            out[at] = 69  # E
            at += 1
        out[at] = 39
        at += 1
        for p in range(bounds[i], bounds[i + 1]):
            c = data[p]
            if c == 92 or c == 39:  # \ '
                out[at] = 92
                out[at + 1] = c
                at += 2
            elif c == 10 or c == 13:  # LF CR
                out[at] = 92
                out[at + 1] = 110 if c == 10 else 114
                at += 2
            elif c == 0:
                if dialect == 1:
                    return -1
                out[at] = 92
                out[at + 1] = 48  # \0
                at += 2
            elif c == 26 and dialect == 0:  # Ctrl-Z
                out[at] = 92
                out[at + 1] = 90  # \Z
                at += 2
            else:
                out[at] = c
                at += 1
        out[at] = 39
        at += 1
    offsets[bounds.shape[0] - 1] = at
    return at
