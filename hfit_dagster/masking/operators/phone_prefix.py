"""Where an international phone number's ``+``/``00`` and country code end, and the value split there.

The phone operator keeps a number's country code and fakes the rest; the leak check also searches an
original's national number. Both split every phone value so, and as an RE2 extract with a capture of the rest
(:func:`international_pattern`) each split cost ~0.3 s of CPU per 1M values. The fast path is one compiled pass
over the UTF-8 bytes giving the byte where each value's code ends, and one compiled copy of the two parts;
``fast=False`` is the RE2 reference, and the tests compare the two over generated and real-world numbers.

The pattern's rules, as the byte pass reads them: optional leading whitespace (RE2's ``\\s``: tab, newline, form
feed, carriage return, space), then ``+`` or ``00``, then an ITU country code (1-3 digits, a prefix-free set,
so at most one length matches), then anything without a newline (RE2's ``.`` does not match one, and ``$`` is
the end of the value).
"""

from __future__ import annotations

import functools

import numpy as np
import phonenumbers
import pyarrow as pa
import pyarrow.compute as pc

from hfit_dagster.arrow_strings import as_utf8, string_buffers
from hfit_dagster.jit import compiled


@functools.lru_cache(maxsize=1)
def international_pattern() -> str:
    """RE2 pattern splitting an international number into ``+``/``00`` with its country code, and the rest (ITU
    codes are 1-3 digits and prefix-free, so at most one alternative matches)."""
    codes = "|".join(sorted((str(c) for c in phonenumbers.COUNTRY_CODE_TO_REGION_CODE), key=len, reverse=True))
    return rf"^(?P<code>\s*(?:\+|00)(?:{codes}))(?P<rest>.*)$"


@functools.lru_cache(maxsize=1)
def _code_table() -> np.ndarray:
    """``table[n, c]``: ``c`` written with ``n`` digits is a country code."""
    table = np.zeros((4, 1000), dtype=np.bool_)
    for code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
        table[len(str(code)), code] = True
    return table


def code_ends(values: pa.Array, fast: bool = True) -> np.ndarray:
    """Per value of a string array: the byte (from the value's start) where its ``+``/``00`` and country code
    end, or -1 when it is not written as an international number (or is NULL)."""
    values = as_utf8(values)
    if not fast:
        parts = pc.extract_regex(values, international_pattern())
        lengths = pc.binary_length(pc.struct_field(parts, "code"))
        return np.asarray(pc.fill_null(pc.if_else(parts.is_valid(), lengths, None), -1), dtype=np.int64)
    data, offsets = string_buffers(values)
    valid = np.asarray(values.is_valid()) if values.null_count else np.ones(len(values), dtype=np.bool_)
    ends = np.empty(len(values), dtype=np.int64)
    _code_ends(data, offsets, valid, _code_table(), ends)
    return ends


def split_at(values: pa.Array, cuts: np.ndarray) -> tuple[pa.Array, pa.Array]:
    """Each value's first ``cuts[i]`` bytes and the rest (a cut at a character boundary): two string arrays; the
    first has no NULLs (a NULL's part is ``""``), the rest keeps ``values``' NULLs."""
    values = as_utf8(values)
    data, offsets = string_buffers(values)
    total = int(offsets[-1] - offsets[0])
    heads, rests = np.empty(total, dtype=np.uint8), np.empty(total, dtype=np.uint8)
    head_offsets, rest_offsets = np.empty(len(offsets), dtype=np.int32), np.empty(len(offsets), dtype=np.int32)
    written = np.zeros(2, dtype=np.int64)
    _split(data, offsets, cuts, heads, head_offsets, rests, rest_offsets, written)
    head = pa.StringArray.from_buffers(len(values), pa.py_buffer(head_offsets), pa.py_buffer(heads[: written[0]]))
    validity = pc.is_valid(values).buffers()[1] if values.null_count else None
    rest = pa.StringArray.from_buffers(len(values), pa.py_buffer(rest_offsets), pa.py_buffer(rests[: written[1]]),
                                       validity, values.null_count)
    return head, rest


def international_split(values: pa.Array, fast: bool = True) -> tuple[np.ndarray, pa.Array, pa.Array]:
    """``(international, code, rest)``: per value whether it is written with a country code, that ``+``/``00``
    and code (``""`` where none), and the rest (the whole value where none; NULLs stay NULL)."""
    values = as_utf8(values)
    if not fast:
        parts = pc.extract_regex(values, international_pattern())
        international = np.asarray(parts.is_valid())
        code = pc.fill_null(pc.struct_field(parts, "code"), "")
        return international, code, pc.if_else(parts.is_valid(), pc.struct_field(parts, "rest"), values)
    ends = code_ends(values)
    code, rest = split_at(values, np.maximum(ends, 0))
    return ends >= 0, code, rest


@compiled
def _code_ends(data: np.ndarray, offsets: np.ndarray, valid: np.ndarray, table: np.ndarray,
               ends: np.ndarray) -> None:  # pragma: no cover - compiled
    for i in range(offsets.shape[0] - 1):
        ends[i] = -1
        if not valid[i]:
            continue
        start, stop = offsets[i], offsets[i + 1]
        at = start
        while at < stop and (data[at] == 32 or data[at] == 9 or data[at] == 10 or data[at] == 12 or data[at] == 13):
            at += 1
        if at < stop and data[at] == 43:
            at += 1
        elif at + 1 < stop and data[at] == 48 and data[at + 1] == 48:
            at += 2
        else:
            continue
        end = -1
        for length in range(3, 0, -1):  # the pattern's order: longer codes first
            if at + length > stop:
                continue
            code = 0
            for k in range(at, at + length):
                if data[k] < 48 or data[k] > 57:
                    code = -1
                    break
                code = code * 10 + (int(data[k]) - 48)
            if code >= 0 and table[length, code]:
                end = at + length
                break
        if end < 0:
            continue
        for k in range(end, stop):
            if data[k] == 10:
                end = -1
                break
        if end >= 0:
            ends[i] = end - start


@compiled
def _split(data: np.ndarray, offsets: np.ndarray, cuts: np.ndarray, heads: np.ndarray, head_offsets: np.ndarray,
           rests: np.ndarray, rest_offsets: np.ndarray, written: np.ndarray) -> None:  # pragma: no cover - compiled
    h = 0
    r = 0
    head_offsets[0] = 0
    rest_offsets[0] = 0
    for i in range(offsets.shape[0] - 1):
        start, stop = offsets[i], offsets[i + 1]
        cut = min(start + cuts[i], stop)
        for k in range(start, cut):
            heads[h] = data[k]
            h += 1
        for k in range(cut, stop):
            rests[r] = data[k]
            r += 1
        head_offsets[i + 1] = h
        rest_offsets[i + 1] = r
    written[0] = h
    written[1] = r
