"""Values of different engines brought to one comparable form, by what the source column holds.

A value read back from a target equals its source value when both have the same canonical form here: numbers as
their exact decimal text, times as ISO text in UTC, JSON as parsed documents whose numbers keep their digits,
bytes as bytes. Representations a target documents (a BIGINT UNSIGNED as TEXT in SQLite, a bit string as an integer)
compare equal; anything rounded, shifted or re-spelled does not.
"""

from __future__ import annotations

import json
import math
import re
import struct
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from hfit_dagster.package.sql import column_types as ct


def canonical(value: Any, kind: str, item_kind: str | None = None, fixed: bool = False, single: bool = False) -> Any:
    """``fixed``: a CHAR(n) column, whose padding spaces are not part of its value (MySQL strips them, PostgreSQL
    adds them); ``single``: a single-precision float, compared as one (PostgreSQL prints its shortest text)."""
    if value is None:
        return None
    if fixed and kind == ct.STRING and isinstance(value, str):
        return value.rstrip(" ")
    if isinstance(value, memoryview | bytearray):
        value = bytes(value)
    if kind in (ct.INT, ct.DECIMAL, ct.YEAR):
        return _number(value)
    if kind == ct.BOOL:
        return str(int(value)) if isinstance(value, bool | int) else _number(value)
    if kind == ct.FLOAT:
        number = float(value)
        if single and math.isfinite(number):
            number = struct.unpack("<f", struct.pack("<f", number))[0]
        return "nan" if math.isnan(number) else repr(number)
    if kind == ct.BINARY:
        return value if isinstance(value, bytes) else str(value).encode("utf-8")
    if kind == ct.BIT:
        if isinstance(value, bytes):
            return int.from_bytes(value, "big")
        if isinstance(value, str):
            return int(value, 2) if value else 0
        return int(value)
    if kind == ct.DATE:
        text = (value.isoformat() if isinstance(value, date | datetime) else str(value))[:10]
        return text if _on_calendar(text) else None  # MySQL's zero and invalid dates are NULL (docs/fidelity.md)
    if kind == ct.DATETIME:
        if isinstance(value, str) and not _on_calendar(value[:10]):
            return None
        return _datetime(value)
    if kind == ct.TIME:
        if isinstance(value, timedelta) and timedelta(0) <= value < timedelta(days=1):
            value = (datetime.min + value).time()  # MySQL TIME read as a duration
        if isinstance(value, timedelta):
            return _duration(value)
        try:
            value = value if isinstance(value, time) else time.fromisoformat(str(value))
        except ValueError:
            return str(value)
        return value.isoformat(timespec="microseconds")
    if kind == ct.INTERVAL:
        return _interval(value)
    if kind == ct.JSON:
        return _json(value)
    if kind == ct.ARRAY:
        items = json.loads(value) if isinstance(value, str) else value
        return [canonical(v, item_kind or ct.STRING) for v in items]
    if kind == ct.SET:
        members = value if isinstance(value, set | frozenset) else str(value).split(",") if value != "" else []
        return sorted(members)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def _on_calendar(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _number(value: Any) -> str:
    text = str(value).replace("$", "").replace(",", "")
    try:
        number = Decimal(text)
    except InvalidOperation:
        return text
    if number.is_nan():
        return "NaN"
    if not number.is_finite():
        return str(number)
    if number == 0:
        return "0"
    normal = number.normalize()
    return format(normal, "f")


def _datetime(value: Any) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):  # SQLite: Unix time in a DATETIME column
        value = datetime.fromtimestamp(value, UTC)
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, date) and not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(timespec="microseconds")


_ISO_INTERVAL = re.compile(r"P(?:(-?\d+)Y)?(?:(-?\d+)M)?(?:(-?\d+)D)?"
                           r"(?:T(?:(-?\d+)H)?(?:(-?\d+)M)?(?:(-?\d+(?:\.\d+)?)S)?)?")
_CLOCK = re.compile(r"(-?)(\d+):(\d\d):(\d\d(?:\.\d{1,6})?)")


def _interval(value: Any) -> Any:
    """(months, days, microseconds) of a duration, a clock text ('-838:59:59') or an ISO 8601 interval."""
    if isinstance(value, timedelta):
        return (0, 0, value // timedelta(microseconds=1))
    text = str(value)
    clock = _CLOCK.fullmatch(text)
    if clock:
        sign, hours, minutes, seconds = clock.groups()
        micros = round((int(hours) * 3600 + int(minutes) * 60 + Decimal(seconds)) * 1_000_000)
        return (0, 0, -micros if sign else micros)
    iso = _ISO_INTERVAL.fullmatch(text)
    if iso and text != "P":
        years, months, days, hours, minutes, seconds = (g or "0" for g in iso.groups())
        micros = round((int(hours) * 3600 + int(minutes) * 60 + Decimal(seconds)) * 1_000_000)
        return (int(years) * 12 + int(months), int(days), micros)
    return text


def _duration(value: timedelta) -> str:
    micros = value // timedelta(microseconds=1)
    sign = "-" if micros < 0 else ""
    hours, rest = divmod(abs(micros), 3_600_000_000)
    minutes, rest = divmod(rest, 60_000_000)
    seconds, fraction = divmod(rest, 1_000_000)
    return f"{sign}{hours}:{minutes:02d}:{seconds:02d}.{fraction:06d}"


def _json(value: Any) -> Any:
    """A JSON document whose numbers keep their digits (``1.50`` is not ``1.5``)."""
    if not isinstance(value, str | bytes):
        value = json.dumps(value)
    try:
        return ("json", _tagged(json.loads(value, parse_float=lambda s: ("number", s),
                                           parse_int=lambda s: ("number", s))))
    except ValueError:
        pairs = _HSTORE_PAIR.findall(str(value))
        if pairs:  # hstore text: a JSON object of strings elsewhere
            return ("json", {_unescape(k): None if v == "NULL" else _unescape(v[1:-1]) for k, v in pairs})
        return ("not json", str(value))


_HSTORE_PAIR = re.compile(r'"((?:[^"\\]|\\.)*)"\s*=>\s*(NULL|"(?:[^"\\]|\\.)*")')


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def _tagged(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _tagged(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_tagged(v) for v in node]
    return node
