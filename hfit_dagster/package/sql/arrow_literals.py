"""The Arrow path: one Arrow column turned into SQL literals of a dialect, with Arrow compute kernels.

This is the reference path of the script writer, and the path every value takes that the compiled row writer
(``compiled_rows``) does not cover: casts, substring replacement and element-wise joins per column. Python
touches values one by one only for rare types (binary as hex, JSON-like nested values, durations, UUIDs). What
differs between targets (quoting, bytes, flags, special floats, zone suffixes, arrays) is asked of the dialect.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy.types import TypeEngine

from hfit_dagster.package.sql import column_types as ct
from hfit_dagster.package.sql.arrow_text import NO_TEXT, NULL, TEXT, JsonNumeral, as_text, enclose, text_scalar
from hfit_dagster.package.sql.base import SqlDialect

Renderer = Callable[[pa.Array], pa.Array]


class ArrowLiterals:
    """Renders Arrow columns as SQL literals of one dialect (an Arrow string array, NULL as ``NULL``)."""

    def __init__(self, dialect: SqlDialect) -> None:
        self.dialect = dialect
        self.removed_nul = 0  # NUL characters the dialect's text cannot hold
        self.nulled_floats = 0  # NaN and infinities written as NULL (the dialect has no literal for them)
        self._count_lock = threading.Lock()  # columns render on several threads

    def literals(self, renderer: Renderer, arr: pa.Array) -> pa.Array:
        """``renderer``'s literals of ``arr`` as ``string``, NULL written ``NULL``."""
        rendered = renderer(arr)
        if rendered.type != TEXT:
            rendered = pc.cast(rendered, TEXT)
        return pc.fill_null(rendered, NULL) if rendered.null_count else rendered

    def count_nulled(self, count: int) -> None:
        """Count values written as NULL because the dialect has no literal for them."""
        with self._count_lock:
            self.nulled_floats += count

    def quote(self, arr: pa.Array) -> pa.Array:
        quoted, removed = self.dialect.quote_text(arr)
        if removed:
            with self._count_lock:
                self.removed_nul += removed
        return quoted

    def quote_plain(self, arr: pa.Array, suffix: str = "") -> pa.Array:
        """Quote text known to hold no special character (dates, times, numbers as text)."""
        return enclose(as_text(arr), "'", suffix + "'")

    def quote_python(self, values: list[str | None]) -> pa.Array:
        return self.quote(pa.array(values, TEXT))

    def hex_literals(self, values: list[Any]) -> pa.Array:
        return pa.array(self.dialect.bytes_literals(values), TEXT)

    def renderer(self, arrow_type: pa.DataType, target_kind: str, target: TypeEngine,
                 source: ct.TypeInfo | None = None, family: str = "generic") -> Renderer:
        """The function that renders a column of `arrow_type` into a column of `target` (`source`: what the
        source column of SQL `family` holds, where the values' form depends on it)."""
        t = arrow_type
        d = self.dialect
        if pa.types.is_dictionary(t):
            inner = self.renderer(t.value_type, target_kind, target, source, family)
            return lambda arr: inner(arr.dictionary_decode())
        if isinstance(t, pa.ExtensionType):
            if t.extension_name == "arrow.uuid":
                return lambda arr: self.quote_python(
                    [None if v is None else str(uuid.UUID(bytes=bytes(v))) for v in arr.storage.to_pylist()]
                )
            inner = self.renderer(t.storage_type, target_kind, target, source, family)
            return lambda arr: inner(arr.storage)
        if source is not None and source.kind == ct.BIT and (
                pa.types.is_binary(t) or pa.types.is_string(t) or pa.types.is_large_binary(t)):
            if family == "postgresql" or target_kind != ct.BIT or not d.accepts_text_for_bytes:
                return self._bits_renderer(target_kind, family == "postgresql", source.length)
        if dialect_quotes_numbers(d, target_kind, t):
            # a number kept as its decimal text where the target has no type that holds it
            if pa.types.is_decimal(t) and t.scale < 0:
                return lambda arr: self.quote_plain(pa.array([_plain_decimal(v) for v in arr.to_pylist()], TEXT))
            return lambda arr: self.quote_plain(pc.cast(arr, TEXT))
        if pa.types.is_null(t):
            return lambda arr: pa.nulls(len(arr), TEXT)
        if pa.types.is_boolean(t):
            true, false = ("TRUE", "FALSE") if d.booleans_as_keywords(target_kind) else ("1", "0")
            return lambda arr: pc.if_else(arr, text_scalar(true), text_scalar(false))
        if pa.types.is_integer(t):
            if d.booleans_as_keywords(target_kind):
                return lambda arr: pc.if_else(pc.not_equal(arr, 0), text_scalar("TRUE"), text_scalar("FALSE"))
            return lambda arr: pc.cast(arr, TEXT)
        if pa.types.is_floating(t):
            return self._floats
        if pa.types.is_decimal(t):
            if t.scale < 0:
                return lambda arr: pa.array([_plain_decimal(v) for v in arr.to_pylist()], TEXT)
            return lambda arr: pc.cast(arr, TEXT)
        if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
            if target_kind == ct.BINARY and not d.accepts_text_for_bytes:
                return lambda arr: self.hex_literals(
                    [None if v is None else v.encode("utf-8") for v in arr.to_pylist()]
                )
            if target_kind == ct.DECIMAL:
                return self._decimal_text
            if target_kind == ct.JSON:
                return lambda arr: self.quote(d.json_column_text(json_text(as_text(arr)), target))
            if target_kind == ct.ARRAY and d.native_arrays:
                return lambda arr: self.quote_python(
                    [None if v is None else d.array_text(_json_array(v)) for v in arr.to_pylist()])
            return self.quote
        if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t) or (
            pa.types.is_binary_view(t)
        ):
            return self._binary_renderer(target_kind)
        if pa.types.is_date(t):
            return lambda arr: self.quote_plain(pc.cast(arr, TEXT))
        if pa.types.is_timestamp(t):
            return self._timestamp_renderer(target_kind, target)
        if pa.types.is_time(t):
            return lambda arr: self.quote_plain(
                pc.cast(pc.cast(arr, pa.time64("us"), safe=False), TEXT)
            )
        if pa.types.is_duration(t):
            return lambda arr: self.quote_plain(pa.array(
                [_format_duration(v) for v in pc.cast(pc.cast(arr, pa.duration("us"), safe=False),
                                                      pa.int64()).to_pylist()],
                TEXT,
            ))
        if pa.types.is_nested(t):
            return self._nested_renderer(t, target_kind)
        return lambda arr: self.quote_python([None if v is None else str(v) for v in arr.to_pylist()])

    def _decimal_text(self, arr: pa.Array) -> pa.Array:
        """Text into a DECIMAL column: a plain decimal (a PostgreSQL numeric's text) is the number itself,
        unquoted; NaN and infinities (where the target holds them: a MySQL target has them as NULL already) and
        money text ('-$1,234.50', its currency signs and separators removed) stay quoted for the server to read."""
        text = as_text(arr)
        plain = pc.fill_null(pc.match_substring_regex(text, _PLAIN_DECIMAL), False)
        if pc.all(plain).as_py():
            return text
        quoted = self.quote(pc.replace_substring_regex(text, _CURRENCY, ""))
        return pc.if_else(plain, text, quoted) if pc.any(plain).as_py() else quoted

    def _floats(self, arr: pa.Array) -> pa.Array:
        if arr.type in (pa.float16(), pa.float32()):
            # the double of a single-precision value: its shortest single-precision text (3.4028235e+38) reads
            # back as a double above the largest FLOAT, which MySQL refuses; the double text rounds back exactly
            arr = pc.cast(arr, pa.float64())
        text = self.dialect.finite_float_text(pc.cast(arr, TEXT))
        finite = pc.is_finite(arr)
        if pc.all(finite).as_py() is not False:
            return text
        nan, pos, neg = (NO_TEXT if s is None else text_scalar(s) for s in self.dialect.non_finite_floats)
        special = pc.if_else(pc.is_nan(arr), nan, pc.if_else(pc.greater(arr, 0), pos, neg))
        nulled = int(pc.sum(pc.and_(pc.invert(finite), pc.is_null(special))).as_py() or 0)
        if nulled:
            with self._count_lock:
                self.nulled_floats += nulled
        return pc.if_else(finite, text, special)

    def _bits_renderer(self, target_kind: str, as_text: bool, length: int | None) -> Renderer:
        """Bit strings: the source's text of binary digits (PostgreSQL) or its bytes (MySQL BIT, big-endian,
        ``length`` bits) as a bit literal, binary digits in text, or an integer, by what the target holds."""
        def digits(value: Any) -> str:
            if as_text:
                return value if isinstance(value, str) else bytes(value).decode("ascii")
            number = int.from_bytes(value, "big")
            return format(number, f"0{length}b") if length else format(number, "b")

        def render(arr: pa.Array) -> pa.Array:
            values = [None if v is None else digits(v) for v in arr.to_pylist()]
            if target_kind == ct.BIT:
                return pa.array([None if v is None else self.dialect.bit_literal(v) for v in values], TEXT)
            if target_kind in (ct.INT, ct.BOOL):
                return pa.array([None if v is None else str(int(v or "0", 2)) for v in values], TEXT)
            return self.quote_python(values)
        return render

    def _binary_renderer(self, target_kind: str) -> Renderer:
        if target_kind == ct.UUID:
            def uuids(arr: pa.Array) -> pa.Array:
                return self.quote_python([
                    None if v is None else (str(uuid.UUID(bytes=v)) if len(v) == 16 else v.decode("utf-8"))
                    for v in arr.to_pylist()
                ])
            return uuids
        as_bytes = self.dialect.accepts_text_for_bytes
        if target_kind in (ct.INT, ct.BOOL) or (target_kind == ct.BIT and not as_bytes):
            def integers(arr: pa.Array) -> pa.Array:
                return pa.array(
                    [None if v is None else str(int.from_bytes(v, "big")) for v in arr.to_pylist()],
                    TEXT,
                )
            return integers
        if target_kind in ct.TEXTUAL_KINDS and not as_bytes:
            def text(arr: pa.Array) -> pa.Array:
                try:
                    return self.quote(pc.cast(arr, TEXT))
                except pa.ArrowInvalid:  # not UTF-8: keep the bytes
                    return self.hex_literals(arr.to_pylist())
            return text
        return lambda arr: self.hex_literals(arr.to_pylist())

    def _timestamp_renderer(self, target_kind: str, target: TypeEngine) -> Renderer:
        suffix = self.dialect.timestamp_suffix(target)

        def render(arr: pa.Array) -> pa.Array:
            # A zone-aware timestamp is stored as UTC; dropping the zone keeps the UTC wall-clock time.
            naive = pc.cast(arr, pa.timestamp("us"), safe=False)
            if target_kind == ct.DATE:
                return self.quote_plain(pc.cast(pc.cast(naive, pa.date32()), TEXT))
            return self.quote_plain(pc.cast(naive, TEXT), suffix)

        return render

    def _nested_renderer(self, t: pa.DataType, target_kind: str) -> Renderer:
        if target_kind == ct.SET:
            def set_members(arr: pa.Array) -> pa.Array:
                return self.quote_python(
                    [None if v is None else ",".join(str(x) for x in v) for v in arr.to_pylist()]
                )
            return set_members
        if target_kind == ct.ARRAY and self.dialect.native_arrays:
            array_text = self.dialect.array_text
            return lambda arr: self.quote_python([None if v is None else array_text(v) for v in arr.to_pylist()])

        def as_json(arr: pa.Array) -> pa.Array:
            return self.quote_python([
                None if v is None else json.dumps(_to_json_value(v, t), ensure_ascii=False,
                                                  default=_json_default)
                for v in arr.to_pylist()
            ])
        return as_json


def dialect_quotes_numbers(dialect: SqlDialect, target_kind: str, arrow_type: pa.DataType) -> bool:
    """Whether numbers of `arrow_type` into a column of `target_kind` are written as quoted text."""
    return dialect.quotes_numbers_for_text and target_kind == ct.STRING and (
        pa.types.is_integer(arrow_type) or pa.types.is_decimal(arrow_type))


_CURRENCY = r"[$€£¥,\s]"
_PLAIN_DECIMAL = r"^-?[0-9]+(\.[0-9]+)?$"  # a decimal literal every dialect reads as the number it spells
# a JSON document that starts like one: object, array, string, number, true, false or null
_JSON_START = r'^\s*([{\["]|-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?\s*$|(true|false|null)\s*$)'


def json_text(arr: pa.Array) -> pa.Array:
    """JSON text of a JSON column: a value that cannot start a JSON document is a string scalar whose quotes a
    driver removed ('just text' was '"just text"'), and gets them back."""
    bare = pc.invert(pc.fill_null(pc.match_substring_regex(arr, _JSON_START), True))
    if not pc.any(bare).as_py():
        return arr
    quoted = pa.array([json.dumps(v, ensure_ascii=False) for v in pc.filter(arr, bare).to_pylist()], TEXT)
    return pc.replace_with_mask(arr, bare, quoted)


def _json_array(text: str) -> Any:
    """A JSON array (the reader's text of an array column) with its numbers as written (1.50 stays 1.50)."""
    try:
        return json.loads(text, parse_float=JsonNumeral, parse_int=JsonNumeral)
    except ValueError:
        return text


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, set | frozenset):
        return sorted(value)
    return str(value)


def _to_json_value(value: Any, arrow_type: pa.DataType) -> Any:
    """Arrow's Python form of a map is a list of pairs; JSON wants an object."""
    if value is None:
        return None
    if pa.types.is_map(arrow_type):
        return {str(k): _to_json_value(v, arrow_type.item_type) for k, v in value}
    if pa.types.is_struct(arrow_type):
        return {f.name: _to_json_value(value[f.name], f.type) for f in arrow_type}
    if pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type) or pa.types.is_fixed_size_list(
        arrow_type
    ):
        return [_to_json_value(v, arrow_type.value_type) for v in value]
    return value


def _format_duration(micros: int | None) -> str | None:
    if micros is None:
        return None
    sign = "-" if micros < 0 else ""
    hours, rest = divmod(abs(micros), 3_600_000_000)
    minutes, rest = divmod(rest, 60_000_000)
    seconds, fraction = divmod(rest, 1_000_000)
    return f"{sign}{hours:02d}:{minutes:02d}:{seconds:02d}.{fraction:06d}"


def _plain_decimal(value: Decimal | None) -> str | None:
    if value is None:
        return None
    return format(value, "f") if value.is_finite() else None
